//! The webhook: the alert POSTed as JSON, signed when the target has a
//! signing secret: `X-EAI-Signature: sha256=<hex HMAC-SHA256 of the exact
//! body>`, which the receiver recomputes with the same key to trust it.

use std::time::Duration;

use eai_store::alerts::{Alert, AlertSample};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::Sha256;

use super::secret;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-EAI-Signature";

/// What the webhook receives.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub alert: i64,
    pub target: &'a str,
    /// `failed`, `blocked`, `dead` or `test`.
    pub reason: &'a str,
    pub company: &'a str,
    pub branch: &'a str,
    /// How many messages it counts.
    pub events: i32,
    pub window_start: chrono::DateTime<chrono::Utc>,
    pub samples: &'a [AlertSample],
}

/// `sha256=` and the hex HMAC-SHA256 of `body` with `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs `alert` to `url`; a 2xx within `timeout` is sent.
pub async fn send(
    http: &reqwest::Client,
    alert: &Alert,
    url: &str,
    signing_secret_ref: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let body = serde_json::to_vec(&Payload {
        alert: alert.id,
        target: &alert.target,
        reason: &alert.reason,
        company: &alert.company,
        branch: &alert.branch,
        events: alert.events,
        window_start: alert.window_start,
        samples: &alert.samples,
    })
    .map_err(|error| format!("encoding the alert failed: {error}"))?;
    let mut request = http
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(reference) = signing_secret_ref {
        let key = secret::resolve(reference).map_err(|error| error.to_string())?;
        request = request.header(
            SIGNATURE_HEADER,
            signature(key.expose_secret().as_bytes(), &body),
        );
    }
    let shown = shown(url);
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|error| format!("POST {shown}: {}", error.without_url()))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(format!("POST {shown}: HTTP {status}")),
    }
}

/// `url` as errors and logs name it: its scheme and host only, since many
/// webhook services carry their token in the path or the query.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/…", parsed.scheme()),
            (Some(host), None) => format!("{}://{host}/…", parsed.scheme()),
            (None, _) => "the webhook URL".to_owned(),
        },
        Err(_) => "the webhook URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_webhook_s_host_never_its_path_or_query() {
        assert_eq!(
            shown("https://hooks.example.com/services/T0/B0/s3cret?token=x"),
            "https://hooks.example.com/…"
        );
        assert_eq!(shown("http://127.0.0.1:9/hook"), "http://127.0.0.1:9/…");
        assert_eq!(shown("not a url"), "the webhook URL");
    }

    #[test]
    fn the_signature_is_rfc_4231s_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
