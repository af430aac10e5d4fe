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
//! There are [`LANES`] lanes, whatever the number of envelopes in flight,
//! and a lane's batch leaves out the envelopes that touch what the other
//! lane's running batch touches ([`Envelope::touches`]: the documents they
//! are about and the stock a reservation's items name), so the two batches'
//! locks do not overlap and both run at once. The envelopes after one left
//! out that touch what it touches are left out with it, so no later
//! envelope touching what an earlier one touches is taken before it; a
//! reservation that follows a sale taken into the batch and names a
//! document of that sale is left out too (the store runs a batch's
//! reservations before its sales). A batch names at most
//! [`MAX_STOCK_KEYS`] stock keys, so the store locks them one by one, not
//! their branch whole (which would make the other lane wait again). When
//! everything waiting touches the running batch, the lane waits for it to
//! finish or for an envelope that does not. Names are compared as sent: two
//! codes that de/para maps to one product still meet on the store's locks,
//! which keep them apart as always. Envelopes that run alone (larger than
//! [`Batcher::MAX_BODY`], cancellations) do not come through the lanes.
//!
//! Two lanes, not more: a third batch finds most of what is waiting
//! touching one of the two running (a batch of 85 reservations of 3 items
//! names about a quarter of a thousand products' stock), and each lane holds up to
//! [`MAX_STOCK_KEYS`] locks of PostgreSQL's shared lock table
//! (BENCHMARKS.md: three lanes answered as many ItemReserves as two).
//!
//! The lanes run on a thread of their own (`eai-lanes`, a single-threaded
//! runtime) with a PostgreSQL pool of their own, one connection per lane,
//! whose sockets that runtime watches. A batch is a chain of statements,
//! each waiting for the last one's answer; on the worker's main runtime
//! that answer waited behind hundreds of deliveries' tasks (and for a
//! thread to look at its I/O), and the chain with it. On SQLite the lanes
//! share the process's one connection, whose I/O has its own thread.
//!
//! A batch that panics is run again one envelope at a time; the envelope
//! that panics alone has its panic raised in its delivery's task, where the
//! receiver answers it like any other panic.
//!
//! The lanes end after the last handle is dropped and every envelope handed
//! over was answered, so a worker shutting down drains them like its consumers.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eai_protocol::{Envelope, Transaction};
use eai_store::locks::MAX_STOCK_KEYS;
use eai_store::{Inbound, Received, ReplyRoute, Store, StoreError, WorkerIdentity};
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

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
    touched: Touched,
    reply: oneshot::Sender<Answered>,
}

/// A request's result, with the copies it was handed over with: they go
/// back to be freed on the delivery's thread, which made them, instead of
/// costing the lane (freeing another thread's blocks costs the freeing thread more).
#[derive(Debug)]
struct Answered {
    result: Result<Result<Received, StoreError>, Panicked>,
    envelope: Envelope<'static>,
    body: Vec<u8>,
}

/// What an envelope touches, hashed: its documents and stock alike (a
/// collision only keeps two envelopes apart that could have run at once).
#[derive(Debug)]
struct Touched {
    documents: Vec<u64>,
    stock: Vec<u64>,
    /// A RetailSales envelope (the store runs a batch's sales after its reservations).
    sale: bool,
}

/// A panic while processing one envelope, with its message.
#[derive(Debug)]
struct Panicked(String);

/// What the lanes share: the envelopes handed over and what each lane's
/// running batch touches.
#[derive(Debug)]
struct Lanes {
    intake: Mutex<Intake>,
    running: std::sync::Mutex<[HashSet<u64>; LANES]>,
    finished: Notify,
}

/// The envelopes handed over and not yet in a batch.
#[derive(Debug)]
struct Intake {
    handed: mpsc::Receiver<Request>,
    /// Taken off the channel and left out of a batch so far, in arrival order.
    waiting: VecDeque<Request>,
    /// The last handle was dropped: nothing more will be handed over.
    closed: bool,
}

impl Batcher {
    /// The largest envelope handed over, in bytes: a larger one is stored
    /// alone, so it is never copied and a batch stays small in memory.
    pub const MAX_BODY: usize = 256 << 10;

    /// The handle and the lanes, [`LANES`] of at most `size` envelopes per
    /// batch, running on a thread of their own; the future ends when they
    /// have (await it, or spawn it).
    pub fn start(
        store: &Store,
        identity: WorkerIdentity,
        size: usize,
    ) -> std::io::Result<(Batcher, impl std::future::Future<Output = ()>)> {
        let size = size.max(1);
        let (requests, handed) = mpsc::channel(size * LANES);
        let lanes = Arc::new(Lanes {
            intake: Mutex::new(Intake {
                handed,
                waiting: VecDeque::new(),
                closed: false,
            }),
            running: std::sync::Mutex::new(Default::default()),
            finished: Notify::new(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let store = store.clone();
        let (ended, done) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("eai-lanes".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let own = store.on_a_pool_of_its_own(LANES as u32);
                    let store = own.clone().unwrap_or(store);
                    futures_util::future::join_all((0..LANES).map(|lane_index| {
                        lane(
                            store.clone(),
                            identity.clone(),
                            Arc::clone(&lanes),
                            lane_index,
                            size,
                        )
                    }))
                    .await;
                    if let Some(own) = own {
                        own.close().await;
                    }
                });
                // Dropped unsent if the thread panicked: the future ends all the same.
                let _ = ended.send(());
            })?;
        Ok((Batcher { requests }, async move {
            let _ = done.await;
        }))
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
            touched: Touched::of(inbound.envelope),
            reply,
        };
        let stopped = || StoreError::Unavailable("the receiver's batches have stopped".to_owned());
        self.requests.send(request).await.map_err(|_| stopped())?;
        let Answered {
            result,
            envelope,
            body,
        } = result.await.map_err(|_| stopped())?;
        drop((envelope, body));
        match result {
            Ok(received) => received,
            Err(Panicked(message)) => std::panic::resume_unwind(Box::new(message)),
        }
    }
}

async fn lane(
    store: Store,
    identity: WorkerIdentity,
    lanes: Arc<Lanes>,
    index: usize,
    size: usize,
) {
    while let Some(batch) = lanes.next_batch(index, size).await {
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
        lanes.finish(index);
        for (request, result) in batch.into_iter().zip(results) {
            // A delivery that stopped waiting (its worker shutting down) needs no answer.
            let Request {
                envelope,
                body,
                reply,
                ..
            } = request;
            let _ = reply.send(Answered {
                result,
                envelope,
                body,
            });
        }
    }
}

impl Lanes {
    /// Lane `lane`'s next batch: at most `size` envelopes, none touching
    /// what another lane's running batch touches; `None` once nothing more
    /// will come.
    async fn next_batch(&self, lane: usize, size: usize) -> Option<Vec<Request>> {
        let mut intake = self.intake.lock().await;
        loop {
            if intake.waiting.is_empty() && !intake.closed {
                match intake.handed.recv().await {
                    Some(request) => intake.waiting.push_back(request),
                    None => intake.closed = true,
                }
            }
            while let Ok(request) = intake.handed.try_recv() {
                intake.waiting.push_back(request);
            }
            if intake.waiting.is_empty() {
                return None;
            }
            let busy: HashSet<u64> = {
                let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                running
                    .iter()
                    .enumerate()
                    .filter(|(other, _)| *other != lane)
                    .flat_map(|(_, touched)| touched.iter().copied())
                    .collect()
            };
            let (batch, touched) = choose(&mut intake.waiting, busy, size);
            if !batch.is_empty() {
                self.running.lock().unwrap_or_else(|e| e.into_inner())[lane] = touched;
                return Some(batch);
            }
            // Everything waiting touches a running batch: wait for it to
            // finish, or for an envelope that may not touch it.
            let open = !intake.closed;
            tokio::select! {
                () = self.finished.notified() => {}
                handed = intake.handed.recv(), if open => match handed {
                    Some(request) => intake.waiting.push_back(request),
                    None => intake.closed = true,
                },
            }
        }
    }

    /// Lane `lane`'s batch was committed or rolled back: what it touched is free.
    fn finish(&self, lane: usize) {
        self.running.lock().unwrap_or_else(|e| e.into_inner())[lane].clear();
        self.finished.notify_one();
    }
}

/// Takes a batch out of `waiting`, in order: at most `size` envelopes and
/// [`MAX_STOCK_KEYS`] stock keys, none touching `busy` or an envelope left
/// out before it, and no reservation naming a document of a sale taken
/// before it. The first envelope that touches nothing busy is always taken,
/// however much stock it names. Returns the batch and what it touches.
fn choose(
    waiting: &mut VecDeque<Request>,
    mut busy: HashSet<u64>,
    size: usize,
) -> (Vec<Request>, HashSet<u64>) {
    let mut batch = Vec::new();
    let mut touched: HashSet<u64> = HashSet::new();
    let mut stock: HashSet<u64> = HashSet::new();
    let mut sold: HashSet<u64> = HashSet::new();
    let mut left = VecDeque::with_capacity(waiting.len());
    while let Some(request) = waiting.pop_front() {
        if batch.len() == size {
            left.push_back(request);
            left.append(waiting);
            break;
        }
        let named = &request.touched;
        let keys = || named.documents.iter().chain(&named.stock);
        let free = keys().all(|key| !busy.contains(key))
            && (named.sale || named.documents.iter().all(|key| !sold.contains(key)));
        let within_cap = || {
            let added = named.stock.iter().filter(|key| !stock.contains(*key));
            stock.len() + added.count() <= MAX_STOCK_KEYS
        };
        if free && (batch.is_empty() || within_cap()) {
            touched.extend(keys());
            stock.extend(&named.stock);
            if named.sale {
                sold.extend(&named.documents);
            }
            batch.push(request);
        } else {
            busy.extend(keys());
            left.push_back(request);
        }
    }
    *waiting = left;
    (batch, touched)
}

impl Touched {
    fn of(envelope: &Envelope<'_>) -> Touched {
        let touches = envelope.touches();
        let hashed = |names: Vec<String>| {
            names
                .into_iter()
                .map(|name| {
                    let mut hasher = DefaultHasher::new();
                    name.hash(&mut hasher);
                    hasher.finish()
                })
                .collect()
        };
        Touched {
            documents: hashed(touches.documents),
            stock: hashed(touches.stock),
            sale: matches!(envelope.transaction(), Ok(Transaction::RetailSales)),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A waiting ItemReserve `id` of `products`.
    fn reservation(id: &str, products: &[&str]) -> Request {
        let items: Vec<_> = products
            .iter()
            .map(|code| json!({"ItemCode": code, "Quantity": 1}))
            .collect();
        request(json!({
            "Header": {"UUID": id, "Transaction": "ItemReserve", "ProductName": "SHOP"},
            "Content": {"InternalId": id, "ReserveItemType": {"Item": items}}
        }))
    }

    /// A waiting RetailSales `id` of `product`, consuming reservation `reserved`.
    fn sale(id: &str, product: &str, reserved: &str) -> Request {
        request(json!({
            "Header": {"UUID": id, "Transaction": "RetailSales", "ProductName": "SHOP"},
            "Content": {"InternalId": id, "ListOfSaleItem": [
                {"ItemCode": product, "ItemReserveInternalId": reserved}
            ]}
        }))
    }

    fn request(envelope: serde_json::Value) -> Request {
        let body = envelope.to_string();
        let envelope = Envelope::parse(body.as_bytes())
            .expect("an envelope")
            .detach();
        Request {
            touched: Touched::of(&envelope),
            envelope,
            body: body.into_bytes(),
            received_at: Utc::now(),
            route: ReplyRoute {
                exchange: String::new(),
                routing_key: String::new(),
                correlation_id: None,
            },
            max_waits: 0,
            reply: oneshot::channel().0,
        }
    }

    fn refs(codes: &[String]) -> Vec<&str> {
        codes.iter().map(String::as_str).collect()
    }

    fn ids(requests: &[Request]) -> Vec<&str> {
        requests
            .iter()
            .map(|request| request.envelope.uuid())
            .collect()
    }

    fn busy(requests: &[Request]) -> HashSet<u64> {
        requests
            .iter()
            .flat_map(|request| {
                request
                    .touched
                    .documents
                    .iter()
                    .chain(&request.touched.stock)
            })
            .copied()
            .collect()
    }

    #[test]
    fn a_batch_leaves_out_what_the_running_batch_touches_and_what_follows_it() {
        let running = [reservation("R0", &["P2"])];
        let mut waiting: VecDeque<Request> = [
            reservation("A", &["P1"]),
            reservation("B", &["P2", "P4"]),
            reservation("C", &["P1"]),
            reservation("D", &["P4"]),
            reservation("E", &["P3"]),
        ]
        .into();
        let (batch, touched) = choose(&mut waiting, busy(&running), 10);
        assert_eq!(ids(&batch), ["A", "C", "E"], "D follows B on P4");
        assert_eq!(touched, busy(&batch));
        let left: Vec<Request> = waiting.into();
        assert_eq!(ids(&left), ["B", "D"], "left out in their order");
    }

    #[test]
    fn a_later_message_about_a_document_left_out_is_left_out_too() {
        let running = [reservation("R0", &["P1"])];
        let mut waiting: VecDeque<Request> =
            [reservation("A", &["P1"]), reservation("A", &["P2"])].into();
        let (batch, _) = choose(&mut waiting, busy(&running), 10);
        assert!(batch.is_empty(), "the second A must not overtake the first");
        assert_eq!(waiting.len(), 2);
    }

    #[test]
    fn a_batch_names_at_most_the_stock_keys_locked_one_by_one() {
        let named = |from: usize| -> Vec<String> {
            (from..from + MAX_STOCK_KEYS / 2)
                .map(|n| format!("P{n}"))
                .collect()
        };
        let (first, second, third) = (named(0), named(MAX_STOCK_KEYS / 2), named(MAX_STOCK_KEYS));
        let mut waiting: VecDeque<Request> = [
            reservation("A", &refs(&first)),
            reservation("B", &refs(&second)),
            reservation("C", &refs(&third)),
            reservation("D", &["P0"]),
        ]
        .into();
        let (batch, _) = choose(&mut waiting, HashSet::new(), 10);
        assert_eq!(ids(&batch), ["A", "B", "D"], "D names a product already in");
        let left: Vec<Request> = waiting.into();
        assert_eq!(ids(&left), ["C"]);

        let whole: Vec<String> = (0..MAX_STOCK_KEYS + 1).map(|n| format!("P{n}")).collect();
        let mut waiting: VecDeque<Request> = [reservation("big", &refs(&whole))].into();
        let (batch, _) = choose(&mut waiting, HashSet::new(), 10);
        assert_eq!(
            ids(&batch),
            ["big"],
            "an envelope alone is taken whatever it names"
        );
    }

    #[test]
    fn a_reservation_after_a_sale_of_its_document_waits_for_the_next_batch() {
        let mut waiting: VecDeque<Request> = [
            sale("S1", "P1", "R1"),
            reservation("R1", &["P2"]),
            reservation("R2", &["P3"]),
        ]
        .into();
        let (batch, _) = choose(&mut waiting, HashSet::new(), 10);
        assert_eq!(
            ids(&batch),
            ["S1", "R2"],
            "the store would run R1 before S1 in one batch"
        );
        let left: Vec<Request> = waiting.into();
        assert_eq!(ids(&left), ["R1"]);
    }

    #[test]
    fn a_sale_shares_no_stock_with_a_running_reservation() {
        let running = [reservation("R0", &["P1"])];
        let mut waiting: VecDeque<Request> =
            [sale("S1", "P1", "R1"), sale("S0", "P2", "R0")].into();
        let (batch, _) = choose(&mut waiting, busy(&running), 10);
        assert_eq!(
            ids(&batch),
            ["S1"],
            "a sale consuming the running reservation waits for it; one of its product does not"
        );
    }

    #[test]
    fn a_batch_holds_at_most_its_size() {
        let mut waiting: VecDeque<Request> = ["A", "B", "C"]
            .into_iter()
            .map(|id| reservation(id, &[id]))
            .collect();
        let (batch, _) = choose(&mut waiting, HashSet::new(), 2);
        assert_eq!(ids(&batch), ["A", "B"]);
        let left: Vec<Request> = waiting.into();
        assert_eq!(ids(&left), ["C"]);
    }
}
