//! The operator API under `/api/v1` and the HTTP ingress
//! `POST /api/eai/v1/transactions`, on the worker's HTTP listener. JSON
//! only; every route needs a bearer token ([`auth`]).
//!
//! # Layout
//!
//! - [`auth`]: bearer tokens, roles, constant-time comparison.
//! - [`body`]: JSON bodies whose problems are coded errors too.
//! - [`error`]: the `{"code", "message"}` error answers.
//! - [`params`]: strict query parameters (unknown or malformed ones are named).
//! - [`messages`]: the message log, pending items and the operator actions on them.
//! - [`dead_letters`]: dead letters listed and replayed, one or in bulk.
//! - [`mappings`]: de/para mappings listed, set and deleted.
//! - [`destinations`]: destinations listed, unblocked and tested.
//! - [`alerts`]: e-mail and webhook alert targets, the test alert and the alerts sent.
//! - [`overview`]: the first numbers an operator checks, with readiness.
//! - [`usage`]: the usage report per company, month and environment.
//! - [`exports`]: integrated sales exported in numbered batches until confirmed.
//! - [`doc`]: the OpenAPI document, generated from the handlers, at `/api/v1/openapi.json`.
//! - [`ingress`]: envelopes received over HTTP, sync or async.

pub mod alerts;
pub mod auth;
pub mod body;
pub mod dead_letters;
pub mod destinations;
pub mod doc;
pub mod error;
pub mod exports;
pub mod ingress;
pub mod mappings;
pub mod messages;
pub mod overview;
pub mod params;
pub mod usage;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use eai_store::{Store, WorkerIdentity};
use eai_transport::Topology;

use crate::config::Settings;
use crate::health::Health;
use crate::inlet::Inlet;
use crate::metrics::Metrics;
use auth::Tokens;
use error::ApiError;

/// The largest body the ingress takes (an envelope may carry big sales).
pub const MAX_BODY_BYTES: usize = 30 * 1024 * 1024;

/// What every handler may use.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// Where envelopes go in: the ingress, retries and replays.
    pub inlet: Inlet,
    pub topology: Topology,
    pub identity: WorkerIdentity,
    pub metrics: Metrics,
    pub tokens: Arc<Tokens>,
    pub settings: Arc<Settings>,
    /// Readiness, for the overview.
    pub health: Arc<Health>,
}

/// The API routes, all behind the token check; any other path is a JSON 404.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/messages", get(messages::list))
        .route("/api/v1/messages/{id}", get(messages::show))
        .route("/api/v1/messages/{id}/retry", post(messages::retry))
        .route("/api/v1/messages/{id}/block", post(messages::block))
        .route("/api/v1/messages/{id}/unblock", post(messages::unblock))
        .route("/api/v1/messages/{id}/discard", post(messages::discard))
        .route("/api/v1/pending", get(messages::pending))
        .route("/api/v1/dead-letters", get(dead_letters::list))
        .route(
            "/api/v1/dead-letters/replay",
            post(dead_letters::replay_all),
        )
        .route("/api/v1/dead-letters/{id}", get(dead_letters::show))
        .route(
            "/api/v1/dead-letters/{id}/replay",
            post(dead_letters::replay),
        )
        .route(
            "/api/v1/dead-letters/{id}/discard",
            post(dead_letters::discard),
        )
        .route(
            "/api/v1/mappings",
            get(mappings::list)
                .put(mappings::set)
                .delete(mappings::delete),
        )
        .route("/api/v1/destinations", get(destinations::list))
        .route(
            "/api/v1/destinations/{name}/unblock",
            post(destinations::unblock),
        )
        .route("/api/v1/destinations/{name}/test", post(destinations::test))
        .route("/api/v1/alert-targets", get(alerts::list_targets))
        .route(
            "/api/v1/alert-targets/{name}",
            get(alerts::show_target)
                .put(alerts::set_target)
                .delete(alerts::delete_target),
        )
        .route("/api/v1/alert-targets/{name}/test", post(alerts::test))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/overview", get(overview::overview))
        .route("/api/v1/usage", get(usage::report))
        .route("/api/v1/exports", post(exports::export))
        .route("/api/v1/exports/{batch}/confirm", post(exports::confirm))
        .route("/api/eai/v1/transactions", post(ingress::receive))
        .route("/api/eai/v1/transactions/{uuid}", get(ingress::receipt))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/api/v1/openapi.json", get(doc::openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route")
}
