//! The web console (seed 000's Monitorar and Cadastrar), served by `eai run`
//! on its HTTP listener at `/`: server-rendered pages (maud), no asset
//! outside the binary, script only to refresh the overview. It signs in with an API token and calls the
//! same store and repair functions as the API: no rule of its own.
//!
//! # Layout
//!
//! - [`text`]: every string, in Portuguese and English.
//! - [`session`]: the token cookie, the CSRF token of every form.
//! - [`layout`]: the page shell and the action forms.
//! - [`overview`]: the first numbers, refreshed in place.
//! - [`bulk`]: bulk repairs by filter, after a confirmation.
//! - [`monitor`]: logs, one message and its repairs, pending items, dead letters.
//! - [`settings`]: mappings and destinations.
//! - [`alerts`]: e-mail and webhook alert targets, their test alert, the alerts sent.

pub mod alerts;
pub mod bulk;
pub mod layout;
pub mod monitor;
pub mod overview;
pub mod session;
pub mod settings;
pub mod text;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, DOCTYPE};
use serde::Deserialize;

use crate::api::ApiState;
use session::{cookie, csrf_for, token_of};

/// The console's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/overview") }))
        .route("/overview", get(overview::overview))
        .route("/overview/numbers", get(overview::fragment))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/messages", get(monitor::messages))
        .route("/messages/{id}", get(monitor::message))
        .route("/messages/{id}/{action}", post(monitor::act))
        .route("/pending", get(monitor::pending))
        .route("/pending/bulk", post(bulk::bulk))
        .route("/dead-letters", get(monitor::dead_letters))
        .route("/dead-letters/{id}", get(monitor::dead_letter))
        .route("/dead-letters/{id}/replay", post(monitor::replay))
        .route(
            "/dead-letters/{id}/discard",
            post(monitor::discard_dead_letter),
        )
        .route(
            "/settings/mappings",
            get(settings::mappings).post(settings::add_mapping),
        )
        .route("/settings/mappings/delete", post(settings::delete_mapping))
        .route("/settings/destinations", get(settings::destinations))
        .route("/settings/schedules", get(settings::schedules))
        .route(
            "/settings/alerts",
            get(alerts::alerts).post(alerts::set_target),
        )
        .route(
            "/settings/alerts/{name}/{action}",
            post(alerts::target_action),
        )
        .route(
            "/settings/destinations/{name}/credentials",
            post(settings::credentials),
        )
        .route(
            "/settings/destinations/{name}/{action}",
            post(settings::destination_action),
        )
        .with_state(state)
}

fn login_form(headers: &HeaderMap, problem: Option<&str>) -> Html<String> {
    let text = text::for_request(headers);
    Html(
        html! {
            (DOCTYPE)
            html lang=(text.lang) {
                head {
                    meta charset="utf-8";
                    title { (text.sign_in) " · " (text.title) }
                    style { "body{font:15px system-ui,sans-serif;display:grid;place-items:center;height:90vh;background:#f6f7f9}
                             form{background:#fff;padding:2em;border:1px solid #dde2ea;border-radius:6px;width:22em}
                             input,button{font:inherit;width:100%;padding:.4em;margin:.3em 0}.bad{color:#b3261e}" }
                }
                body {
                    form method="post" action="/login" {
                        h1 { (text.title) }
                        label for="token" { (text.token) }
                        input #token type="password" name="token" required autofocus autocomplete="off";
                        p { small { (text.token_help) } }
                        @if let Some(problem) = problem { p.bad { (problem) } }
                        button type="submit" { (text.sign_in) }
                    }
                }
            }
        }
        .into_string(),
    )
}

async fn login_page(headers: HeaderMap) -> Html<String> {
    login_form(&headers, None)
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// `POST /login`: a known token signs in; anything else shows the form again.
async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let token = form.token.trim();
    if token.is_empty() || token.contains(';') || state.tokens.check(token).is_none() {
        let text = text::for_request(&headers);
        return (
            StatusCode::UNAUTHORIZED,
            login_form(&headers, Some(text.bad_token)),
        )
            .into_response();
    }
    (
        [(header::SET_COOKIE, cookie(Some(token)))],
        Redirect::to("/overview"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Logout {
    csrf: String,
}

/// `POST /logout` (with the session's CSRF token).
async fn logout(headers: HeaderMap, Form(form): Form<Logout>) -> Response {
    let expected = token_of(&headers).map(|token| csrf_for(&token));
    if expected.as_deref() != Some(form.csrf.as_str()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    ([(header::SET_COOKIE, cookie(None))], Redirect::to("/login")).into_response()
}
