//! `eai alerts targets list|set|delete`, `eai alerts test NAME` (seed 000's
//! "Validar E-mails": a test alert through the alerts outbox, sent at once)
//! and `eai alerts list`.

use eai_store::alerts::{AlertChannel, AlertFilter, AlertTarget};
use eai_store::StoreError;

use crate::alerts::Alerting;
use crate::app::{http_client, open_store};
use crate::config::Settings;
use crate::metrics::Metrics;

/// A target as `eai alerts targets set` takes it: `--smtp-host` makes an
/// e-mail target, `--webhook-url` a webhook.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    pub name: String,
    /// Only this company's messages (default: every company).
    #[arg(long, default_value = "")]
    pub company: String,
    /// Only this branch's messages (default: every branch).
    #[arg(long, default_value = "")]
    pub branch: String,
    #[arg(long, conflicts_with = "webhook_url", required_unless_present = "webhook_url", requires_all = ["sender", "to"])]
    pub smtp_host: Option<String>,
    #[arg(long, default_value_t = 587)]
    pub smtp_port: u16,
    /// starttls, tls (implicit TLS, usually port 465) or none.
    #[arg(long, default_value = "starttls", value_parser = ["starttls", "tls", "none"])]
    pub smtp_security: String,
    /// The From address.
    #[arg(long)]
    pub sender: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    /// Where the SMTP password is: env:NAME or file:/path (never the password).
    #[arg(long)]
    pub password_ref: Option<String>,
    /// A recipient (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub to: Vec<String>,
    /// The copy list (Cc; repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub cc: Vec<String>,
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Where the webhook's HMAC key is: env:NAME or file:/path.
    #[arg(long, requires = "webhook_url")]
    pub signing_secret_ref: Option<String>,
    /// The e-mails' language: pt or en.
    #[arg(long, default_value = "pt", value_parser = ["pt", "en"])]
    pub language: String,
    /// Keep it, but send it nothing.
    #[arg(long)]
    pub disabled: bool,
}

impl From<TargetArgs> for AlertTarget {
    fn from(args: TargetArgs) -> AlertTarget {
        let channel = match (args.smtp_host, args.webhook_url) {
            (Some(smtp_host), _) => AlertChannel::Email {
                smtp_host,
                smtp_port: args.smtp_port,
                smtp_security: args.smtp_security,
                sender: args.sender.unwrap_or_default(),
                username: args.username,
                password_ref: args.password_ref,
                recipients: args.to,
                copies: args.cc,
            },
            (None, url) => AlertChannel::Webhook {
                url: url.unwrap_or_default(),
                signing_secret_ref: args.signing_secret_ref,
            },
        };
        AlertTarget {
            name: args.name,
            company: args.company,
            branch: args.branch,
            channel,
            language: args.language,
            enabled: !args.disabled,
        }
    }
}

/// Where a target sends, in one line.
fn destination(target: &AlertTarget) -> String {
    match &target.channel {
        AlertChannel::Email {
            smtp_host,
            smtp_port,
            smtp_security,
            recipients,
            copies,
            ..
        } => {
            let mut line = format!(
                "{smtp_host}:{smtp_port} ({smtp_security}) to {}",
                recipients.join(", ")
            );
            if !copies.is_empty() {
                line.push_str(&format!(" cc {}", copies.join(", ")));
            }
            line
        }
        AlertChannel::Webhook {
            url,
            signing_secret_ref,
        } => match signing_secret_ref {
            Some(_) => format!("{url} (signed)"),
            None => url.clone(),
        },
    }
}

pub async fn list_targets(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let targets = store.alert_targets().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&targets)?);
        return Ok(());
    }
    println!(
        "{:<16}  {:<8}  {:<10}  {:<10}  {:<8}  to",
        "name", "channel", "company", "branch", "state"
    );
    for target in &targets {
        println!(
            "{:<16}  {:<8}  {:<10}  {:<10}  {:<8}  {}",
            target.name,
            target.channel.name(),
            if target.company.is_empty() {
                "*"
            } else {
                &target.company
            },
            if target.branch.is_empty() {
                "*"
            } else {
                &target.branch
            },
            if target.enabled {
                "enabled"
            } else {
                "disabled"
            },
            destination(target)
        );
    }
    Ok(())
}

/// Creates or replaces a target; false (with the reason) when it is not valid.
pub async fn set_target(settings: &Settings, args: TargetArgs) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let target = AlertTarget::from(args);
    match store.set_alert_target(&target).await {
        Ok(()) => {
            println!("{}: {}", target.name, destination(&target));
            Ok(true)
        }
        Err(StoreError::Refused(problem)) => {
            eprintln!("{}: {problem}", target.name);
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Deletes a target and its alerts; false when there is none by that name.
pub async fn delete_target(settings: &Settings, name: &str) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    if store.delete_alert_target(name).await? {
        println!("{name}: deleted");
        Ok(true)
    } else {
        eprintln!("no alert target named {name:?}");
        Ok(false)
    }
}

/// Sends a test alert to `name` at once and reports it; true when it was sent.
pub async fn test(settings: &Settings, name: &str) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let alerting = Alerting {
        store: store.clone(),
        metrics: Metrics::new(),
        http: http_client()?,
        settings: settings.alerts.clone(),
    };
    let Some(target) = store.alert_target(name).await? else {
        eprintln!("no alert target named {name:?}");
        return Ok(false);
    };
    let started = std::time::Instant::now();
    let tested = alerting.test(name).await?;
    let elapsed = started.elapsed().as_millis();
    match tested {
        Some(Ok(())) => {
            println!(
                "{name}: test alert sent in {elapsed} ms via {}",
                destination(&target)
            );
            Ok(true)
        }
        Some(Err(error)) => {
            println!("{name}: test alert NOT sent after {elapsed} ms: {error}");
            Ok(false)
        }
        None => {
            eprintln!("no alert target named {name:?}");
            Ok(false)
        }
    }
}

/// The alerts, newest first.
pub async fn list(
    settings: &Settings,
    status: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let alerts = store.alerts(&AlertFilter { status, limit }).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&alerts)?);
        return Ok(());
    }
    println!(
        "{:>6}  {:<16}  {:<7}  {:<10}  {:<10}  {:>6}  {:<7}  {:>8}  {:<20}  error",
        "id", "target", "reason", "company", "branch", "events", "status", "attempts", "window"
    );
    for alert in alerts {
        println!(
            "{:>6}  {:<16}  {:<7}  {:<10}  {:<10}  {:>6}  {:<7}  {:>8}  {:<20}  {}",
            alert.id,
            alert.target,
            alert.reason,
            alert.company,
            alert.branch,
            alert.events,
            alert.status,
            alert.attempts,
            alert.window_start.format("%Y-%m-%d %H:%M:%S"),
            alert.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
