//! `/api/v1/messages` and `/api/v1/pending`: the log of both directions,
//! one message in full, the pending items, and what operators do to them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use eai_store::log::{ItemId, LogEntry, LogFilter, MessageDetail, PendingItem};
use eai_store::page::Page;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::auth::Caller;
use super::body::Optional;
use super::doc::{Errors, LogQuery};
use super::error::ApiError;
use super::error::ErrorBody;
use super::params::Params;
use super::ApiState;
use crate::repair::{self, Action};

/// The filters of both lists.
pub const FILTERS: [&str; 13] = [
    "direction",
    "status",
    "transaction",
    "company",
    "branch",
    "from",
    "to",
    "uuid",
    "document",
    "error_code",
    "destination",
    "limit",
    "cursor",
];

/// The log filter a query names.
pub fn log_filter(params: &Params) -> Result<LogFilter, ApiError> {
    Ok(LogFilter {
        direction: params.parse("direction")?,
        status: params.parse("status")?,
        transaction: params.text("transaction"),
        company: params.text("company"),
        branch: params.text("branch"),
        from: params.time("from")?,
        to: params.time("to")?,
        uuid: params.text("uuid"),
        document: params.text("document"),
        error_code: params
            .text("error_code")
            .map(|code| {
                eai_protocol::Code::from_wire(&code).ok_or_else(|| {
                    ApiError::bad_parameter(
                        "error_code",
                        "a receipt code such as PRODUCT_NOT_FOUND",
                        &code,
                    )
                })
            })
            .transpose()?,
        destination: params.text("destination"),
        limit: params.limit()?,
        cursor: params.cursor()?,
    })
}

fn item_id(text: &str) -> Result<ItemId, ApiError> {
    text.parse()
        .map_err(|expected: String| ApiError::bad_parameter("id", &expected, text))
}

/// `GET /api/v1/messages`
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", params(LogQuery),
    responses((status = 200, description = "The log, newest first", body = Page<LogEntry>), Errors))]
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Page<LogEntry>>, ApiError> {
    let filter = log_filter(&Params::new(query, &FILTERS)?)?;
    Ok(Json(state.store.messages(&filter).await?))
}

/// `GET /api/v1/messages/{id}`
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "in-12 or out-7", pattern = "^(in|out)-[1-9][0-9]{0,17}$")),
    responses((status = 200, description = "One message in full", body = MessageDetail),
        (status = 404, description = "No such message", body = ErrorBody), Errors))]
pub async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<MessageDetail>, ApiError> {
    let id = item_id(&id)?;
    state
        .store
        .message_detail(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no message {id}")))
}

/// `GET /api/v1/pending`
#[utoipa::path(get, path = "/api/v1/pending", tag = "messages", params(LogQuery),
    responses((status = 200, description = "What needs a person, newest first", body = Page<PendingItem>), Errors))]
pub async fn pending(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Page<PendingItem>>, ApiError> {
    let filter = log_filter(&Params::new(query, &FILTERS)?)?;
    Ok(Json(state.store.pending(&filter).await?))
}

/// The optional body of an action: why.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    #[serde(default)]
    pub note: String,
}

/// What an action answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub id: String,
    pub action: &'static str,
    pub by: String,
}

/// `POST /api/v1/messages/{id}/retry`: an inbound error is processed again
/// (its stored body republished); an outbound message is sent again now.
#[utoipa::path(post, path = "/api/v1/messages/{id}/retry", tag = "messages",
    params(("id" = String, Path, description = "in-12 or out-7", pattern = "^(in|out)-[1-9][0-9]{0,17}$")), request_body(content = Option<Note>),
    responses((status = 200, description = "Done", body = Done),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "Retry does not apply to it as it is now", body = ErrorBody), Errors))]
pub async fn retry(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    apply(&state, caller, &id, Action::Retry, &note.note).await
}

/// `POST /api/v1/messages/{id}/block`: the sender leaves an outbound message alone.
#[utoipa::path(post, path = "/api/v1/messages/{id}/block", tag = "messages",
    params(("id" = String, Path, description = "out-7", pattern = "^out-[1-9][0-9]{0,17}$")), request_body(content = Option<Note>),
    responses((status = 200, description = "Done", body = Done),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "Only waiting, failed or undelivered outbound messages can be blocked", body = ErrorBody), Errors))]
pub async fn block(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    apply(&state, caller, &id, Action::Block, &note.note).await
}

/// `POST /api/v1/messages/{id}/unblock`
#[utoipa::path(post, path = "/api/v1/messages/{id}/unblock", tag = "messages",
    params(("id" = String, Path, description = "out-7", pattern = "^out-[1-9][0-9]{0,17}$")), request_body(content = Option<Note>),
    responses((status = 200, description = "Done", body = Done),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "Not blocked, or its destination is", body = ErrorBody), Errors))]
pub async fn unblock(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    apply(&state, caller, &id, Action::Unblock, &note.note).await
}

/// `POST /api/v1/messages/{id}/discard` with `{"note": "..."}` (required):
/// the item leaves the pending list; the log keeps who, when and why.
#[utoipa::path(post, path = "/api/v1/messages/{id}/discard", tag = "messages",
    params(("id" = String, Path, description = "in-12 or out-7", pattern = "^(in|out)-[1-9][0-9]{0,17}$")), request_body(content = Note),
    responses((status = 200, description = "Discarded", body = Done),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "Not pending", body = ErrorBody), Errors))]
pub async fn discard(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    discard_item(&state, caller, item_id(&id)?, note.note).await
}

/// Discards any pending item (a message or a dead letter).
pub async fn discard_item(
    state: &ApiState,
    caller: Caller,
    id: ItemId,
    note: String,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    if note.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            "$.note: expected a non-empty string saying why",
        ));
    }
    act(state, caller, id, Action::Discard, note.trim()).await
}

/// Parses the path's id, then does `action` to it.
async fn apply(
    state: &ApiState,
    caller: Caller,
    id: &str,
    action: Action,
    note: &str,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    act(state, caller, item_id(id)?, action, note).await
}

/// Does `action` to `id` and answers what was done.
async fn act(
    state: &ApiState,
    caller: Caller,
    id: ItemId,
    action: Action,
    note: &str,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let acted = repair::act(
        &state.store,
        Some(&state.inlet),
        action,
        id,
        &caller.name,
        note,
    )
    .await?;
    ApiError::from_acted(acted, &id.to_string())?;
    Ok((
        StatusCode::OK,
        Json(Done {
            id: id.to_string(),
            action: action.as_str(),
            by: caller.name,
        }),
    ))
}
