//! Cadastrar → E-mail (seed 000 §4): who is told of failed, blocked and dead
//! messages — per company and branch an SMTP server, its sender, user and
//! password reference, the recipients and the copy list ("Emails para
//! cópia"), or a webhook — with "Validar E-mails" (a test alert sent at
//! once through the alerts outbox) and the alerts sent lately. Passwords
//! and signing keys are never typed here: a target names where the worker
//! reads them (`env:NAME`, `file:/path`).

use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::Form;
use eai_store::alerts::{AlertChannel, AlertFilter, AlertTarget};
use maud::html;
use serde::Deserialize;

use super::layout::{action, flash, page, redirect, Section};
use super::monitor::refused;
use super::session::Signed;
use super::settings::Plain;
use crate::api::alerts::alerting;
use crate::api::ApiState;

const PATH: &str = "/settings/alerts";

/// `GET /settings/alerts`
pub async fn alerts(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Html<String> {
    let text = signed.text;
    let targets = state.store.alert_targets().await;
    let recent = state
        .store
        .alerts(&AlertFilter {
            status: None,
            limit: 20,
        })
        .await;
    let everyone = |value: &str| {
        if value.is_empty() {
            text.any.to_owned()
        } else {
            value.to_owned()
        }
    };
    let body = html! {
        @match &targets {
            Err(problem) => p.flash.bad { (problem) },
            Ok(list) if list.is_empty() => p { (text.nothing) },
            Ok(list) => table #alert-targets {
                tr { th { (text.name) } th { (text.company) " / " (text.branch) } th { (text.target) }
                     th { (text.alert_sender) } th { (text.recipients) } th { (text.copies) } th {} }
                @for target in list {
                    tr {
                        td { (target.name) @if !target.enabled { " (" (text.off) ")" } }
                        td { (everyone(&target.company)) " / " (everyone(&target.branch)) }
                        @match &target.channel {
                            AlertChannel::Email { smtp_host, smtp_port, smtp_security, sender, username, password_ref, recipients, copies } => {
                                td { "smtp://" (smtp_host) ":" (smtp_port) " (" (smtp_security) ")"
                                     @if let (Some(user), Some(reference)) = (username, password_ref) {
                                         br; small { (text.user) ": " (user) " · " (text.password_ref) ": " (reference) } } }
                                td { (sender) }
                                td { (recipients.join(", ")) }
                                td { (copies.join(", ")) }
                            }
                            AlertChannel::Webhook { url, signing_secret_ref } => {
                                td { (url) @if let Some(reference) = signing_secret_ref {
                                         br; small { (text.signing_ref) ": " (reference) } } }
                                td { "—" } td { "—" } td { "—" }
                            }
                        }
                        td { @if signed.is_operator() {
                            div.actions {
                                (action(&signed, &format!("{PATH}/{}/test", target.name), text.validate_emails, false))
                                (action(&signed, &format!("{PATH}/{}/delete", target.name), text.delete, false))
                            }
                        } }
                    }
                }
            },
        }
        @if signed.is_operator() {
            h2 { (text.email) }
            form.filters #add-email method="post" action=(PATH) {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="channel" value="email";
                label { (text.name) input type="text" name="name" required; }
                label { (text.company) input type="text" name="company" placeholder=(text.any); }
                label { (text.branch) input type="text" name="branch" placeholder=(text.any); }
                label { "Host" input type="text" name="smtp_host" placeholder="smtp.example.com" required; }
                label { (text.port) input type="number" name="smtp_port" value="587" min="1" max="65535" required; }
                label { (text.protocol) select name="smtp_security" {
                    option value="starttls" { "STARTTLS" } option value="tls" { "TLS/SSL" } option value="none" { (text.none) } } }
                label { (text.alert_sender) input type="email" name="sender" required; }
                label { (text.user) input type="text" name="username"; }
                label { (text.password_ref) input type="text" name="password_ref" placeholder="env:EAI_SMTP_PASSWORD"; }
                label { (text.recipients) input type="text" name="recipients" placeholder="ops@example.com, ..." required; }
                label { (text.copies) input type="text" name="copies"; }
                label { (text.language) select name="language" { option value="pt" { "pt" } option value="en" { "en" } } }
                button.primary type="submit" { (text.save) }
            }
            h2 { "Webhook" }
            form.filters #add-webhook method="post" action=(PATH) {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="channel" value="webhook";
                label { (text.name) input type="text" name="name" required; }
                label { (text.company) input type="text" name="company" placeholder=(text.any); }
                label { (text.branch) input type="text" name="branch" placeholder=(text.any); }
                label { "URL" input type="url" name="url" placeholder="https://hooks.example.com/eai" required; }
                label { (text.signing_ref) input type="text" name="signing_secret_ref" placeholder="file:/run/secrets/webhook-key"; }
                button.primary type="submit" { (text.save) }
            }
        }
        h2 { (text.recent_alerts) }
        @match &recent {
            Err(problem) => p.flash.bad { (problem) },
            Ok(list) if list.is_empty() => p { (text.nothing) },
            Ok(list) => table #recent-alerts {
                tr { th { (text.at) } th { (text.name) } th { (text.reason) } th { (text.company) " / " (text.branch) }
                     th { (text.count) } th { (text.status) } th { (text.attempts) } }
                @for alert in list {
                    tr {
                        td { (alert.created_at.format("%Y-%m-%d %H:%M:%S")) } td { (alert.target) } td { (alert.reason) }
                        td { (everyone(&alert.company)) " / " (everyone(&alert.branch)) } td { (alert.events) }
                        td class={ "st-" (alert.status) } { (alert.status) @if let Some(error) = &alert.last_error { br; small { (error) } } }
                        td { (alert.attempts) }
                    }
                }
            },
        }
    };
    let shown = flash(&query);
    Html(page(&signed, Section::Alerts, text.alerts, shown.as_ref(), body).into_string())
}

/// The fields of the e-mail and the webhook forms.
#[derive(Debug, Deserialize)]
pub struct TargetForm {
    pub csrf: String,
    pub channel: String,
    pub name: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub branch: String,
    #[serde(default)]
    pub smtp_host: String,
    #[serde(default)]
    pub smtp_port: String,
    #[serde(default)]
    pub smtp_security: String,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password_ref: String,
    #[serde(default)]
    pub recipients: String,
    #[serde(default)]
    pub copies: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub signing_secret_ref: String,
}

impl TargetForm {
    /// The target the form describes; what is wrong with it, in words.
    fn target(&self) -> Result<AlertTarget, String> {
        let optional = |value: &str| {
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_owned())
        };
        let addresses = |value: &str| {
            value
                .split([',', ';', '\n'])
                .map(str::trim)
                .filter(|address| !address.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let channel = match self.channel.as_str() {
            "email" => AlertChannel::Email {
                smtp_host: self.smtp_host.trim().to_owned(),
                smtp_port: self
                    .smtp_port
                    .trim()
                    .parse()
                    .map_err(|_| format!("smtp_port: {:?} is not a port", self.smtp_port))?,
                smtp_security: self.smtp_security.clone(),
                sender: self.sender.trim().to_owned(),
                username: optional(&self.username),
                password_ref: optional(&self.password_ref),
                recipients: addresses(&self.recipients),
                copies: addresses(&self.copies),
            },
            "webhook" => AlertChannel::Webhook {
                url: self.url.trim().to_owned(),
                signing_secret_ref: optional(&self.signing_secret_ref),
            },
            other => return Err(format!("channel: {other:?} is neither email nor webhook")),
        };
        let target = AlertTarget {
            name: self.name.trim().to_owned(),
            company: self.company.trim().to_owned(),
            branch: self.branch.trim().to_owned(),
            channel,
            language: optional(&self.language).unwrap_or_else(|| "pt".to_owned()),
            enabled: true,
        };
        match target.problem() {
            Some(problem) => Err(problem),
            None => Ok(target),
        }
    }
}

/// `POST /settings/alerts`: creates or replaces a target.
pub async fn set_target(
    State(state): State<ApiState>,
    signed: Signed,
    Form(form): Form<TargetForm>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let target = match form.target() {
        Ok(target) => target,
        Err(problem) => return redirect(PATH, false, &format!("{}: {problem}", form.name)),
    };
    match state.store.set_alert_target(&target).await {
        Ok(()) => redirect(
            PATH,
            true,
            &format!("{}: {}", target.name, signed.text.saved),
        ),
        Err(error) => redirect(PATH, false, &format!("{}: {error}", target.name)),
    }
}

/// `POST /settings/alerts/{name}/{test|delete}`
pub async fn target_action(
    State(state): State<ApiState>,
    signed: Signed,
    Path((name, verb)): Path<(String, String)>,
    Form(form): Form<Plain>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let text = signed.text;
    match verb.as_str() {
        "test" => {
            let tested = match alerting(&state) {
                Ok(alerting) => alerting.test(&name).await,
                Err(error) => return redirect(PATH, false, &format!("{name}: {error}")),
            };
            match tested {
                Ok(Some(Ok(()))) => {
                    redirect(PATH, true, &format!("{name}: {}", text.test_alert_sent))
                }
                Ok(Some(Err(error))) => redirect(
                    PATH,
                    false,
                    &format!("{name}: {}: {error}", text.test_alert_not_sent),
                ),
                Ok(None) => redirect(PATH, false, &format!("{name}: {}", text.not_found)),
                Err(error) => redirect(PATH, false, &format!("{name}: {error}")),
            }
        }
        "delete" => match state.store.delete_alert_target(&name).await {
            Ok(true) => redirect(PATH, true, &format!("{name}: {}", text.deleted)),
            Ok(false) => redirect(PATH, false, &format!("{name}: {}", text.not_found)),
            Err(error) => redirect(PATH, false, &format!("{name}: {error}")),
        },
        _ => redirect(PATH, false, &format!("{name}: {verb}?")),
    }
}
