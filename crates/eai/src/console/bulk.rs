//! Bulk repairs by filter, with a confirmation step: the pending items a
//! filter matches are retried, replayed or discarded one by one, each the
//! way its own button would, and the outcome is counted.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use eai_store::log::{Acted, ItemId, PendingItem};
use maud::html;

use super::layout::{page, redirect, Section};
use super::monitor::refused;
use super::session::Signed;
use crate::api::messages::{log_filter, FILTERS};
use crate::api::params::Params;
use crate::api::ApiState;
use crate::repair::{self, Action};

/// The bulk actions.
const ACTIONS: [&str; 3] = ["retry", "replay", "discard"];

/// Does `action` to one item, as its own button would.
async fn one(state: &ApiState, item: &PendingItem, action: &str, actor: &str, note: &str) -> Acted {
    let (inlet, store) = (Some(&state.inlet), &state.store);
    let outcome = match (action, item.id) {
        ("replay", ItemId::DeadLetter(number)) => {
            repair::replay(store, &state.inlet, number, actor, true).await
        }
        // A dead letter is retried through the envelope it answered.
        ("retry", ItemId::DeadLetter(_)) => match item.related {
            Some(envelope) => repair::act(store, inlet, Action::Retry, envelope, actor, note).await,
            None => Ok(Acted::Refused(format!("{}: nothing to retry", item.id))),
        },
        ("retry", id) => repair::act(store, inlet, Action::Retry, id, actor, note).await,
        ("discard", id) => repair::act(store, inlet, Action::Discard, id, actor, note).await,
        (_, id) => Ok(Acted::Refused(format!("{id}: {action} does not apply"))),
    };
    outcome.unwrap_or_else(|error| Acted::Unavailable(error.to_string()))
}

/// `POST /pending/bulk`: first shows what the filter matches and asks for a
/// confirmation; confirmed, does the action to each.
pub async fn bulk(
    State(state): State<ApiState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    if let Some(refusal) = refused(&signed, &field("csrf")) {
        return refusal;
    }
    let text = signed.text;
    let action = field("action");
    let note = field("note");
    if !ACTIONS.contains(&action.as_str()) || (action == "discard" && note.trim().is_empty()) {
        return redirect("/pending", false, &action);
    }
    let mut filters: Vec<(String, String)> = fields
        .iter()
        .filter(|(name, value)| {
            !value.is_empty()
                && FILTERS.contains(&name.as_str())
                && name != "limit"
                && name != "cursor"
        })
        .cloned()
        .collect();
    filters.push(("limit".to_owned(), "500".to_owned()));
    let items = match Params::new(filters.clone(), &FILTERS).and_then(|params| log_filter(&params))
    {
        Ok(filter) => match state.store.pending(&filter).await {
            Ok(page) => page.items,
            Err(error) => return redirect("/pending", false, &error.to_string()),
        },
        Err(error) => return redirect("/pending", false, &error.message),
    };
    if field("confirm") != "yes" {
        let body = html! {
            p { (action) " — " (items.len()) " " (text.pending) }
            ul { @for item in items.iter().take(50) { li { (item.id) " " (item.codes.join(",")) " " (item.reason) } } }
            form method="post" action="/pending/bulk" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="action" value=(action);
                input type="hidden" name="note" value=(note);
                input type="hidden" name="confirm" value="yes";
                @for (name, value) in &filters { @if name != "limit" { input type="hidden" name=(name) value=(value); } }
                button.primary #confirm type="submit" { (text.confirm) }
                " " a href="/pending" { (text.cancel) }
            }
        };
        return Html(page(&signed, Section::Pending, text.confirm, None, body).into_string())
            .into_response();
    }
    let (mut done, mut failed) = (0, 0);
    for item in &items {
        match one(&state, item, &action, &signed.caller.name, note.trim()).await {
            Acted::Done => done += 1,
            _ => failed += 1,
        }
    }
    let line = format!("{action}: {} {done}, {} {failed}", text.done, text.not_done);
    redirect("/pending", failed == 0, &line)
}
