//! `/api/v1/dead-letters`: what reached the dead-letter queue, replayed to
//! where it was first published (one, or every open one matching a filter).
//! A replayed envelope whose UUID was answered gets its stored receipt, as
//! any duplicate.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use eai_store::dead_letters::{DeadLetter, DeadLetterFilter};
use eai_store::log::{Acted, ItemId};
use eai_store::page::{Page, MAX_LIMIT};
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::auth::Caller;
use super::body::Optional;
use super::doc::{DeadLetterQuery, Errors};
use super::error::ApiError;
use super::error::ErrorBody;
use super::messages::{discard_item, Done, Note};
use super::params::{parse_time, Params};
use super::ApiState;

fn dead_letter_id(text: &str) -> Result<i64, ApiError> {
    match text.parse::<ItemId>() {
        Ok(ItemId::DeadLetter(id)) => Ok(id),
        _ => Err(ApiError::bad_parameter(
            "id",
            "a dead letter id such as dead-3",
            text,
        )),
    }
}

/// The filters of the list.
pub const FILTERS: [&str; 7] = ["code", "uuid", "from", "to", "open", "limit", "cursor"];

/// `GET /api/v1/dead-letters?code=&uuid=&from=&to=&open=true&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "dead letters", params(DeadLetterQuery),
    responses((status = 200, description = "Dead letters, newest first", body = Page<DeadLetter>), Errors))]
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Page<DeadLetter>>, ApiError> {
    let params = Params::new(query, &FILTERS)?;
    let filter = DeadLetterFilter {
        code: params.text("code"),
        uuid: params.text("uuid"),
        from: params.time("from")?,
        to: params.time("to")?,
        open_only: match params.text("open").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ApiError::bad_parameter("open", "true or false", other)),
        },
        limit: params.limit()?,
        cursor: params.cursor()?,
    };
    Ok(Json(state.store.dead_letters(&filter).await?))
}

/// `GET /api/v1/dead-letters/{id}`, with its body.
#[utoipa::path(get, path = "/api/v1/dead-letters/{id}", tag = "dead letters",
    params(("id" = String, Path, description = "dead-3", pattern = "^dead-[1-9][0-9]{0,17}$")),
    responses((status = 200, description = "The dead letter and its body", body = DeadLetter),
        (status = 404, description = "No such dead letter", body = ErrorBody), Errors))]
pub async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetter>, ApiError> {
    let number = dead_letter_id(&id)?;
    state
        .store
        .dead_letter(number)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))
}

/// `POST /api/v1/dead-letters/{id}/replay`
#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/replay", tag = "dead letters",
    params(("id" = String, Path, description = "dead-3", pattern = "^dead-[1-9][0-9]{0,17}$")),
    responses((status = 200, description = "Published again", body = Done),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "Discarded, or the broker did not take it", body = ErrorBody), Errors))]
pub async fn replay(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let number = dead_letter_id(&id)?;
    let acted =
        crate::repair::replay(&state.store, &state.inlet, number, &caller.name, false).await?;
    ApiError::from_acted(acted, &id)?;
    Ok(Json(Done {
        id: ItemId::DeadLetter(number).to_string(),
        action: "replay",
        by: caller.name,
    }))
}

/// Which open dead letters a bulk replay takes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayFilter {
    pub code: Option<String>,
    pub uuid: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// At most this many (default and maximum 500).
    pub limit: Option<i64>,
}

/// What a bulk replay did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: Vec<String>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Failed {
    pub id: String,
    pub message: String,
}

/// `POST /api/v1/dead-letters/replay` with a filter: replays every open
/// (not replayed, not discarded) dead letter matching it, oldest last.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "dead letters",
    request_body(content = Option<ReplayFilter>),
    responses((status = 200, description = "What was replayed and what was not", body = Replayed), Errors))]
pub async fn replay_all(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Optional(filter): Optional<ReplayFilter>,
) -> Result<Json<Replayed>, ApiError> {
    let time = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| {
                parse_time(text).ok_or_else(|| {
                    ApiError::bad_parameter(name, "an RFC 3339 time or a YYYY-MM-DD date", text)
                })
            })
            .transpose()
    };
    let limit = filter.limit.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_parameter(
            "$.limit",
            &format!("an integer from 1 to {MAX_LIMIT}"),
            &limit.to_string(),
        ));
    }
    let page = state
        .store
        .dead_letters(&DeadLetterFilter {
            code: filter.code.clone(),
            uuid: filter.uuid.clone(),
            from: time("$.from", &filter.from)?,
            to: time("$.to", &filter.to)?,
            open_only: true,
            limit,
            cursor: None,
        })
        .await?;
    let mut outcome = Replayed {
        replayed: Vec::new(),
        failed: Vec::new(),
    };
    for dead in page.items {
        let ItemId::DeadLetter(number) = dead.id else {
            continue;
        };
        match crate::repair::replay(&state.store, &state.inlet, number, &caller.name, true).await? {
            Acted::Done => outcome.replayed.push(dead.id.to_string()),
            Acted::NotFound => {}
            Acted::Refused(message) | Acted::Unavailable(message) => outcome.failed.push(Failed {
                id: dead.id.to_string(),
                message,
            }),
        }
    }
    Ok(Json(outcome))
}

/// `POST /api/v1/dead-letters/{id}/discard` with `{"note": "..."}`.
#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/discard", tag = "dead letters",
    params(("id" = String, Path, description = "dead-3", pattern = "^dead-[1-9][0-9]{0,17}$")), request_body(content = Note),
    responses((status = 200, description = "Discarded", body = Done),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "Replayed or discarded already", body = ErrorBody), Errors))]
pub async fn discard(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Optional(note): Optional<Note>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let number = dead_letter_id(&id)?;
    let note = note.note;
    discard_item(&state, caller, ItemId::DeadLetter(number), note).await
}
