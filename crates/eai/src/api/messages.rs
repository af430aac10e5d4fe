//! `/api/v1/messages` and `/api/v1/pending`: the log of both directions,
//! one message in full, the pending items, and what operators do to them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use eai_store::log::{ItemId, LogEntry, LogFilter, MessageDetail, PendingItem};
use eai_store::page::Page;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::body::Optional;
use super::error::ApiError;
use super::params::Params;
use super::ApiState;

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
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Page<LogEntry>>, ApiError> {
    let filter = log_filter(&Params::new(query, &FILTERS)?)?;
    Ok(Json(state.store.messages(&filter).await?))
}

/// `GET /api/v1/messages/{id}`
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
pub async fn pending(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Page<PendingItem>>, ApiError> {
    let filter = log_filter(&Params::new(query, &FILTERS)?)?;
    Ok(Json(state.store.pending(&filter).await?))
}

/// The optional body of an action: why.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    #[serde(default)]
    pub note: String,
}

/// What an action answers.
#[derive(Debug, Serialize)]
pub struct Done {
    pub id: String,
    pub action: &'static str,
    pub by: String,
}

/// `POST /api/v1/messages/{id}/retry`: an inbound error is processed again
/// (its stored body republished); an outbound message is sent again now.
pub async fn retry(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let id = item_id(&id)?;
    let note = note.note;
    let acted = crate::repair::retry(
        &state.store,
        &state.publisher,
        &state.topology,
        id,
        &caller.name,
        &note,
    )
    .await?;
    done(acted, id, "retry", caller)
}

/// `POST /api/v1/messages/{id}/block`: the sender leaves an outbound message alone.
pub async fn block(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let id = item_id(&id)?;
    let acted = state.store.hold(id, &caller.name, &note.note).await?;
    done(acted, id, "block", caller)
}

/// `POST /api/v1/messages/{id}/unblock`
pub async fn unblock(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let id = item_id(&id)?;
    let acted = state.store.release(id, &caller.name, &note.note).await?;
    done(acted, id, "unblock", caller)
}

/// `POST /api/v1/messages/{id}/discard` with `{"note": "..."}` (required):
/// the item leaves the pending list; the log keeps who, when and why.
pub async fn discard(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let id = item_id(&id)?;
    discard_item(&state, caller, id, note.note).await
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
    let acted = state.store.discard(id, &caller.name, note.trim()).await?;
    done(acted, id, "discard", caller)
}

fn done(
    acted: eai_store::log::Acted,
    id: ItemId,
    action: &'static str,
    caller: Caller,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    ApiError::from_acted(acted, &id.to_string())?;
    Ok((
        StatusCode::OK,
        Json(Done {
            id: id.to_string(),
            action,
            by: caller.name,
        }),
    ))
}
