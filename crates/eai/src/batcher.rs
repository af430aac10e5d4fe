//! Micro-batches for a receiver: the ItemReserve and RetailSales envelopes
//! its consumers hold at once go to the store together
//! ([`Store::receive_batch`]), one database transaction for several of them.
//!
//! Each delivery hands its envelope over and waits for its own result, then
//! publishes its receipt and is acked as before: ack after commit is
//! untouched. A lane takes whatever is waiting, up to the batch size, as
//! one batch; with nothing else waiting a batch is one envelope, so no
//! envelope ever waits for company.
//!
//! There are [`LANES`] lanes, whatever the number of envelopes in flight.
//! Batches of the same stock queue up on its locks (a batch of 128
//! reservations of 3 items locks about a third of a thousand products), so
//! a third batch would only wait: two keep the database busy, one holding
//! the stock locks while the next reads what it needs (BENCHMARKS.md: four
//! lanes at 512 in flight answered 2,844 ItemReserves/s where two answered
//! 3,368). Envelopes in flight beyond the two batches gather meanwhile: at
//! the default 256 (two batches of 128) a committing lane finds a handful
//! waiting and the batches go 23, 106 and 127 envelopes in turn; at 512
//! every batch held 128.
//!
//! A batch that panics is run again one envelope at a time; the envelope
//! that panics alone has its panic raised in its delivery's task, where the
//! receiver answers it like any other panic.
//!
//! The lanes end after the last handle is dropped and every envelope handed
//! over was answered, so a worker shutting down drains them like its consumers.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eai_protocol::Envelope;
use eai_store::{Inbound, Received, ReplyRoute, Store, StoreError, WorkerIdentity};
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Batches in the database at once (see the module documentation).
pub const LANES: usize = 2;

/// Where a receiver hands the envelopes it processes in batches.
#[derive(Debug, Clone)]
pub struct Batcher {
    requests: mpsc::Sender<Request>,
}

/// An envelope handed over, with what [`Inbound`] borrows, and where its result goes.
#[derive(Debug)]
struct Request {
    envelope: Envelope<'static>,
    body: Vec<u8>,
    received_at: DateTime<Utc>,
    route: ReplyRoute,
    max_waits: usize,
    reply: oneshot::Sender<Result<Result<Received, StoreError>, Panicked>>,
}

/// A panic while processing one envelope, with its message.
#[derive(Debug)]
struct Panicked(String);

impl Batcher {
    /// The largest envelope handed over, in bytes: a larger one is stored
    /// alone, so it is never copied and a batch stays small in memory.
    pub const MAX_BODY: usize = 256 << 10;

    /// The handle and the task running [`LANES`] lanes of at most `size`
    /// envelopes per batch (spawn it).
    pub fn start(
        store: Store,
        identity: WorkerIdentity,
        size: usize,
    ) -> (Batcher, impl std::future::Future<Output = ()>) {
        let size = size.max(1);
        let (requests, handed) = mpsc::channel(size * LANES);
        let handed = Arc::new(Mutex::new(handed));
        let running = futures_util::future::join_all(
            (0..LANES)
                .map(move |_| lane(store.clone(), identity.clone(), Arc::clone(&handed), size)),
        );
        (Batcher { requests }, async move {
            running.await;
        })
    }

    /// Handles `inbound` with the envelopes handed over with it, as
    /// [`Store::receive`] would alone.
    pub async fn receive(&self, inbound: &Inbound<'_>) -> Result<Received, StoreError> {
        let (reply, result) = oneshot::channel();
        let request = Request {
            envelope: inbound.envelope.detach(),
            body: inbound.body.to_vec(),
            received_at: inbound.received_at,
            route: inbound.route.clone(),
            max_waits: inbound.max_waits,
            reply,
        };
        let stopped = || StoreError::Unavailable("the receiver's batches have stopped".to_owned());
        self.requests.send(request).await.map_err(|_| stopped())?;
        match result.await.map_err(|_| stopped())? {
            Ok(received) => received,
            Err(Panicked(message)) => std::panic::resume_unwind(Box::new(message)),
        }
    }
}

async fn lane(
    store: Store,
    identity: WorkerIdentity,
    handed: Arc<Mutex<mpsc::Receiver<Request>>>,
    size: usize,
) {
    let mut batch = Vec::with_capacity(size);
    loop {
        if handed.lock().await.recv_many(&mut batch, size).await == 0 {
            return;
        }
        let inbounds: Vec<Inbound<'_>> = batch.iter().map(Request::inbound).collect();
        let together = AssertUnwindSafe(store.receive_batch(&identity, &inbounds))
            .catch_unwind()
            .await;
        let results = match together {
            Ok(results) => results.into_iter().map(Ok).collect(),
            Err(_) => {
                let mut alone = Vec::with_capacity(inbounds.len());
                for inbound in &inbounds {
                    alone.push(
                        AssertUnwindSafe(store.receive(&identity, inbound))
                            .catch_unwind()
                            .await
                            .map_err(|panic| Panicked(crate::receiver::panic_message(&*panic))),
                    );
                }
                alone
            }
        };
        drop(inbounds);
        for (request, result) in batch.drain(..).zip(results) {
            // A delivery that stopped waiting (its worker shutting down) needs no answer.
            let _ = request.reply.send(result);
        }
    }
}

impl Request {
    fn inbound(&self) -> Inbound<'_> {
        Inbound {
            envelope: &self.envelope,
            body: &self.body,
            received_at: self.received_at,
            route: self.route.clone(),
            max_waits: self.max_waits,
        }
    }
}
