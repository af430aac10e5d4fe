//! `/api/v1/destinations`: where the sender delivers; credentials are never
//! shown, only whether there are some.

use axum::extract::{Path, State};
use axum::Json;
use eai_store::log::Status;
use eai_store::outbound::{Destination, DestinationKind};
use serde::Serialize;

use utoipa::ToSchema;

use super::doc::Errors;
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use crate::commands::destinations::probe;

/// A destination as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    pub name: String,
    pub kind: String,
    pub company: String,
    pub branch: String,
    pub transaction: String,
    /// The URL, or `exchange / routing key`.
    pub target: String,
    pub has_credentials: bool,
    pub timeout_ms: i32,
    pub max_attempts: i32,
    pub blocked: bool,
    pub blocked_reason: Option<String>,
    /// The de/para namespace our codes are translated into for it, if any.
    pub namespace: Option<String>,
    /// `plain` or `wrapped` lists.
    pub list_style: String,
}

impl From<Destination> for DestinationView {
    fn from(destination: Destination) -> DestinationView {
        let target = match destination.kind() {
            DestinationKind::Http => destination.url.clone().unwrap_or_default(),
            DestinationKind::Amqp => format!(
                "{} / {}",
                destination.exchange.as_deref().unwrap_or(""),
                destination.routing_key
            ),
        };
        DestinationView {
            has_credentials: destination.auth_value.is_some(),
            name: destination.name,
            kind: destination.kind,
            company: destination.company,
            branch: destination.branch,
            transaction: destination.transaction,
            target,
            timeout_ms: destination.timeout_ms,
            max_attempts: destination.max_attempts,
            blocked: destination.blocked,
            blocked_reason: destination.blocked_reason,
            namespace: destination.namespace,
            list_style: destination.list_style,
        }
    }
}

/// A destination's name from the path; text with NUL names none.
fn name_of(name: String) -> Result<String, ApiError> {
    if name.contains('\0') {
        return Err(ApiError::not_found("no destination by that name"));
    }
    Ok(name)
}

/// `GET /api/v1/destinations`
#[utoipa::path(get, path = "/api/v1/destinations", tag = "destinations",
    responses((status = 200, description = "Every destination", body = Vec<DestinationView>), Errors))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<DestinationView>>, ApiError> {
    let destinations = state.store.destinations().await?;
    Ok(Json(
        destinations
            .into_iter()
            .map(DestinationView::from)
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unblocked {
    pub name: String,
    pub released: u64,
}

/// `POST /api/v1/destinations/{name}/unblock`: its blocked messages go out again.
#[utoipa::path(post, path = "/api/v1/destinations/{name}/unblock", tag = "destinations",
    params(("name" = String, Path)),
    responses((status = 200, description = "Unblocked", body = Unblocked),
        (status = 404, description = "No such destination", body = ErrorBody), Errors))]
pub async fn unblock(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Unblocked>, ApiError> {
    let name = name_of(name)?;
    match state.store.unblock_destination(&name).await? {
        Some(released) => Ok(Json(Unblocked { name, released })),
        None => Err(ApiError::not_found(format!(
            "no destination named {name:?}"
        ))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tested {
    pub name: String,
    /// `done`, `failed`, `blocked`, `not_delivered` or `rejected`.
    pub status: Status,
    pub detail: String,
    pub elapsed_ms: u128,
}

/// `POST /api/v1/destinations/{name}/test`: one EAIEnvironmentTest round trip.
#[utoipa::path(post, path = "/api/v1/destinations/{name}/test", tag = "destinations",
    params(("name" = String, Path)),
    responses((status = 200, description = "How the round trip ended", body = Tested),
        (status = 404, description = "No such destination", body = ErrorBody), Errors))]
pub async fn test(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Tested>, ApiError> {
    let name = name_of(name)?;
    let Some(destination) = state.store.destination(&name).await? else {
        return Err(ApiError::not_found(format!(
            "no destination named {name:?}"
        )));
    };
    let company = state.store.company_for(&destination).await?;
    let (settlement, elapsed) = probe(&state.settings, &destination, &company)
        .await
        .map_err(|error| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "BROKER_UNAVAILABLE",
                error.to_string(),
            )
        })?;
    Ok(Json(Tested {
        name,
        status: settlement.status(),
        detail: settlement.detail().to_owned(),
        elapsed_ms: elapsed.as_millis(),
    }))
}
