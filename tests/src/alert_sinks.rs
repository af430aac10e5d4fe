//! Where alerts land in tests: a small SMTP server (EHLO, AUTH PLAIN, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no TLS) that keeps every message it is
//! given, and a webhook receiver that keeps every POST with its signature.
//! Both listen on an OS-picked port of 127.0.0.1, or on one a test chose.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message the SMTP sink accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The `AUTH PLAIN` argument (base64), if the client authenticated.
    pub auth: Option<String>,
    pub from: String,
    pub recipients: Vec<String>,
    /// Headers and body as sent, dot-unstuffed, lines joined with `\n`.
    pub data: String,
    pub received_at: Option<Instant>,
}

impl Mail {
    /// The value of header `name` (first line only).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    /// The body after the headers.
    pub fn body(&self) -> &str {
        self.data.split_once("\n\n").map_or("", |(_, body)| body)
    }
}

/// A running SMTP sink; stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// A sink on an OS-picked port.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on("127.0.0.1:0".parse().expect("literal address")).await
    }

    /// A sink on `addr` (a port a test reserved, to start the sink later).
    pub async fn start_on(addr: SocketAddr) -> SmtpSink {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|error| panic!("the SMTP sink cannot listen on {addr}: {error}"));
        let addr = listener.local_addr().expect("bound address");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&mails);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    converse(stream, kept).await.ok();
                });
            }
        });
        SmtpSink { addr, mails, task }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }

    /// Waits until `count` messages arrived (or `within` passed); returns them all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Mail> {
        crate::poll(
            within,
            Duration::from_millis(50),
            || self.mails(),
            |mails| mails.len() >= count,
        )
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SMTP session: answers each command, keeps each message.
async fn converse(stream: TcpStream, mails: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    writer.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            mail.auth = line.split_whitespace().nth(2).map(str::to_owned);
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = address(&line);
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.recipients.push(address(&line));
            b"250 ok\r\n"
        } else if upper == "DATA" {
            writer.write_all(b"354 end with .\r\n").await?;
            let mut data = Vec::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
            }
            mail.data = data.join("\n");
            mail.received_at = Some(Instant::now());
            let auth = mail.auth.clone();
            mails.lock().expect("mails").push(std::mem::take(&mut mail));
            mail.auth = auth;
            b"250 kept\r\n"
        } else if upper == "QUIT" {
            writer.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 ok\r\n"
        } else {
            b"502 not implemented\r\n"
        };
        writer.write_all(answer).await?;
    }
    Ok(())
}

/// The address of a `MAIL FROM:<a>` or `RCPT TO:<a>` line.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(String::new(), |(address, _)| address.to_owned())
}

/// An address no one listens on (reserved, then released).
pub async fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    listener.local_addr().expect("bound address")
}

/// One POST the webhook receiver took.
#[derive(Debug, Clone)]
pub struct Hook {
    pub signature: Option<String>,
    pub body: Bytes,
}

/// A running webhook receiver (`POST /hook` answers 204); stops when dropped.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    hooks: Arc<Mutex<Vec<Hook>>>,
    task: JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        async fn receive(
            State(hooks): State<Arc<Mutex<Vec<Hook>>>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> axum::http::StatusCode {
            let signature = headers
                .get("x-eai-signature")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            hooks.lock().expect("hooks").push(Hook { signature, body });
            axum::http::StatusCode::NO_CONTENT
        }
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&hooks));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        WebhookReceiver { addr, hooks, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Waits until `count` POSTs arrived (or `within` passed); returns them all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Hook> {
        crate::poll(
            within,
            Duration::from_millis(50),
            || self.hooks.lock().expect("hooks").clone(),
            |hooks| hooks.len() >= count,
        )
        .await
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
