//! The sender's drain to a local HTTP destination, against its baseline:
//! the same POSTs, each followed by one committed UPDATE, at the sender's
//! concurrency — what delivering from a table costs without the outbox's
//! bookkeeping.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use eai_protocol::{Envelope, Receipt, ReceiptOrigin};
use futures_util::{stream, StreamExt, TryStreamExt};
use sqlx::PgPool;

use crate::envelopes::{self, COMPANY, DRAIN_BRANCH};

/// An HTTP destination answering every POST with an `ok` receipt.
pub struct Destination {
    pub address: SocketAddr,
}

impl Destination {
    pub async fn start() -> anyhow::Result<Destination> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = Router::new().route("/eai", post(receive));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Destination { address })
    }

    pub fn url(&self) -> String {
        format!("http://{}/eai", self.address)
    }
}

async fn receive(body: Bytes) -> Vec<u8> {
    let now = Utc::now();
    let origin = ReceiptOrigin {
        source_application: "DESTINATION".to_owned(),
        product_name: "DESTINATION".to_owned(),
        max_details: eai_protocol::DEFAULT_MAX_DETAILS,
    };
    let summary = Envelope::parse(&body)
        .map(|envelope| envelope.summary())
        .unwrap_or_default();
    Receipt::new(&origin, &summary, now, now, Vec::new(), Vec::new()).to_bytes()
}

/// Messages per second of the baseline: `count` POSTs, each then one
/// committed UPDATE, `concurrency` at a time.
pub async fn baseline(
    pool: &PgPool,
    destination: &Destination,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    sqlx::query("TRUNCATE baseline_outbox")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO baseline_outbox (id, status) SELECT n, 'waiting' FROM generate_series(1, $1) n",
    )
    .bind(count as i64)
    .execute(pool)
    .await?;
    let client = reqwest::Client::new();
    let url = destination.url();
    let started = Instant::now();
    stream::iter(1..=count as i64)
        .map(|id| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let uuid = uuid::Uuid::new_v4().to_string();
                let answer = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(envelopes::stock_level(&uuid, id as usize))
                    .send()
                    .await?
                    .bytes()
                    .await?;
                let ok = eai_protocol::receipt_status(&answer).is_some_and(|receipt| receipt.ok);
                sqlx::query("UPDATE baseline_outbox SET status = $2 WHERE id = $1")
                    .bind(id)
                    .bind(if ok { "done" } else { "rejected" })
                    .execute(pool)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let done: i64 =
        sqlx::query_scalar("SELECT count(*) FROM baseline_outbox WHERE status = 'done'")
            .fetch_one(pool)
            .await?;
    if done != count as i64 {
        bail!("the baseline delivered {done} of {count}");
    }
    Ok(rate)
}

/// Messages per second the worker's sender delivers: `count` messages
/// enqueued at once, timed until the last is `done`.
pub async fn sender(pool: &PgPool, count: usize) -> anyhow::Result<f64> {
    let before: i64 = done_messages(pool).await?;
    let mut tx = pool.begin().await?;
    for n in 0..count {
        let uuid = uuid::Uuid::new_v4().to_string();
        eai_store::outbound::enqueue_routed(
            &mut eai_store::Conn::Postgres(&mut tx),
            COMPANY,
            DRAIN_BRANCH,
            "StockLevel",
            &uuid,
            &envelopes::stock_level(&uuid, n),
            &format!("doc-{n}"),
        )
        .await
        .context("enqueueing a message")?;
    }
    tx.commit().await?;
    let started = Instant::now();
    // Fresh statistics, as autovacuum gives a production server after a bulk
    // change (this machine's server runs without it): estimated empty, the
    // outbox is claimed with plans that scan every message per message.
    sqlx::raw_sql("ANALYZE outbox").execute(pool).await?;
    let deadline = started + Duration::from_secs(120 + count as u64 / 10);
    while any_unsettled(pool).await? {
        if Instant::now() > deadline {
            bail!("the sender did not settle {count} messages in time");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let done = done_messages(pool).await? - before;
    if done != count as i64 {
        bail!("the sender delivered {done} of {count}");
    }
    Ok(rate)
}

/// Whether any message is still to settle, read from the end of the
/// sender's own index of claimable messages: messages are claimed in id
/// order, so the last ones settle last, and the entries the settled ones
/// left at the start are never walked while the sender works (counting
/// them every 10 ms took a third of the database's time from the sender it
/// measures).
async fn any_unsettled(pool: &PgPool) -> anyhow::Result<bool> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox
          WHERE kind = 'message' AND discarded_at IS NULL
            AND status IN ('waiting', 'failed', 'not_delivered', 'running')
          ORDER BY id DESC
          LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(last.is_some())
}

async fn done_messages(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE kind = 'message' AND status = 'done'",
        )
        .fetch_one(pool)
        .await?,
    )
}
