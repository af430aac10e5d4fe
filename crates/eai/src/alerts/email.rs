//! The e-mail: plain text in the target's language (Portuguese or English,
//! as the console speaks), to the recipients with the copy list in Cc, over
//! SMTP with STARTTLS, implicit TLS or neither (lettre on tokio, rustls).

use std::time::Duration;

use eai_store::alerts::{Alert, AlertChannel, AlertTarget};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::secret;

/// The subject and body of `alert` in `language`.
pub fn compose(alert: &Alert, language: &str) -> (String, String) {
    let english = language == "en";
    let what = match (alert.reason.as_str(), english) {
        ("failed", false) => "mensagens não entregues (falha ou rejeição)",
        ("failed", true) => "messages not delivered (failed or rejected)",
        ("blocked", false) => "destinos bloqueados (credenciais recusadas)",
        ("blocked", true) => "destinations blocked (credentials refused)",
        ("dead", false) => "mensagens em dead letter",
        ("dead", true) => "dead letters",
        (_, false) => "alerta de teste",
        (_, true) => "test alert",
    };
    let place = |company: &str, branch: &str| match (company.is_empty(), english) {
        (true, false) => "todas as empresas".to_owned(),
        (true, true) => "every company".to_owned(),
        (false, false) => format!("empresa {company}, filial {branch}"),
        (false, true) => format!("company {company}, branch {branch}"),
    };
    let place = place(&alert.company, &alert.branch);
    let subject = format!("[EAI] {}: {what} ({place})", alert.events);
    let (count, since, samples, end) = if english {
        ("Count", "Since", "Examples", "EAI Worker")
    } else {
        ("Quantidade", "Desde", "Exemplos", "EAI Worker")
    };
    let mut body = format!(
        "{what}\n{place}\n{count}: {}\n{since}: {}\n\n{samples}:\n",
        alert.events,
        alert.window_start.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    for sample in &alert.samples {
        let parts: Vec<&str> = [
            sample.uuid.as_deref(),
            sample.destination.as_deref(),
            sample.detail.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        body.push_str(&format!(
            "- {} {}\n",
            sample.at.format("%H:%M:%S"),
            parts.join(" | ")
        ));
    }
    body.push_str(&format!("\n-- \n{end} ({})\n", alert.target));
    (subject, body)
}

fn mailbox(what: &str, address: &str) -> Result<Mailbox, String> {
    address
        .parse()
        .map_err(|error| format!("{what} {address:?} is not an e-mail address: {error}"))
}

/// Sends `alert` to the e-mail target `target` within `timeout`.
pub async fn send(alert: &Alert, target: &AlertTarget, timeout: Duration) -> Result<(), String> {
    let AlertChannel::Email {
        smtp_host: host,
        smtp_port: port,
        smtp_security: security,
        sender,
        username,
        password_ref,
        recipients,
        copies,
    } = &target.channel
    else {
        return Err(format!("{} is not an e-mail target", target.name));
    };
    let (host, port) = (host.as_str(), *port);
    let (subject, body) = compose(alert, &target.language);
    let mut message = Message::builder()
        .from(mailbox("sender", sender)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for recipient in recipients {
        message = message.to(mailbox("recipient", recipient)?);
    }
    for copy in copies {
        message = message.cc(mailbox("copy", copy)?);
    }
    let message = message
        .body(body)
        .map_err(|error| format!("composing the e-mail failed: {error}"))?;
    let where_to = format!("SMTP {host}:{port}");
    let builder = match security.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        _ => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|error| format!("{where_to}: {error}"))?;
    let mut builder = builder.port(port).timeout(Some(timeout));
    if let Some(username) = username {
        let reference = password_ref
            .as_deref()
            .ok_or_else(|| format!("{where_to}: the username {username:?} has no password_ref"))?;
        let password = secret::resolve(reference).map_err(|error| error.to_string())?;
        builder = builder.credentials(Credentials::new(
            username.to_owned(),
            password.expose_secret().to_owned(),
        ));
    }
    let transport = builder.build();
    match tokio::time::timeout(timeout, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("{where_to}: {error}")),
        Err(_) => Err(format!(
            "{where_to}: no answer within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use eai_store::alerts::AlertSample;

    use super::*;

    fn alert(reason: &str, company: &str) -> Alert {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 5, 8, 17, 0)
            .single()
            .expect("a time");
        Alert {
            id: 5,
            target: "ops".to_owned(),
            reason: reason.to_owned(),
            company: company.to_owned(),
            branch: "01".to_owned(),
            window_start: at,
            events: 12,
            samples: vec![AlertSample {
                uuid: Some("U-1".to_owned()),
                destination: Some("shop".to_owned()),
                detail: Some("HTTP 401".to_owned()),
                at,
            }],
            status: "waiting".to_owned(),
            attempts: 0,
            next_attempt_at: at,
            last_error: None,
            created_at: at,
            sent_at: None,
        }
    }

    #[test]
    fn the_email_names_the_count_the_place_and_the_samples_in_the_targets_language() {
        let (subject, body) = compose(&alert("blocked", "T1"), "pt");
        assert_eq!(
            subject,
            "[EAI] 12: destinos bloqueados (credenciais recusadas) (empresa T1, filial 01)"
        );
        assert_eq!(
            body,
            "destinos bloqueados (credenciais recusadas)\nempresa T1, filial 01\n\
             Quantidade: 12\nDesde: 2026-12-05 08:17:00 UTC\n\nExemplos:\n\
             - 08:17:00 U-1 | shop | HTTP 401\n\n-- \nEAI Worker (ops)\n"
        );
        let (subject, body) = compose(&alert("dead", ""), "en");
        assert_eq!(subject, "[EAI] 12: dead letters (every company)");
        assert!(
            body.contains("\nCount: 12\nSince: 2026-12-05 08:17:00 UTC\n"),
            "{body}"
        );
    }
}
