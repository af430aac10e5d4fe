//! `eai doctor`: what is wrong with this worker's setup, checked one thing
//! after another and each bounded by its own timeout — the configuration
//! (it loaded, or `eai` stopped before this), the database (reachable, its
//! migrations applied), the broker (reachable, the queues declared, what
//! waits in them; without one, what waits in the database's queue), the destinations (blocked ones; with `--probe`, a
//! connection test each) and whether a worker answers at `http.addr`.
//!
//! Nothing is created or changed: no database, no queue, no migration. The
//! exit code is 1 when a check failed.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use eai_store::alerts::AlertChannel;
use eai_store::outbound::{DestinationKind, Settlement};
use eai_store::Store;

use crate::alerts::secret;
use crate::app::http_client;
use crate::commands::destinations::probe;
use crate::config::Settings;

/// Longest the worker's `/readyz` may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Worth knowing, not wrong.
    Note,
    Failed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Verdict::Ok => "ok",
            Verdict::Note => "note",
            Verdict::Failed => "FAILED",
        })
    }
}

/// The lines printed, and whether any check failed.
#[derive(Default)]
struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, check: &str, verdict: Verdict, detail: impl fmt::Display) {
        self.failed |= verdict == Verdict::Failed;
        println!("{check:<14} {verdict:<6} {detail}");
    }
}

/// Runs every check; true when none failed.
pub async fn run(settings: &Settings, file: Option<&Path>, probe_destinations: bool) -> bool {
    let mut report = Report::default();
    let source = match file {
        Some(file) => format!("{} + EAI_* environment", file.display()),
        None => "built-in defaults + EAI_* environment".to_owned(),
    };
    report.line("configuration", Verdict::Ok, source);
    let store = database(settings, &mut report).await;
    match settings.has_broker() {
        true => broker(settings, &mut report).await,
        false => inbound_queue(store.as_ref(), &mut report).await,
    }
    match &store {
        Some(store) => {
            destinations(settings, store, probe_destinations, &mut report).await;
            alert_targets(store, &mut report).await;
        }
        None => report.line(
            "destinations",
            Verdict::Note,
            "not checked: the database is not reachable",
        ),
    }
    worker(settings, &mut report).await;
    if let Some(store) = store {
        store.close().await;
    }
    !report.failed
}

/// Reachable, and every migration of this build applied.
async fn database(settings: &Settings, report: &mut Report) -> Option<Store> {
    let url = match settings.database_url() {
        Ok(url) => url,
        Err(error) => {
            report.line("database", Verdict::Failed, error);
            return None;
        }
    };
    let address = url.address();
    if url.is_missing_file() {
        report.line(
            "database",
            Verdict::Note,
            format!("{address} does not exist yet (`eai run` or `eai migrate` creates it)"),
        );
        return None;
    }
    let store = match Store::open(&url, settings.pool()).await {
        Ok(store) => store,
        Err(error) => {
            let hint = if error.is_missing_database() {
                " (`eai migrate` creates it)"
            } else {
                ""
            };
            report.line(
                "database",
                Verdict::Failed,
                format!("{address}: {error}{hint}"),
            );
            return None;
        }
    };
    match store.missing_migrations().await {
        Ok(missing) if missing.is_empty() => {
            report.line(
                "database",
                Verdict::Ok,
                format!("{address}: migrations applied"),
            );
        }
        Ok(missing) => report.line(
            "database",
            Verdict::Failed,
            format!(
                "{address}: {} migration(s) not applied (run `eai migrate`): {}",
                missing.len(),
                missing.join(", ")
            ),
        ),
        Err(error) => report.line("database", Verdict::Failed, format!("{address}: {error}")),
    }
    Some(store)
}

/// No broker: envelopes queue in the database; what waits there.
async fn inbound_queue(store: Option<&Store>, report: &mut Report) {
    let waiting = match store {
        Some(store) => match store.queued_count().await {
            Ok(count) => format!("{count} queued"),
            Err(error) => format!("the queue could not be read: {error}"),
        },
        None => "not checked: the database is not reachable".to_owned(),
    };
    report.line(
        "broker",
        Verdict::Note,
        format!("none (EAI_AMQP_URL is not set): envelopes queue in the database, {waiting}"),
    );
}

/// Reachable, and the queues the worker consumes declared: what waits in each.
async fn broker(settings: &Settings, report: &mut Report) {
    let endpoint = match settings.endpoint("eai-doctor") {
        Ok(endpoint) => endpoint,
        Err(error) => {
            report.line("broker", Verdict::Failed, error);
            return;
        }
    };
    let address = endpoint.address();
    let connection = match endpoint.connect().await {
        Ok(connection) => connection,
        Err(error) => {
            report.line("broker", Verdict::Failed, error);
            return;
        }
    };
    match settings.topology().inspect(&connection).await {
        Ok(queues) => {
            let missing: Vec<&str> = queues
                .iter()
                .filter(|queue| queue.counts.is_none())
                .map(|queue| queue.name.as_str())
                .collect();
            if missing.is_empty() {
                report.line("broker", Verdict::Ok, format!("{address}: queues declared"));
            } else {
                report.line(
                    "broker",
                    Verdict::Note,
                    format!(
                        "{address}: not declared yet (`eai run` declares them): {}",
                        missing.join(", ")
                    ),
                );
            }
            for queue in &queues {
                if let Some((ready, consumers)) = queue.counts {
                    let verdict = if consumers == 0 && ready > 0 {
                        Verdict::Note
                    } else {
                        Verdict::Ok
                    };
                    report.line(
                        "  queue",
                        verdict,
                        format!("{}: {ready} ready, {consumers} consumer(s)", queue.name),
                    );
                }
            }
        }
        Err(error) => report.line("broker", Verdict::Failed, format!("{address}: {error}")),
    }
    connection.close(200, "checked".into()).await.ok();
}

/// Blocked destinations; with `probe`, a connection test of each.
/// Every alert target's secret references resolve here (this process's
/// environment and files; the worker resolves them in its own, so run the
/// doctor where the worker runs). The secret itself is never printed.
async fn alert_targets(store: &Store, report: &mut Report) {
    let targets = match store.alert_targets().await {
        Ok(targets) => targets,
        Err(error) => {
            report.line("alert targets", Verdict::Failed, error);
            return;
        }
    };
    report.line(
        "alert targets",
        Verdict::Ok,
        format!("{} configured", targets.len()),
    );
    for target in &targets {
        let references = match &target.channel {
            AlertChannel::Email { password_ref, .. } => password_ref,
            AlertChannel::Webhook {
                signing_secret_ref, ..
            } => signing_secret_ref,
        };
        let (verdict, detail) = match references.as_deref().map(secret::resolve) {
            Some(Err(unresolved)) => (Verdict::Failed, unresolved.to_string()),
            Some(Ok(_)) => (Verdict::Ok, "its secret reference resolves".to_owned()),
            None => (Verdict::Ok, "no secret".to_owned()),
        };
        report.line(
            "  alert target",
            verdict,
            format!("{} ({}): {detail}", target.name, target.channel.name()),
        );
    }
}

async fn destinations(settings: &Settings, store: &Store, probe_each: bool, report: &mut Report) {
    let destinations = match store.destinations().await {
        Ok(destinations) => destinations,
        Err(error) => {
            report.line("destinations", Verdict::Failed, error);
            return;
        }
    };
    let blocked = destinations
        .iter()
        .filter(|destination| destination.blocked)
        .count();
    report.line(
        "destinations",
        if blocked > 0 {
            Verdict::Failed
        } else {
            Verdict::Ok
        },
        format!("{} configured, {blocked} blocked", destinations.len()),
    );
    for destination in &destinations {
        if destination.kind() == DestinationKind::Amqp && !settings.has_broker() {
            report.line(
                "  destination",
                Verdict::Failed,
                format!(
                    "{}: an AMQP destination, and this worker has no broker (set EAI_AMQP_URL)",
                    destination.name
                ),
            );
            continue;
        }
        if destination.blocked {
            report.line(
                "  destination",
                Verdict::Failed,
                format!(
                    "{}: blocked ({}); fix its credentials, then `eai destinations unblock {}`",
                    destination.name,
                    destination
                        .blocked_reason
                        .as_deref()
                        .unwrap_or("no reason recorded"),
                    destination.name
                ),
            );
            continue;
        }
        if !probe_each {
            continue;
        }
        let tested = async {
            let company = store.company_for(destination).await?;
            probe(settings, destination, &company).await
        }
        .await;
        match tested {
            Ok((Settlement::Done, elapsed)) => report.line(
                "  destination",
                Verdict::Ok,
                format!(
                    "{}: answered ok in {} ms",
                    destination.name,
                    elapsed.as_millis()
                ),
            ),
            Ok((settlement, elapsed)) => report.line(
                "  destination",
                Verdict::Failed,
                format!(
                    "{}: {} after {} ms: {}",
                    destination.name,
                    settlement.status(),
                    elapsed.as_millis(),
                    settlement.detail()
                ),
            ),
            Err(error) => report.line(
                "  destination",
                Verdict::Failed,
                format!("{}: {error:#}", destination.name),
            ),
        }
    }
}

/// Whether a worker answers at `http.addr`, and whether it is ready.
async fn worker(settings: &Settings, report: &mut Report) {
    let url = format!("http://{}/readyz", settings.http.addr);
    let answered = match http_client() {
        Ok(client) => client.get(&url).timeout(READY_TIMEOUT).send().await,
        Err(error) => {
            report.line("worker", Verdict::Failed, format!("{error:#}"));
            return;
        }
    };
    match answered {
        Ok(response) if response.status().is_success() => {
            report.line("worker", Verdict::Ok, format!("{url}: ready"));
        }
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            report.line(
                "worker",
                Verdict::Failed,
                format!("{url}: not ready ({status}): {}", body.trim()),
            );
        }
        Err(_) => report.line(
            "worker",
            Verdict::Note,
            format!("nothing answers at {url} (no worker runs with these settings here)"),
        ),
    }
}
