//! Delivery to an HTTP destination: POST the envelope, read the answer.
//!
//! 2xx with an ok ReceiptMessage naming our UUID is delivered; 2xx with an
//! error receipt, or any other 4xx, is rejected; 401/403 blocks the
//! destination; 5xx and connection errors are retried; no answer within the
//! timeout is `not_delivered`.

use eai_protocol::receipt_status;
use eai_store::outbound::{Claimed, Settlement};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use super::timed_out;

/// How much of an error body a status keeps.
const SNIPPET: usize = 200;

/// One attempt to `message`'s HTTP destination.
pub async fn deliver(client: &reqwest::Client, message: &Claimed) -> Settlement {
    let destination = &message.destination;
    let Some(url) = destination.url.as_deref() else {
        return Settlement::Rejected(format!("destination {} has no URL", destination.name));
    };
    let mut request = client
        .post(url)
        .timeout(destination.timeout())
        .header(CONTENT_TYPE, "application/json")
        .body(message.body.clone());
    if let (Some(name), Some(value)) = (&destination.auth_header, &destination.auth_value) {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => return timed_out(message),
        Err(error) => {
            return Settlement::Failed(format!("POST {url} failed: {}", error.without_url()))
        }
    };
    let status = response.status();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) if error.is_timeout() => return timed_out(message),
        Err(error) => {
            return Settlement::Failed(format!(
                "reading the answer failed: {}",
                error.without_url()
            ))
        }
    };
    judge(status, &body, &message.uuid)
}

/// The status an HTTP answer earns.
fn judge(status: StatusCode, body: &[u8], uuid: &str) -> Settlement {
    let snippet = || {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        match text.char_indices().nth(SNIPPET) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        }
    };
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Settlement::Blocked(format!(
            "HTTP {status}: the destination refused our credentials"
        ));
    }
    if status.is_success() {
        return match receipt_status(body) {
            Some(receipt) if receipt.received_uuid != uuid => Settlement::Rejected(format!(
                "HTTP {status} with a receipt for {} instead of {uuid}",
                receipt.received_uuid
            )),
            Some(receipt) if receipt.ok => Settlement::Done,
            Some(receipt) => Settlement::Rejected(format!("error receipt: {}", receipt.message)),
            None => Settlement::Rejected(format!(
                "HTTP {status} without a ReceiptMessage: {}",
                snippet()
            )),
        };
    }
    if status.is_client_error() {
        return Settlement::Rejected(format!("HTTP {status}: {}", snippet()));
    }
    Settlement::Failed(format!("HTTP {status}: {}", snippet()))
}
