//! The receipts destinations send back (`eai.receipts.in`): each settles the
//! message it names — also after that message's attempt timed out, so a late
//! receipt still turns `not_delivered` into `done`.

use eai_protocol::receipt_status;
use eai_store::Store;
use eai_transport::lapin::message::Delivery;
use eai_transport::lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use eai_transport::lapin::types::FieldTable;
use eai_transport::lapin::Connection;
use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::amqp::correlated_destination;

/// Consumes `queue` until `shutdown` fires.
pub async fn run(
    store: Store,
    connection: &Connection,
    queue: &str,
    mut shutdown: broadcast::Receiver<()>,
) -> anyhow::Result<()> {
    let channel = connection.create_channel().await?;
    channel.basic_qos(64, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            format!("eai-receipts-{}", uuid::Uuid::new_v4().simple())
                .as_str()
                .into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let next = tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            next = consumer.next() => next,
        };
        match next {
            None => return Ok(()),
            Some(Ok(delivery)) => settle(&store, &delivery).await,
            Some(Err(error)) => {
                tracing::error!(queue, %error, "receipts consumer error; waiting for recovery");
                channel.wait_for_recovery(error).await?;
            }
        }
    }
}

/// Settles the message a receipt names; acks once the database has it.
async fn settle(store: &Store, delivery: &Delivery) {
    match receipt_status(&delivery.data) {
        Some(receipt) => {
            let correlation = delivery
                .properties
                .correlation_id()
                .as_ref()
                .map(|id| id.to_string());
            let destination = correlation
                .as_deref()
                .and_then(|id| correlated_destination(id, &receipt.received_uuid));
            let settled = store
                .settle_by_receipt(
                    &receipt.received_uuid,
                    destination,
                    receipt.ok,
                    &receipt.message,
                )
                .await;
            match settled {
                Ok(status) => {
                    tracing::info!(uuid = %receipt.received_uuid, ?status, "destination receipt");
                }
                Err(error) => {
                    tracing::warn!(%error, "recording a destination receipt failed; it will be redelivered");
                    return;
                }
            }
        }
        None => {
            tracing::warn!("ignored a message on the receipts queue that is not a ReceiptMessage")
        }
    }
    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
        tracing::warn!(%error, "ack of a destination receipt failed");
    }
}
