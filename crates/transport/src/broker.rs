//! [`Broker`]: one connection kept alive, with our own recovery.
//!
//! lapin's automatic recovery can hang on a peer that accepts TCP and never
//! answers, leaving a worker with no consumers while it looks healthy. So the
//! broker handle does it itself, with every step bounded: connect (TCP and
//! handshake within the endpoint's timeout), declare the topology, hand the
//! connection out; then watch it — lapin's heartbeat, the connection's
//! status, and a round trip on a probe channel every `probe_interval` that
//! must answer within `probe_timeout` — and as soon as one says it is gone,
//! drop it and connect again with backoff until shutdown.
//!
//! Users never hold a dead connection for long: [`Broker::connection`] waits
//! for the current one, consumers re-subscribe on each new one
//! ([`crate::Consumer`]) and the publisher opens its channel on it
//! ([`crate::Publisher`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use lapin::options::BasicQosOptions;
use lapin::{Channel, Connection};
use tokio::sync::watch;

use crate::{Endpoint, Topology, TransportError};

/// How the supervisor watches a connection.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// Time between two probe round trips.
    pub probe_interval: Duration,
    /// Longest a probe round trip may take before the connection counts as lost.
    pub probe_timeout: Duration,
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            probe_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(2),
        }
    }
}

/// A connection and the number of connections made before it, so a user
/// can tell a new connection from the one it saw fail.
#[derive(Clone)]
struct Link {
    generation: u64,
    connection: Option<Arc<Connection>>,
}

struct Shared {
    endpoint: Endpoint,
    topology: Option<Topology>,
    watch: Watch,
    link: watch::Sender<Link>,
    /// The generation of the last connection a user found broken.
    lost: watch::Sender<u64>,
}

/// A handle on the broker connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    shared: Arc<Shared>,
}

impl Broker {
    /// Connects, retrying with backoff for at most `patience`, and declares
    /// `topology` (when given) on the connection. The error names the address
    /// and the last reason.
    pub async fn connect(
        endpoint: Endpoint,
        topology: Option<Topology>,
        watch: Watch,
        patience: Duration,
    ) -> Result<Broker, TransportError> {
        let connection =
            establish_with_backoff(&endpoint, topology.as_ref(), Some(patience)).await?;
        let (link, _) = watch::channel(Link {
            generation: 1,
            connection: Some(Arc::new(connection)),
        });
        let (lost, _) = watch::channel(0);
        Ok(Broker {
            shared: Arc::new(Shared {
                endpoint,
                topology,
                watch,
                link,
                lost,
            }),
        })
    }

    /// `host:port` of the broker.
    pub fn address(&self) -> String {
        self.shared.endpoint.address()
    }

    /// How long one connection attempt, or one subscription, may take.
    pub fn timeout(&self) -> Duration {
        self.shared.endpoint.connect_timeout()
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.shared
            .link
            .borrow()
            .connection
            .as_ref()
            .is_some_and(|connection| connection.status().connected())
    }

    /// The current connection, waiting while there is none. Cancel-safe.
    pub async fn connection(&self) -> Arc<Connection> {
        let mut link = self.shared.link.subscribe();
        loop {
            if let Some(connection) = link.borrow_and_update().connection.clone() {
                return connection;
            }
            if link.changed().await.is_err() {
                // The sender lives in `shared`, which we hold: unreachable,
                // but waiting forever is the honest answer.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Completes once `seen` is no longer the current connection (the
    /// supervisor found it broken and dropped it): a consumer subscribed on it
    /// must subscribe again, whatever lapin says of the old one.
    pub async fn replaced(&self, seen: &Arc<Connection>) {
        let mut link = self.shared.link.subscribe();
        loop {
            let current = link.borrow_and_update().connection.clone();
            if !current.is_some_and(|current| Arc::ptr_eq(&current, seen)) {
                return;
            }
            if link.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Says the connection `seen` failed a user (a publish that timed out, a
    /// channel that would not open); the supervisor replaces it.
    pub fn report_lost(&self, seen: &Arc<Connection>) {
        let link = self.shared.link.borrow().clone();
        if link
            .connection
            .is_some_and(|current| Arc::ptr_eq(&current, seen))
        {
            self.shared.lost.send_replace(link.generation);
        }
    }

    /// Keeps a connection up until `shutdown` completes: watches the current
    /// one and replaces it when it fails, calling `reconnected` once the new
    /// one is up. Call once, in a task of its own.
    pub async fn supervise(&self, shutdown: impl Future<Output = ()>, reconnected: impl Fn()) {
        tokio::pin!(shutdown);
        loop {
            let current = self.shared.link.borrow().clone();
            let reason = match current.connection {
                Some(connection) => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        reason = self.watch(&connection, current.generation) => reason,
                    }
                }
                None => "no connection".to_owned(),
            };
            tracing::warn!(address = %self.address(), %reason, "broker connection lost; reconnecting");
            self.replace(None);
            let connection = tokio::select! {
                () = &mut shutdown => return,
                connection = self.reconnect() => connection,
            };
            self.replace(Some(connection));
            reconnected();
        }
    }

    /// Closes the connection, waiting at most the connect timeout: the last
    /// step of a shutdown, once every user has finished with it.
    pub async fn close(&self) {
        let mut current = None;
        self.shared
            .link
            .send_modify(|link| current = link.connection.take());
        if let Some(connection) = current {
            tokio::time::timeout(
                self.shared.endpoint.connect_timeout(),
                connection.close(200, "shutting down".into()),
            )
            .await
            .ok();
        }
    }

    fn replace(&self, connection: Option<Connection>) {
        self.shared.link.send_modify(|link| {
            if let Some(old) = link.connection.take() {
                tokio::spawn(close_quietly(old));
            }
            if let Some(connection) = connection {
                link.generation += 1;
                link.connection = Some(Arc::new(connection));
            }
        });
    }

    /// Returns why `connection` is no longer usable, checking it every probe interval.
    async fn watch(&self, connection: &Arc<Connection>, generation: u64) -> String {
        let Watch {
            probe_interval,
            probe_timeout,
        } = self.shared.watch;
        let mut lost = self.shared.lost.subscribe();
        let mut probe: Option<Channel> = None;
        loop {
            if *lost.borrow_and_update() == generation {
                return "a user found it unresponsive".to_owned();
            }
            tokio::select! {
                _ = lost.changed() => continue,
                () = tokio::time::sleep(probe_interval) => {}
            }
            if !connection.status().connected() {
                return "the connection closed".to_owned();
            }
            let round_trip = async {
                let channel = match probe.take() {
                    Some(channel) if channel.status().connected() => channel,
                    _ => connection.create_channel().await?,
                };
                channel.basic_qos(1, BasicQosOptions::default()).await?;
                Ok::<Channel, lapin::Error>(channel)
            };
            match tokio::time::timeout(probe_timeout, round_trip).await {
                Ok(Ok(channel)) => probe = Some(channel),
                Ok(Err(error)) => return format!("probe failed: {error}"),
                Err(_) => {
                    return format!(
                        "no answer to a probe within {} ms",
                        probe_timeout.as_millis()
                    )
                }
            }
        }
    }

    /// Connects again, with backoff, until it works (without patience the
    /// backoff never gives up, so the loop only restates that).
    async fn reconnect(&self) -> Connection {
        let (endpoint, topology) = (&self.shared.endpoint, self.shared.topology.as_ref());
        loop {
            if let Ok(connection) = establish_with_backoff(endpoint, topology, None).await {
                return connection;
            }
        }
    }
}

/// [`establish`] again with backoff until it works or, when given,
/// `patience` would run out before the next try; the error names the address
/// and the last reason.
async fn establish_with_backoff(
    endpoint: &Endpoint,
    topology: Option<&Topology>,
    patience: Option<Duration>,
) -> Result<Connection, TransportError> {
    let started = Instant::now();
    let mut delays = backoff().build();
    loop {
        let error = match establish(endpoint, topology).await {
            Ok(connection) => return Ok(connection),
            Err(error) => error,
        };
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        if patience.is_some_and(|patience| started.elapsed() + delay > patience) {
            let reason = match error {
                TransportError::Unreachable { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(TransportError::GaveUp {
                address: endpoint.address(),
                waited: started.elapsed(),
                reason,
            });
        }
        tracing::warn!(address = %endpoint.address(), %error, ?delay, "broker not reachable yet");
        tokio::time::sleep(delay).await;
    }
}

/// Connects once and declares the topology, the whole bounded by the connect timeout.
async fn establish(
    endpoint: &Endpoint,
    topology: Option<&Topology>,
) -> Result<Connection, TransportError> {
    let connection = endpoint.connect().await?;
    if let Some(topology) = topology {
        let declared = tokio::time::timeout(endpoint.connect_timeout(), async {
            let channel = connection.create_channel().await?;
            topology.declare(&channel).await?;
            channel.close(200, "topology declared".into()).await.ok();
            Ok::<(), TransportError>(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(TransportError::Unreachable {
                address: endpoint.address(),
                reason: "declaring the topology timed out".to_owned(),
            })
        });
        if let Err(error) = declared {
            close_quietly(Arc::new(connection)).await;
            return Err(error);
        }
    }
    Ok(connection)
}

/// Closes a connection nobody uses any more, giving up after a second: a
/// silent peer must not hold anything.
async fn close_quietly(connection: Arc<Connection>) {
    if connection.status().connected() {
        tokio::time::timeout(
            Duration::from_secs(1),
            connection.close(200, "replaced".into()),
        )
        .await
        .ok();
    }
}

/// Reconnection delays: 200 ms doubling to 5 s, jittered, so a fleet does not
/// reconnect in lockstep.
pub(crate) fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
}
