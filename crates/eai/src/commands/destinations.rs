//! `eai destinations list|unblock|test`: the configured destinations (they are
//! loaded with `eai import`, section `destinations`).

use std::time::Instant;

use chrono::Utc;
use eai_protocol::events::{environment_test, Outbound};
use eai_protocol::receipt_status;
use eai_store::outbound::{Claimed, Destination, DestinationKind, Settlement};
use eai_transport::lapin::options::BasicConsumeOptions;
use eai_transport::lapin::types::FieldTable;
use eai_transport::topology::declare_private_queue;
use eai_transport::Outgoing;
use futures_util::StreamExt;

use crate::app::{http_client, open_broker, open_store, publisher_for};
use crate::config::Settings;
use crate::sender::http;

pub async fn list(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    println!(
        "{:<20}  {:<6}  {:<10}  {:<10}  {:<26}  {:<40}  {:<12}  {:<7}  state",
        "name", "kind", "company", "branch", "transaction", "target", "namespace", "lists"
    );
    for destination in store.destinations().await? {
        let target = match destination.kind() {
            DestinationKind::Http => destination.url.clone().unwrap_or_default(),
            DestinationKind::Amqp => format!(
                "{} / {}",
                destination.exchange.as_deref().unwrap_or(""),
                destination.routing_key
            ),
        };
        let state = match (&destination.blocked, &destination.blocked_reason) {
            (true, Some(reason)) => format!("BLOCKED: {reason}"),
            (true, None) => "BLOCKED".to_owned(),
            (false, _) => "active".to_owned(),
        };
        println!(
            "{:<20}  {:<6}  {:<10}  {:<10}  {:<26}  {:<40}  {:<12}  {:<7}  {state}",
            destination.name,
            destination.kind,
            destination.company,
            destination.branch,
            destination.transaction,
            target,
            destination.namespace.as_deref().unwrap_or("-"),
            destination.list_style
        );
    }
    Ok(())
}

/// Unblocks a destination; false when there is none by that name.
pub async fn unblock(settings: &Settings, name: &str) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    match store.unblock_destination(name).await? {
        Some(released) => {
            println!("{name}: unblocked, {released} message(s) waiting again");
            Ok(true)
        }
        None => {
            eprintln!("no destination named {name:?}");
            Ok(false)
        }
    }
}

/// Sends an EAIEnvironmentTest to `name` and reports the round trip; true when it answered ok.
pub async fn test(settings: &Settings, name: &str) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let Some(destination) = store.destination(name).await? else {
        eprintln!("no destination named {name:?}");
        return Ok(false);
    };
    let company = store.company_for(&destination).await?;
    let (settlement, elapsed) = probe(settings, &destination, &company).await?;
    let elapsed = elapsed.as_millis();
    match settlement {
        Settlement::Done => {
            println!("{name}: ok, answered in {elapsed} ms");
            Ok(true)
        }
        other => {
            println!(
                "{name}: {} after {elapsed} ms: {}",
                other.status(),
                other.detail()
            );
            Ok(false)
        }
    }
}

/// One EAIEnvironmentTest round trip to `destination`, naming our company as
/// its system knows it (`company`, [`eai_store::Store::company_for`]): how it ended and
/// how long it took.
pub async fn probe(
    settings: &Settings,
    destination: &Destination,
    company: &str,
) -> anyhow::Result<(Settlement, std::time::Duration)> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let origin = settings.identity();
    let body = environment_test(&Outbound {
        origin: &origin,
        uuid: &uuid,
        company,
        branch: &destination.branch,
        generated_on: Utc::now(),
    });
    let started = Instant::now();
    let settlement = match destination.kind() {
        DestinationKind::Http => {
            let probe = Claimed {
                id: 0,
                uuid: uuid.clone(),
                transaction: "EAIEnvironmentTest".to_owned(),
                body: String::from_utf8_lossy(&body).into_owned(),
                attempt: 1,
                destination: destination.clone(),
            };
            http::deliver(&http_client()?, &probe).await
        }
        DestinationKind::Amqp => amqp_round_trip(settings, destination, &uuid, &body).await?,
    };
    Ok((settlement, started.elapsed()))
}

/// Publishes the test message with a private reply queue and waits for its receipt there.
async fn amqp_round_trip(
    settings: &Settings,
    destination: &Destination,
    uuid: &str,
    body: &[u8],
) -> anyhow::Result<Settlement> {
    let broker = open_broker(settings, None).await?;
    let connection = broker.connection().await;
    let channel = connection.create_channel().await?;
    let reply_queue = declare_private_queue(&channel).await?;
    let mut replies = channel
        .basic_consume(
            reply_queue.as_str().into(),
            "eai-destination-test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let publisher = publisher_for(settings, &broker);
    let published = publisher
        .publish(&Outgoing {
            exchange: destination.exchange.as_deref().unwrap_or_default(),
            routing_key: &destination.routing_key,
            body,
            correlation_id: Some(uuid),
            message_id: Some(uuid),
            reply_to: Some(&reply_queue),
            mandatory: true,
            ..Outgoing::default()
        })
        .await;
    if let Err(error) = published {
        return Ok(Settlement::Failed(error.to_string()));
    }
    let deadline = tokio::time::Instant::now() + destination.timeout();
    let settlement = loop {
        match tokio::time::timeout_at(deadline, replies.next()).await {
            Err(_) | Ok(None) => {
                break Settlement::NotDelivered(format!(
                    "no receipt within {} ms",
                    destination.timeout().as_millis()
                ));
            }
            Ok(Some(Err(error))) => break Settlement::Failed(error.to_string()),
            Ok(Some(Ok(delivery))) => match receipt_status(&delivery.data) {
                Some(receipt) if receipt.received_uuid == uuid && receipt.ok => {
                    break Settlement::Done
                }
                Some(receipt) if receipt.received_uuid == uuid => {
                    break Settlement::Rejected(format!("error receipt: {}", receipt.message));
                }
                _ => continue,
            },
        }
    };
    broker.close().await;
    Ok(settlement)
}
