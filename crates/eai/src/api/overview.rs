//! `GET /api/v1/overview`: the numbers an operator checks first.

use axum::extract::State;
use axum::Json;
use eai_store::overview::Overview;
use serde::Serialize;
use utoipa::ToSchema;

use super::doc::Errors;
use super::error::ApiError;
use super::ApiState;
use crate::health::Readiness;

/// The overview and whether this worker is ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewReport {
    #[serde(flatten)]
    pub overview: Overview,
    pub readiness: Readiness,
}

/// `GET /api/v1/overview`
#[utoipa::path(get, path = "/api/v1/overview", tag = "overview",
    responses((status = 200, description = "Envelopes per transaction and status, backlog, blocked destinations, readiness", body = OverviewReport), Errors))]
pub async fn overview(State(state): State<ApiState>) -> Result<Json<OverviewReport>, ApiError> {
    Ok(Json(OverviewReport {
        overview: state.store.overview().await?,
        readiness: state.health.readiness(),
    }))
}
