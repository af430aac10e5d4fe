//! `POST /api/v1/exports` and `POST /api/v1/exports/{batch}/confirm`: the
//! export of integrated sales with confirmation (seed 003).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use eai_store::export::{Batch, ExportMode, ExportRequest};
use eai_store::page::MAX_LIMIT;
use serde::{Deserialize, Serialize};

use super::body::Body;
use utoipa::ToSchema;

use super::doc::Errors;
use super::error::{ApiError, ErrorBody};
use super::ApiState;

/// Sales per batch when the request names no limit.
pub const DEFAULT_BATCH: i64 = 100;

/// The body of `POST /api/v1/exports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExport {
    pub mode: String,
    pub consumer: String,
    pub document: Option<String>,
    pub limit: Option<i64>,
}

/// Checks an export body; errors name the field.
pub fn request(body: NewExport) -> Result<ExportRequest, ApiError> {
    let mode: ExportMode = body
        .mode
        .parse()
        .map_err(|expected: String| ApiError::bad_parameter("$.mode", &expected, &body.mode))?;
    let consumer = body.consumer.trim();
    if consumer.is_empty() || consumer.chars().count() > 64 {
        return Err(ApiError::bad_parameter(
            "$.consumer",
            "the consumer system's id: 1 to 64 characters",
            &body.consumer,
        ));
    }
    let document = body.document.filter(|document| !document.trim().is_empty());
    if mode == ExportMode::One && document.is_none() {
        return Err(ApiError::bad_parameter(
            "$.document",
            "the sale's DocumentCode or InternalId (mode one)",
            "",
        ));
    }
    let limit = body.limit.unwrap_or(DEFAULT_BATCH);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_parameter(
            "$.limit",
            &format!("an integer from 1 to {MAX_LIMIT}"),
            &limit.to_string(),
        ));
    }
    Ok(ExportRequest {
        consumer: consumer.to_owned(),
        mode,
        document,
        limit,
    })
}

/// `POST /api/v1/exports`: the consumer's open batch again, or the next one.
#[utoipa::path(post, path = "/api/v1/exports", tag = "exports", request_body = NewExport,
    responses((status = 200, description = "The batch (batch null: nothing to export)", body = Batch),
        (status = 404, description = "Mode one: no such sale", body = ErrorBody), Errors))]
pub async fn export(
    State(state): State<ApiState>,
    Body(body): Body<NewExport>,
) -> Result<Json<Batch>, ApiError> {
    let request = request(body)?;
    let batch = state.store.export(&request).await?;
    if request.mode == ExportMode::One && batch.batch.is_none() {
        return Err(ApiError::not_found(format!(
            "no sale with DocumentCode or InternalId {:?}",
            request.document.unwrap_or_default()
        )));
    }
    Ok(Json(batch))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Confirmed {
    pub batch: i64,
    pub confirmed: bool,
}

/// `POST /api/v1/exports/{batch}/confirm`
#[utoipa::path(post, path = "/api/v1/exports/{batch}/confirm", tag = "exports",
    params(("batch" = i64, Path, minimum = 1)),
    responses((status = 200, description = "Confirmed", body = Confirmed),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 409, description = "Confirmed already", body = ErrorBody), Errors))]
pub async fn confirm(
    State(state): State<ApiState>,
    Path(batch): Path<String>,
) -> Result<(StatusCode, Json<Confirmed>), ApiError> {
    let number: i64 = batch
        .parse()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| ApiError::bad_parameter("batch", "a batch number", &batch))?;
    let acted = state.store.confirm_export(number).await?;
    ApiError::from_acted(acted, &format!("batch {number}"))?;
    Ok((
        StatusCode::OK,
        Json(Confirmed {
            batch: number,
            confirmed: true,
        }),
    ))
}
