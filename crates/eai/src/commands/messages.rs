//! `eai messages list|show|retry|block|unblock|discard` and `eai pending`:
//! the log and pending-item monitors, with `--json` for scripts (the same
//! documents the API answers).

use eai_store::log::{Acted, ItemId, LogFilter, Status};
use eai_store::page::Page;
use eai_store::Store;
use serde::Serialize;

use crate::app::{open_inlet, open_store};
use crate::config::Settings;
use crate::repair::{self, Action};

/// Prints `value` as one JSON document.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The cursor line under a human table.
fn more<T>(page: &Page<T>) {
    if !page.next_cursor.is_empty() {
        println!("(more: --cursor {})", page.next_cursor);
    }
}

/// `eai messages list`
pub async fn list(settings: &Settings, filter: &LogFilter, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let page = store.messages(filter).await?;
    if json {
        return print_json(&page);
    }
    println!(
        "{:<10}  {:<3}  {:<24}  {:<22}  {:<10}  {:<10}  {:<13}  {:>3}  {:<20}  codes / last error",
        "id",
        "dir",
        "received/created",
        "transaction",
        "company",
        "branch",
        "status",
        "try",
        "document"
    );
    for entry in &page.items {
        let document = entry
            .internal_id
            .as_deref()
            .or(entry.document_code.as_deref())
            .unwrap_or("");
        let settled = matches!(entry.status, Status::Ok | Status::Done);
        let problem = match (&entry.last_error, entry.error_codes.is_empty()) {
            (_, false) => entry.error_codes.join(","),
            (Some(error), true) if !settled => error.clone(),
            _ => String::new(),
        };
        println!(
            "{:<10}  {:<3}  {:<24}  {:<22}  {:<10}  {:<10}  {:<13}  {:>3}  {:<20}  {}",
            entry.id.to_string(),
            entry.direction.as_str(),
            entry.at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            entry.transaction,
            entry.company,
            entry.branch,
            entry.status.as_str(),
            entry.attempts,
            document,
            problem
        );
    }
    more(&page);
    Ok(())
}

/// `eai messages show ID`; false when there is no such message.
pub async fn show(settings: &Settings, id: ItemId, json: bool) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let Some(detail) = store.message_detail(id).await? else {
        eprintln!("no message {id}");
        return Ok(false);
    };
    if json {
        print_json(&detail)?;
        return Ok(true);
    }
    let entry = &detail.entry;
    println!(
        "message {} ({}, {})",
        entry.id,
        entry.direction.as_str(),
        entry.uuid
    );
    println!("  transaction  {}", entry.transaction);
    println!("  company      {} / branch {}", entry.company, entry.branch);
    println!(
        "  status       {} after {} attempt(s)",
        entry.status, entry.attempts
    );
    println!("  at           {}", entry.at);
    if let Some(document) = entry
        .internal_id
        .as_deref()
        .or(entry.document_code.as_deref())
    {
        println!("  document     {document}");
    }
    if let Some(destination) = &entry.destination {
        println!("  destination  {destination}");
    }
    if !entry.error_codes.is_empty() {
        println!("  codes        {}", entry.error_codes.join(", "));
    }
    if let Some(error) = &entry.last_error {
        println!("  last error   {error}");
    }
    if let Some(receipt) = &detail.receipt {
        let details = receipt
            .pointer("/Content/ProcessingInformation/Details")
            .and_then(|details| details.as_array())
            .cloned()
            .unwrap_or_default();
        for line in details {
            println!(
                "  receipt      {} {}: {}",
                line["Type"].as_str().unwrap_or(""),
                line["Code"].as_str().unwrap_or(""),
                line["Message"].as_str().unwrap_or("")
            );
        }
        match detail.receipt_status {
            Some(Status::Done) => println!("  receipt      published"),
            Some(status) => {
                println!("  receipt      not published yet ({status}; the relay retries it)")
            }
            None => {}
        }
    }
    if let Some(sale) = &detail.sale {
        println!(
            "  sale         {} {}, net {}",
            sale.number, sale.status, sale.net_price
        );
        if let Some(intermediary) = &sale.fiscal.intermediary_code {
            println!(
                "  intermediary {intermediary} (presencial indicator {})",
                sale.fiscal.presencial_indicator.as_deref().unwrap_or("-")
            );
        }
        for payment in &sale.payments {
            let card = &payment.card;
            println!(
                "  payment {:>2}   {} {}  NSU {}  {} authorisation {} document {}",
                payment.payment,
                payment.method,
                payment.value,
                card.nsu.as_deref().unwrap_or("-"),
                card.eft_institute.as_deref().unwrap_or("-"),
                card.eft_authorization.as_deref().unwrap_or("-"),
                card.eft_document.as_deref().unwrap_or("-")
            );
        }
    }
    for attempt in &detail.attempt_history {
        println!(
            "  attempt {:>2}  {}  {:<13}  {}  ({} ms, {})",
            attempt.attempt,
            attempt.started_at,
            attempt.status,
            attempt.detail,
            (attempt.finished_at - attempt.started_at).num_milliseconds(),
            attempt.sender
        );
    }
    if let Some(discarded) = &entry.discarded {
        println!(
            "  discarded    {} by {}: {}",
            discarded.at, discarded.by, discarded.note
        );
    }
    for action in &detail.actions {
        println!(
            "  operator     {} {} by {}: {}",
            action.at, action.action, action.actor, action.note
        );
    }
    Ok(true)
}

/// `eai pending`
pub async fn pending(settings: &Settings, filter: &LogFilter, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let page = store.pending(filter).await?;
    if json {
        return print_json(&page);
    }
    println!(
        "{:<10}  {:<11}  {:<24}  {:<22}  {:<10}  {:<20}  reason → suggested action",
        "id", "kind", "since", "transaction", "branch", "document"
    );
    for item in &page.items {
        println!(
            "{:<10}  {:<11}  {:<24}  {:<22}  {:<10}  {:<20}  {} → {}",
            item.id.to_string(),
            item.kind,
            item.since.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            item.transaction,
            item.branch,
            item.document.as_deref().unwrap_or(""),
            if item.codes.is_empty() {
                item.reason.clone()
            } else {
                format!("{} {}", item.codes.join(","), item.reason)
            },
            match item.related {
                Some(envelope) => format!("{} [{envelope}]", item.suggested_action),
                None => item.suggested_action.to_owned(),
            }
        );
    }
    more(&page);
    Ok(())
}

/// The answer of an action, as the API gives it.
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    id: String,
    action: &'static str,
    by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Runs `action` on each id; true when it applied to all.
pub async fn act(
    settings: &Settings,
    action: Action,
    ids: &[ItemId],
    actor: &str,
    note: &str,
    json: bool,
) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    // The inbound queue only when an inbound error goes back on it.
    let retries_inbound =
        action == Action::Retry && ids.iter().any(|id| matches!(id, ItemId::Inbound(_)));
    let (inlet, broker) = match retries_inbound {
        true => {
            let (inlet, broker) = open_inlet(settings, &store, Some(settings.topology())).await?;
            (Some(inlet), broker)
        }
        false => (None, None),
    };
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        let acted = repair::act(&store, inlet.as_ref(), action, *id, actor, note).await?;
        outcomes.push(outcome(*id, action.as_str(), actor, acted));
    }
    if let Some(broker) = broker {
        broker.close().await;
    }
    report(&outcomes, json)
}

fn outcome<'a>(id: ItemId, action: &'static str, by: &'a str, acted: Acted) -> Outcome<'a> {
    let (code, message) = match acted {
        Acted::Done => (None, None),
        Acted::NotFound => (Some("NOT_FOUND"), Some(format!("no {id}"))),
        Acted::Refused(why) => (Some("NOT_APPLICABLE"), Some(why)),
        Acted::Unavailable(why) => (Some("BROKER_UNAVAILABLE"), Some(why)),
    };
    Outcome {
        id: id.to_string(),
        action,
        by,
        code,
        message,
    }
}

/// Prints outcomes; true when every one was done.
fn report(outcomes: &[Outcome<'_>], json: bool) -> anyhow::Result<bool> {
    if json {
        print_json(&serde_json::json!({ "items": outcomes }))?;
    } else {
        for outcome in outcomes {
            match &outcome.message {
                None => println!("{}: {} done", outcome.id, outcome.action),
                Some(message) => {
                    eprintln!("{}: {} not done: {message}", outcome.id, outcome.action)
                }
            }
        }
    }
    Ok(outcomes.iter().all(|outcome| outcome.code.is_none()))
}

/// `eai dlq list`
pub async fn dead_letters(
    settings: &Settings,
    filter: &eai_store::dead_letters::DeadLetterFilter,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let page = store.dead_letters(filter).await?;
    if json {
        return print_json(&page);
    }
    println!(
        "{:<10}  {:<24}  {:<22}  {:<36}  {:<12}  reason",
        "id", "dead at", "code", "uuid", "state"
    );
    for dead in &page.items {
        let state = match (dead.discarded_at, dead.replays) {
            (Some(_), _) => "discarded".to_owned(),
            (None, 0) => "open".to_owned(),
            (None, replays) => format!("replayed {replays}x"),
        };
        println!(
            "{:<10}  {:<24}  {:<22}  {:<36}  {:<12}  {}",
            dead.id.to_string(),
            dead.dead_at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            dead.code,
            dead.uuid.as_deref().unwrap_or(""),
            state,
            dead.reason
        );
    }
    more(&page);
    Ok(())
}

/// `eai dlq replay ID…`; true when every one was replayed.
pub async fn replay(
    settings: &Settings,
    ids: &[i64],
    actor: &str,
    json: bool,
) -> anyhow::Result<bool> {
    let store: Store = open_store(settings).await?;
    let (inlet, broker) = open_inlet(settings, &store, Some(settings.topology())).await?;
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        let acted = repair::replay(&store, &inlet, *id, actor, false).await?;
        outcomes.push(outcome(ItemId::DeadLetter(*id), "replay", actor, acted));
    }
    if let Some(broker) = broker {
        broker.close().await;
    }
    report(&outcomes, json)
}
