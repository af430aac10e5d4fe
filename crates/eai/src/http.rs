//! The HTTP side: liveness, readiness and Prometheus metrics, open to
//! all, beside the token-protected [`crate::api`].
//!
//! `/healthz` says the worker is not stuck (liveness); `/readyz` says it can
//! do work right now (broker connected, consumers subscribed, database
//! answering, not shutting down), so an orchestrator stops routing to a
//! worker that lost either and lets it recover by itself. Both answer from
//! the state [`crate::health`] keeps, without I/O.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use eai_store::Store;

use crate::health::Health;
use crate::metrics::Metrics;

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Arc<Health>,
    /// Its pool's occupation is read on every scrape.
    store: Store,
}

/// A bound listener, ready to serve.
pub struct HttpServer {
    pub addr: SocketAddr,
    listener: TcpListener,
    app: Router,
}

/// Binds `addr` (port 0 picks a free one, as tests do); `api` serves
/// everything but the three open endpoints.
pub async fn bind(
    addr: SocketAddr,
    metrics: Metrics,
    health: Arc<Health>,
    store: Store,
    api: Router,
) -> std::io::Result<HttpServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState {
            metrics,
            health,
            store,
        })
        .merge(api);
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

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.health.is_live() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "consumers gone for longer than health.liveness_timeout\n",
        )
    }
}

/// Answers at once from the state the probes keep (see [`crate::health`]).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = state.health.readiness();
    let body = serde_json::to_string(&readiness).unwrap_or_default();
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .metrics
            .render(state.health.readiness(), state.store.pool_usage()),
    )
}
