//! The HTTP side: liveness, readiness and Prometheus metrics.
//!
//! `/healthz` says the process runs; `/readyz` says it can do work right now
//! (broker consuming and database answering), so an orchestrator stops
//! routing to a worker that lost either and lets it recover by itself.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use eai_store::Store;
use eai_transport::lapin::Connection;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Whether the broker side can work: the receiver is consuming and the
/// connection is up (it is down while lapin recovers it).
#[derive(Default)]
pub struct Readiness {
    consuming: AtomicBool,
    connection: OnceLock<Arc<Connection>>,
}

impl Readiness {
    /// Readiness follows this connection's state from now on.
    pub fn watch(&self, connection: Arc<Connection>) {
        self.connection.set(connection).ok();
    }

    pub fn set_broker(&self, ready: bool) {
        self.consuming.store(ready, Ordering::Relaxed);
    }

    pub fn broker(&self) -> bool {
        let connected = self
            .connection
            .get()
            .is_none_or(|connection| connection.status().connected());
        connected && self.consuming.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    readiness: Arc<Readiness>,
    store: Store,
}

/// A bound listener, ready to serve.
pub struct HttpServer {
    pub addr: SocketAddr,
    listener: TcpListener,
    app: Router,
}

/// Binds `addr` (port 0 picks a free one, as tests do).
pub async fn bind(
    addr: SocketAddr,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    store: Store,
) -> std::io::Result<HttpServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState {
            metrics,
            readiness,
            store,
        });
    Ok(HttpServer {
        addr,
        listener,
        app,
    })
}

impl HttpServer {
    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let broker = state.readiness.broker();
    let database = state.store.ping().await.is_ok();
    let body = serde_json::json!({ "broker": broker, "database": database }).to_string();
    let status = if broker && database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
