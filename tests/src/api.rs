//! Calls of a running worker's API.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// An answer of the API: status, headers and JSON body.
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub body: Value,
}

/// One call of the API at `addr`, with a bearer `token` and a JSON body when given.
pub async fn call_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{path}");
    let mut request = client.request(method.parse().expect("method"), url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"))
    };
    Answer {
        status,
        www_authenticate,
        body,
    }
}
