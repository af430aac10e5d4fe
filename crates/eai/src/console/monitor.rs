//! Monitorar: the message log with its filters (kept in the URL), one
//! message in full with its repairs, the pending items grouped by reason,
//! and the dead letters. Everything comes from the same store calls as the
//! API; the console adds no rule of its own.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use eai_domain::remedy::{self, Advice};
use eai_protocol::Code;
use eai_store::dead_letters::DeadLetterFilter;
use eai_store::log::{Acted, Direction, ItemId, LogEntry, PendingItem, Status};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{action, flash, page, redirect, Section};
use super::session::{csrf_matches, Signed};
use super::text::Text;
use crate::api::messages::{log_filter, FILTERS};
use crate::api::params::Params;
use crate::api::ApiState;
use crate::repair::{self, Action as Repair};

/// `pairs` as a query string.
fn query_string(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn status_class(status: &str) -> String {
    format!("st-{status}")
}

/// The filter form of the log and the pending list, filled from the URL.
fn filters(signed: &Signed, action_path: &str, query: &[(String, String)]) -> Markup {
    let text = signed.text;
    let value = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let field = |name: &str, label: &str| {
        html! { label { (label) input type="text" name=(name) value=(value(name)); } }
    };
    html! {
        form.filters method="get" action=(action_path) {
            label { (text.direction)
                select name="direction" {
                    option value="" { (text.any) }
                    option value="in" selected[value("direction") == "in"] { (text.inbound) }
                    option value="out" selected[value("direction") == "out"] { (text.outbound) }
                }
            }
            label { (text.status)
                select name="status" {
                    option value="" { (text.any) }
                    @for status in Status::ALL {
                        option value=(status.as_str()) selected[value("status") == status.as_str()] { (status.as_str()) }
                    }
                }
            }
            (field("uuid", &format!("{} / {}", text.id, text.uuid)))
            (field("document", text.document))
            (field("transaction", text.transaction))
            (field("company", text.company))
            (field("branch", text.branch))
            (field("error_code", text.error_code))
            label { (text.from) input type="date" name="from" value=(value("from")); }
            label { (text.to) input type="date" name="to" value=(value("to")); }
            button.primary type="submit" { (text.filter) }
            a href=(action_path) { (text.clear) }
        }
    }
}

/// Keeps the filled filters (empty fields dropped) for the URL.
fn kept(query: Vec<(String, String)>) -> Vec<(String, String)> {
    query
        .into_iter()
        .filter(|(name, value)| !value.is_empty() && FILTERS.contains(&name.as_str()))
        .collect()
}

/// `GET /messages`
pub async fn messages(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let text = signed.text;
    let shown = flash(&query);
    let query = kept(query);
    // The ID/UUID box takes a log id too: it opens that message.
    if let Some(id) = query
        .iter()
        .find(|(name, _)| name == "uuid")
        .and_then(|(_, value)| value.trim().parse::<ItemId>().ok())
    {
        return Redirect::to(&format!("/messages/{id}")).into_response();
    }
    let listed = match Params::new(query.clone(), &FILTERS).and_then(|params| log_filter(&params)) {
        Ok(filter) => state
            .store
            .messages(&filter)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.message),
    };
    let body = html! {
        (filters(&signed, "/messages", &query))
        @match &listed {
            Err(problem) => p.flash.bad { (problem) },
            Ok(page) if page.items.is_empty() => p { (text.nothing) },
            Ok(page) => {
                table {
                    tr { th { (text.id) } th { (text.at) } th { (text.transaction) } th { (text.company) } th { (text.branch) }
                         th { (text.status) } th { (text.attempts) } th { (text.document) } th { (text.codes) } }
                    @for entry in &page.items { (row(entry)) }
                }
                @if let Some(href) = next_page(&query, &page.next_cursor) {
                    p { a href=(href) { (text.next_page) " →" } }
                }
            }
        }
    };
    Html(
        page(
            &signed,
            Section::Messages,
            text.messages,
            shown.as_ref(),
            body,
        )
        .into_string(),
    )
    .into_response()
}

/// The link to the page after this one, the filters kept.
fn next_page(query: &[(String, String)], cursor: &str) -> Option<String> {
    if cursor.is_empty() {
        return None;
    }
    let mut next = query.to_vec();
    next.push(("cursor".to_owned(), cursor.to_owned()));
    Some(format!("/messages?{}", query_string(&next)))
}

fn row(entry: &LogEntry) -> Markup {
    let document = entry
        .internal_id
        .as_deref()
        .or(entry.document_code.as_deref())
        .unwrap_or("");
    html! {
        tr {
            td { a href={ "/messages/" (entry.id) } { (entry.id) } }
            td { (entry.at.format("%Y-%m-%d %H:%M:%S")) }
            td { (entry.transaction) @if let Some(destination) = &entry.destination { " → " (destination) } }
            td { (entry.company) }
            td { (entry.branch) }
            td class=(status_class(entry.status.as_str())) { (entry.status.as_str()) @if entry.discarded.is_some() { " ✕" } }
            td { (entry.attempts) }
            td { (document) }
            td { (entry.error_codes.join(", ")) }
        }
    }
}

/// `GET /messages/{id}`
pub async fn message(
    State(state): State<ApiState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let text = signed.text;
    let Ok(item) = id.parse::<ItemId>() else {
        return Redirect::to("/messages").into_response();
    };
    let detail = match state.store.message_detail(item).await {
        Ok(Some(detail)) => detail,
        Ok(None) => return Redirect::to("/messages").into_response(),
        Err(error) => return Html(error.to_string()).into_response(),
    };
    let entry = &detail.entry;
    let status = entry.status;
    let details = detail
        .receipt
        .as_ref()
        .and_then(|receipt| receipt.pointer("/Content/ProcessingInformation/Details"))
        .and_then(|details| details.as_array())
        .cloned()
        .unwrap_or_default();
    let retryable = match entry.direction {
        Direction::In => status == Status::Error || status == Status::Dead,
        Direction::Out => status != Status::Done,
    };
    let blockable = entry.direction == Direction::Out
        && matches!(
            status,
            Status::Waiting | Status::Failed | Status::NotDelivered
        );
    let discardable = entry.discarded.is_none()
        && matches!(
            status,
            Status::Error
                | Status::Dead
                | Status::Waiting
                | Status::Failed
                | Status::Blocked
                | Status::NotDelivered
                | Status::Rejected
        );
    let body = html! {
        dl {
            dt { (text.uuid) } dd { (entry.uuid) }
            dt { (text.direction) } dd { (if entry.direction == Direction::In { text.inbound } else { text.outbound }) }
            dt { (text.transaction) } dd { (entry.transaction) }
            dt { (text.company) " / " (text.branch) } dd { (entry.company) " / " (entry.branch) }
            dt { (text.status) } dd class=(status_class(status.as_str())) { (status.as_str()) }
            dt { (text.attempts) } dd { (entry.attempts) }
            dt { (text.at) } dd { (entry.at.format("%Y-%m-%d %H:%M:%S%.3f UTC")) }
            @if let Some(document) = entry.internal_id.as_deref().or(entry.document_code.as_deref()) {
                dt { (text.document) } dd { (document) }
            }
            @if let Some(error) = &entry.last_error { dt { (text.reason) } dd { (error) } }
            @if let Some(tries) = detail.tries.as_ref().filter(|tries| tries.waits + tries.failures + tries.redeliveries > 0) {
                dt { (text.tries) } dd { (text.waits) " " (tries.waits) " · " (text.failures) " " (tries.failures) " · " (text.redeliveries) " " (tries.redeliveries) }
            }
            @if let Some(discarded) = &entry.discarded {
                dt { (text.discarded) } dd { (discarded.at.format("%Y-%m-%d %H:%M")) " — " (discarded.by) ": " (discarded.note) }
            }
        }
        @if signed.is_operator() {
            div.actions {
                @if retryable { (action(&signed, &format!("/messages/{id}/retry"), text.retry, false)) }
                @if blockable { (action(&signed, &format!("/messages/{id}/block"), text.block, false)) }
                @if status == Status::Blocked { (action(&signed, &format!("/messages/{id}/unblock"), text.unblock, false)) }
                @if discardable { (action(&signed, &format!("/messages/{id}/discard"), text.discard, true)) }
            }
        }
        @if !details.is_empty() {
            h2 { (text.receipt) }
            table {
                tr { th { (text.code) } th { (text.reason) } th { (text.suggested_action) } }
                @for line in &details {
                    @let code = line["Code"].as_str().unwrap_or("");
                    tr {
                        td.code { (code) }
                        td { (line["Message"].as_str().unwrap_or("")) }
                        td.suggested { (text.advice(Code::from_wire(code).map_or(remedy::UNKNOWN, remedy::for_code))) }
                    }
                }
            }
        }
        @if !detail.attempt_history.is_empty() {
            h2 { (text.attempt_history) }
            table {
                tr { th { "#" } th { (text.at) } th { (text.status) } th { (text.reason) } }
                @for attempt in &detail.attempt_history {
                    tr { td { (attempt.attempt) } td { (attempt.started_at.format("%Y-%m-%d %H:%M:%S")) }
                         td class=(status_class(attempt.status.as_str())) { (attempt.status.as_str()) } td { (attempt.detail) } }
                }
            }
        }
        @if !detail.actions.is_empty() {
            h2 { (text.operator_actions) }
            ul { @for done in &detail.actions { li { (done.at.format("%Y-%m-%d %H:%M:%S")) " — " (done.action) " — " (done.actor) ": " (done.note) } } }
        }
        details open {
            summary { (text.envelope) }
            pre { (serde_json::to_string_pretty(&detail.body).unwrap_or_default()) }
        }
        @if let Some(receipt) = &detail.receipt {
            details {
                summary { (text.receipt) }
                pre { (serde_json::to_string_pretty(receipt).unwrap_or_default()) }
            }
        }
        @if let Some(sale) = &detail.sale {
            details {
                summary { (text.recorded_sale) }
                pre { (serde_json::to_string_pretty(sale).unwrap_or_default()) }
            }
        }
    };
    let shown = flash(&query);
    Html(page(&signed, Section::Messages, &id, shown.as_ref(), body).into_string()).into_response()
}

/// A repair form's fields.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    pub csrf: String,
    #[serde(default)]
    pub note: String,
}

/// Where to go after an action, with its outcome.
fn after(back: &str, text: &Text, done: &str, acted: Result<Acted, String>) -> Response {
    match acted {
        Ok(Acted::Done) => redirect(back, true, done),
        Ok(Acted::NotFound) => redirect(back, false, text.not_found),
        Ok(Acted::Refused(why) | Acted::Unavailable(why)) | Err(why) => redirect(back, false, &why),
    }
}

/// Refuses a viewer's or a forged (no CSRF token) POST.
pub fn refused(signed: &Signed, form_csrf: &str) -> Option<Response> {
    if !signed.is_operator() || !csrf_matches(signed, form_csrf) {
        return Some(
            (
                axum::http::StatusCode::FORBIDDEN,
                Html(signed.text.forbidden),
            )
                .into_response(),
        );
    }
    None
}

/// `POST /messages/{id}/{action}`
pub async fn act(
    State(state): State<ApiState>,
    signed: Signed,
    Path((id, verb)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let text = signed.text;
    let back = format!("/messages/{id}");
    let Ok(item) = id.parse::<ItemId>() else {
        return Redirect::to("/messages").into_response();
    };
    let actor = signed.caller.name.as_str();
    let note = form.note.trim();
    let acted = match Repair::parse(&verb) {
        Some(Repair::Discard) if note.is_empty() => {
            Ok(Acted::Refused(format!("{}: {}", text.discard, text.note)))
        }
        Some(action) => {
            repair::act(&state.store, Some(&state.inlet), action, item, actor, note).await
        }
        None => return Redirect::to(&back).into_response(),
    };
    after(
        &back,
        text,
        &format!("{}: {verb}", text.done),
        acted.map_err(|error| error.to_string()),
    )
}

/// Pending items counted by reason (their first code, else their status),
/// each with its suggested action.
fn by_reason(items: &[PendingItem]) -> BTreeMap<String, (usize, Advice)> {
    let mut groups: BTreeMap<String, (usize, Advice)> = BTreeMap::new();
    for item in items {
        let key = item
            .codes
            .first()
            .cloned()
            .unwrap_or_else(|| item.status.clone());
        groups.entry(key).or_insert((0, item.advice)).0 += 1;
    }
    groups
}

/// `GET /pending`: grouped by reason with counts, then the items.
pub async fn pending(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Html<String> {
    let text = signed.text;
    let shown = flash(&query);
    let query = kept(query);
    let mut wide = query.clone();
    wide.retain(|(name, _)| name != "limit");
    wide.push(("limit".to_owned(), "500".to_owned()));
    let listed = match Params::new(wide, &FILTERS).and_then(|params| log_filter(&params)) {
        Ok(filter) => state
            .store
            .pending(&filter)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.message),
    };
    let body = html! {
        (filters(&signed, "/pending", &query))
        @match &listed {
            Err(problem) => p.flash.bad { (problem) },
            Ok(page) if page.items.is_empty() => p { (text.nothing) },
            Ok(page) => {
                @let groups = by_reason(&page.items);
                h2 { (text.by_reason) }
                table.groups {
                    tr { th { (text.reason) } th { (text.count) } th { (text.suggested_action) } }
                    @for (reason, (count, suggestion)) in &groups {
                        tr { td { (reason) } td { (count) } td { (text.advice(*suggestion)) } }
                    }
                }
                @if signed.is_operator() {
                    h2 { (text.bulk) }
                    form.filters #bulk method="post" action="/pending/bulk" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        @for (name, value) in &query { input type="hidden" name=(name) value=(value); }
                        select name="action" {
                            option value="retry" { (text.retry) }
                            option value="replay" { (text.replay) }
                            option value="discard" { (text.discard) }
                        }
                        input type="text" name="note" placeholder=(text.note);
                        button type="submit" { (text.bulk) " (" (page.items.len()) ")" }
                    }
                }
                h2 { (text.pending) }
                table {
                    tr { th { (text.id) } th { (text.kind) } th { (text.at) } th { (text.transaction) } th { (text.branch) }
                         th { (text.document) } th { (text.reason) } th { (text.suggested_action) } }
                    @for item in &page.items {
                        @let link = match item.id { ItemId::DeadLetter(_) => item.related.map_or_else(|| "/dead-letters".to_owned(), |envelope| format!("/messages/{envelope}")), _ => format!("/messages/{}", item.id) };
                        tr {
                            td { a href=(link) { (item.id) } }
                            td { (item.kind) }
                            td { (item.since.format("%Y-%m-%d %H:%M:%S")) }
                            td { (item.transaction) }
                            td { (item.branch) }
                            td { (item.document.as_deref().unwrap_or("")) }
                            td { (item.codes.join(", ")) " " (item.reason) }
                            td { (text.advice(item.advice)) }
                        }
                    }
                }
            }
        }
    };
    Html(
        page(
            &signed,
            Section::Pending,
            text.pending,
            shown.as_ref(),
            body,
        )
        .into_string(),
    )
}

/// `GET /dead-letters`
pub async fn dead_letters(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Html<String> {
    let text = signed.text;
    let code = query
        .iter()
        .find(|(name, value)| name == "code" && !value.is_empty())
        .map(|(_, value)| value.clone());
    let listed = state
        .store
        .dead_letters(&DeadLetterFilter {
            code: code.clone(),
            limit: 100,
            ..DeadLetterFilter::default()
        })
        .await;
    let body = html! {
        form.filters method="get" action="/dead-letters" {
            label { (text.code) input type="text" name="code" value=(code.clone().unwrap_or_default()); }
            button.primary type="submit" { (text.filter) }
        }
        @if let (true, Some(code)) = (signed.is_operator(), code.as_deref().filter(|code| Code::from_wire(code).is_some())) {
            form.filters #replay-all method="post" action="/pending/bulk" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="action" value="replay";
                input type="hidden" name="error_code" value=(code);
                button type="submit" { (text.replay) " — " (text.bulk) }
            }
        }
        @match &listed {
            Err(problem) => p.flash.bad { (problem) },
            Ok(page) if page.items.is_empty() => p { (text.nothing) },
            Ok(page) => {
                table {
                    tr { th { (text.id) } th { (text.at) } th { (text.code) } th { (text.reason) } th { (text.routing) } th { (text.state) } th {} }
                    @for dead in &page.items {
                        tr {
                            td { a href={ "/dead-letters/" (dead.id) } { (dead.id) } }
                            td { (dead.dead_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { (dead.code) }
                            td { (dead.reason) }
                            td { (dead.exchange) " / " (dead.routing_key) }
                            td { @if dead.discarded_at.is_some() { (text.discarded) } @else if dead.replays > 0 { (text.replay) " ×" (dead.replays) } }
                            td { @if signed.is_operator() && dead.discarded_at.is_none() {
                                (action(&signed, &format!("/dead-letters/{}/replay", dead.id), text.replay, false))
                            } }
                        }
                    }
                }
            }
        }
    };
    let shown = flash(&query);
    Html(
        page(
            &signed,
            Section::DeadLetters,
            text.dead_letters,
            shown.as_ref(),
            body,
        )
        .into_string(),
    )
}

/// `GET /dead-letters/{id}`: one dead letter with its body.
pub async fn dead_letter(
    State(state): State<ApiState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let text = signed.text;
    let Ok(ItemId::DeadLetter(number)) = id.parse::<ItemId>() else {
        return Redirect::to("/dead-letters").into_response();
    };
    let Ok(Some(dead)) = state.store.dead_letter(number).await else {
        return Redirect::to("/dead-letters").into_response();
    };
    let body = html! {
        dl {
            dt { (text.code) } dd { (dead.code) }
            dt { (text.reason) } dd { (dead.reason) }
            dt { (text.routing) } dd { (dead.exchange) " / " (dead.routing_key) }
            dt { (text.uuid) } dd { (dead.uuid.clone().unwrap_or_default()) }
            dt { (text.at) } dd { (dead.dead_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")) }
        }
        @if signed.is_operator() && dead.discarded_at.is_none() {
            div.actions {
                (action(&signed, &format!("/dead-letters/{id}/replay"), text.replay, false))
                @if dead.replayed_at.is_none() {
                    (action(&signed, &format!("/dead-letters/{id}/discard"), text.discard, true))
                }
            }
        }
        h2 { (text.body) }
        pre { (dead.body.as_ref().map(|body| serde_json::to_string_pretty(body).unwrap_or_default()).unwrap_or_default()) }
    };
    Html(page(&signed, Section::DeadLetters, &id, None, body).into_string()).into_response()
}

/// `POST /dead-letters/{id}/discard` (with a note).
pub async fn discard_dead_letter(
    State(state): State<ApiState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let text = signed.text;
    let (Ok(item @ ItemId::DeadLetter(_)), note) = (id.parse::<ItemId>(), form.note.trim()) else {
        return Redirect::to("/dead-letters").into_response();
    };
    let acted = if note.is_empty() {
        Ok(Acted::Refused(format!("{}: {}", text.discard, text.note)))
    } else {
        state
            .store
            .discard(item, &signed.caller.name, note)
            .await
            .map_err(|error| error.to_string())
    };
    after(
        "/dead-letters",
        text,
        &format!("{}: {id}", text.done),
        acted,
    )
}

/// `POST /dead-letters/{id}/replay`
pub async fn replay(
    State(state): State<ApiState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let Ok(ItemId::DeadLetter(number)) = id.parse::<ItemId>() else {
        return Redirect::to("/dead-letters").into_response();
    };
    let acted = repair::replay(
        &state.store,
        &state.inlet,
        number,
        &signed.caller.name,
        false,
    )
    .await;
    after(
        "/dead-letters",
        signed.text,
        &format!("{}: {id}", signed.text.done),
        acted.map_err(|error| error.to_string()),
    )
}
