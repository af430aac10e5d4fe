//! `POST /api/eai/v1/transactions`: envelopes received over HTTP, with the
//! same parsing, dedup and receipt as over AMQP.
//!
//! - `Header.DeliveryType` `sync`: processed now; 200 with the ReceiptMessage.
//!   A sale whose reservation is not there yet is answered at once
//!   (`RESERVE_NOT_FOUND`), since nobody would hear a later answer.
//! - `async` (the default): put on the inbound queue (the broker's inbound
//!   exchange, with a publisher confirm, or the database's queue);
//!   202 `{"uuid": ...}`. On a broker the receipt then goes to the receipts
//!   exchange keyed by `SourceApplication`, as for AMQP senders; it shows in
//!   the message log and is fetched by UUID either way.
//! - A UUID already answered gets its stored receipt (200), either way.
//! - `GET /api/eai/v1/transactions/{uuid}`: the receipt of an envelope
//!   answered since (how an async sender gets its answer when the worker
//!   runs without a broker), 404 until then.
//! - `{"Items": [envelope, ...]}`: a batch, async only; 202 with one line per item.
//!
//! A body that is no envelope (not JSON, no usable `Header.UUID`) is a 400
//! with the code the receipt would carry.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use eai_protocol::{Code, Detail, Envelope};
use eai_store::{Failure, Inbound, Received};
use serde::Serialize;

use utoipa::ToSchema;

use super::doc::Errors;
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use crate::inlet::InletError;
use crate::metrics::MessageHandled;
use crate::receiver::reply_route;

/// One line of a batch answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// `accepted`, `answered` (already; see the message log) or `refused`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn receipt_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn refused(rejection: &eai_protocol::Rejection) -> ApiError {
    let code = rejection.code().as_str();
    ApiError::new(StatusCode::BAD_REQUEST, code, rejection.to_string())
}

/// `POST /api/eai/v1/transactions`
#[utoipa::path(post, path = "/api/eai/v1/transactions", tag = "ingress",
    request_body(content = Object, description = "An envelope, or {\"Items\": [envelope, ...]} (async only)"),
    responses((status = 200, description = "Sync, or a UUID answered before: the ReceiptMessage", body = Object),
        (status = 202, description = "Async: accepted and enqueued ({\"uuid\": ...}, or {\"items\": [...]} for a batch)", body = Object),
        (status = 413, description = "Over 30 MiB", body = ErrorBody), Errors))]
pub async fn receive(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "PAYLOAD_TOO_LARGE"
        } else {
            "INVALID_BODY"
        };
        ApiError::new(
            status,
            code,
            format!("{} (the limit is 30 MiB)", rejection.body_text()),
        )
    })?;
    if let Some(items) = batch(&body) {
        return accept_batch(&state, items).await;
    }
    let envelope = Envelope::parse(&body).map_err(|rejection| refused(&rejection))?;
    let sync = envelope
        .header_text("DeliveryType")
        .is_some_and(|kind| kind.eq_ignore_ascii_case("sync"));
    if sync {
        // Processing dedups by UUID itself: an answered one gets its stored receipt.
        process_now(&state, &envelope, &body).await
    } else if let Some((receipt, _)) = state.store.stored_receipt(envelope.uuid()).await? {
        Ok(receipt_response(receipt))
    } else {
        enqueue(&state, &envelope, &body).await?;
        Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"uuid": envelope.uuid()})),
        )
            .into_response())
    }
}

/// The items of a `{"Items": [...]}` body (an object without a Header).
fn batch(body: &[u8]) -> Option<Vec<serde_json::Value>> {
    let serde_json::Value::Object(mut root) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    if root.contains_key("Header") {
        return None;
    }
    match root.remove("Items")? {
        serde_json::Value::Array(items) => Some(items),
        _ => None,
    }
}

async fn accept_batch(
    state: &ApiState,
    items: Vec<serde_json::Value>,
) -> Result<Response, ApiError> {
    let mut lines = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let body = serde_json::to_vec(&item).unwrap_or_default();
        let line = match Envelope::parse(&body) {
            Err(rejection) => Accepted {
                index,
                uuid: None,
                status: "refused",
                code: Some(rejection.code().as_str()),
                message: Some(format!("$.Items[{index}]: {rejection}")),
            },
            Ok(envelope) => {
                let answered = state.store.stored_receipt(envelope.uuid()).await?.is_some();
                if !answered {
                    enqueue(state, &envelope, &body).await?;
                }
                Accepted {
                    index,
                    uuid: Some(envelope.uuid().to_owned()),
                    status: if answered { "answered" } else { "accepted" },
                    code: None,
                    message: None,
                }
            }
        };
        lines.push(line);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "items": lines })),
    )
        .into_response())
}

/// Puts an envelope on the inbound queue, confirmed or committed.
async fn enqueue(state: &ApiState, envelope: &Envelope<'_>, body: &[u8]) -> Result<(), ApiError> {
    state
        .inlet
        .submit_envelope(envelope, body)
        .await
        .map_err(|error| {
            let code = match error {
                InletError::Broker(_) => "BROKER_UNAVAILABLE",
                InletError::Database(_) | InletError::Unstored => "DATABASE_UNAVAILABLE",
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                format!("the envelope was not accepted: {error}"),
            )
        })
}

/// `GET /api/eai/v1/transactions/{uuid}`
#[utoipa::path(get, path = "/api/eai/v1/transactions/{uuid}", tag = "ingress",
    params(("uuid" = String, Path, description = "The envelope's Header.UUID")),
    responses((status = 200, description = "The ReceiptMessage the envelope was answered with", body = Object),
        (status = 404, description = "Not answered (yet): queued, waiting, or never received", body = ErrorBody), Errors))]
pub async fn receipt(
    State(state): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    // No envelope is stored under a UUID holding a NUL (the database refuses them).
    let stored = match uuid.contains('\0') {
        true => None,
        false => state.store.stored_receipt(&uuid).await?,
    };
    match stored {
        Some((receipt, _)) => Ok(receipt_response(receipt)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_ANSWERED",
            format!(
                "no receipt for UUID {uuid:?} yet: it is queued, waiting, or was never received"
            ),
        )),
    }
}

/// Processes an envelope in this request and answers its receipt.
async fn process_now(
    state: &ApiState,
    envelope: &Envelope<'_>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let inbound = Inbound {
        envelope,
        body,
        received_at: Utc::now(),
        route: reply_route(&state.topology, envelope, None),
        max_waits: 0,
    };
    let answer = match state.store.receive(&state.identity, &inbound).await {
        Ok(Received::Answered(answer)) => answer,
        Ok(Received::Waiting { .. }) => {
            enqueue(state, envelope, body).await?;
            return Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"uuid": envelope.uuid()})),
            )
                .into_response());
        }
        Err(error) if error.failure() == Failure::Permanent => {
            let detail = Detail::error(
                Code::ProcessingFailed,
                format!("the database refused it: {error}"),
            );
            state
                .store
                .refuse(&state.identity, &inbound, &detail)
                .await?
        }
        Err(error) => return Err(error.into()),
    };
    MessageHandled {
        uuid: envelope.uuid(),
        transaction: &envelope.header_label("Transaction"),
        ok: answer.ok,
        duplicate: answer.duplicate,
        receipt: &answer.body,
        elapsed: started.elapsed(),
    }
    .emit(&state.metrics);
    Ok(receipt_response(answer.body))
}
