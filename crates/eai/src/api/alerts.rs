//! `/api/v1/alert-targets` and `/api/v1/alerts`: who is told of failed,
//! blocked and dead messages, the test alert ("Validar E-mails") and the
//! alerts sent. Targets show their secret references, never a secret.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use eai_store::alerts::{Alert, AlertFilter, AlertTarget};
use serde::Serialize;
use utoipa::ToSchema;

use super::body::Body;
use super::doc::{AlertQuery, Errors};
use super::error::{ApiError, ErrorBody};
use super::params::Params;
use super::ApiState;
use crate::alerts::Alerting;
use crate::app::http_client;

/// The filters of the list.
pub const FILTERS: [&str; 2] = ["status", "limit"];

/// A target's name from the path; text with NUL names none.
fn name_of(name: String) -> Result<String, ApiError> {
    if name.contains('\0') || name.trim().is_empty() {
        return Err(ApiError::not_found("no alert target by that name"));
    }
    Ok(name)
}

fn no_target(name: &str) -> ApiError {
    ApiError::not_found(format!("no alert target named {name:?}"))
}

/// `GET /api/v1/alert-targets`
#[utoipa::path(get, path = "/api/v1/alert-targets", tag = "alerts",
    responses((status = 200, description = "Every alert target", body = Vec<AlertTarget>), Errors))]
pub async fn list_targets(
    State(state): State<ApiState>,
) -> Result<Json<Vec<AlertTarget>>, ApiError> {
    Ok(Json(state.store.alert_targets().await?))
}

/// `GET /api/v1/alert-targets/{name}`
#[utoipa::path(get, path = "/api/v1/alert-targets/{name}", tag = "alerts",
    params(("name" = String, Path)),
    responses((status = 200, description = "The target", body = AlertTarget),
        (status = 404, description = "No such target", body = ErrorBody), Errors))]
pub async fn show_target(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<AlertTarget>, ApiError> {
    let name = name_of(name)?;
    match state.store.alert_target(&name).await? {
        Some(target) => Ok(Json(target)),
        None => Err(no_target(&name)),
    }
}

/// `PUT /api/v1/alert-targets/{name}` with the target (its `name` is the
/// path's): 200 with the target as stored.
#[utoipa::path(put, path = "/api/v1/alert-targets/{name}", tag = "alerts",
    params(("name" = String, Path)), request_body = AlertTarget,
    responses((status = 200, description = "Created or replaced", body = AlertTarget), Errors))]
pub async fn set_target(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(mut target): Body<AlertTarget>,
) -> Result<Json<AlertTarget>, ApiError> {
    if name.contains('\0') || name.trim().is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_parameter(
            "name",
            "a non-empty name of at most 255 characters",
            &name,
        ));
    }
    target.name = name;
    if let Some(problem) = target.problem() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            problem,
        ));
    }
    state.store.set_alert_target(&target).await?;
    Ok(Json(target))
}

/// `DELETE /api/v1/alert-targets/{name}`: 204, with its alerts.
#[utoipa::path(delete, path = "/api/v1/alert-targets/{name}", tag = "alerts",
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such target", body = ErrorBody), Errors))]
pub async fn delete_target(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = name_of(name)?;
    if state.store.delete_alert_target(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_target(&name))
    }
}

/// This worker's alerting, for a test alert asked through the API or the console.
pub fn alerting(state: &ApiState) -> anyhow::Result<Alerting> {
    Ok(Alerting {
        store: state.store.clone(),
        metrics: state.metrics.clone(),
        http: http_client()?,
        settings: state.settings.alerts.clone(),
    })
}

/// How a test alert went.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertTested {
    pub name: String,
    pub sent: bool,
    /// What went wrong, when it was not sent.
    pub error: Option<String>,
    pub elapsed_ms: u128,
}

/// `POST /api/v1/alert-targets/{name}/test`: a test alert through the
/// alerts outbox, sent at once ("Validar E-mails").
#[utoipa::path(post, path = "/api/v1/alert-targets/{name}/test", tag = "alerts",
    params(("name" = String, Path)),
    responses((status = 200, description = "How the test alert went", body = AlertTested),
        (status = 404, description = "No such target", body = ErrorBody), Errors))]
pub async fn test(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<AlertTested>, ApiError> {
    let name = name_of(name)?;
    let alerting = alerting(&state).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            error.to_string(),
        )
    })?;
    let started = std::time::Instant::now();
    let Some(tested) = alerting.test(&name).await? else {
        return Err(no_target(&name));
    };
    Ok(Json(AlertTested {
        name,
        sent: tested.is_ok(),
        error: tested.err(),
        elapsed_ms: started.elapsed().as_millis(),
    }))
}

/// `GET /api/v1/alerts?status=&limit=`: newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, description = "Alerts, newest first", body = Vec<Alert>), Errors))]
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let params = Params::new(query, &FILTERS)?;
    let status = params.text("status");
    if let Some(status) = &status {
        if !matches!(status.as_str(), "waiting" | "sent" | "failed") {
            return Err(ApiError::bad_parameter(
                "status",
                "waiting, sent or failed",
                status,
            ));
        }
    }
    let filter = AlertFilter {
        status,
        limit: params.limit()?,
    };
    Ok(Json(state.store.alerts(&filter).await?))
}
