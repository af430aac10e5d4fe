//! The overview: the five numbers an operator checks first — envelopes and
//! errors over the last hour, the outbound backlog and its oldest message,
//! blocked destinations, readiness — and envelopes per transaction and
//! status. A few lines of inline script refresh the numbers every 10 s
//! without reloading the page.

use axum::extract::State;
use axum::response::Html;
use chrono::Utc;
use eai_store::overview::Overview;
use maud::{html, Markup, PreEscaped};

use super::layout::{page, Section};
use super::session::Signed;
use crate::api::ApiState;
use crate::health::Readiness;

const REFRESH: &str = "setInterval(async()=>{const r=await fetch('/overview/numbers');\
if(r.ok){document.getElementById('numbers').innerHTML=await r.text();}},10000);";

fn numbers(signed: &Signed, overview: &Result<Overview, String>, readiness: Readiness) -> Markup {
    let text = signed.text;
    match overview {
        Err(problem) => html! { p.flash.bad { (problem) } },
        Ok(overview) => {
            let received: i64 = overview.envelopes.iter().map(|count| count.last_hour).sum();
            let errors: i64 = overview
                .envelopes
                .iter()
                .filter(|count| count.status == "error")
                .map(|count| count.last_hour)
                .sum();
            let oldest = overview.oldest.map(|at| {
                let age = Utc::now() - at;
                format!("{} min", age.num_minutes())
            });
            let state = |up: bool| if up { text.yes } else { text.no };
            html! {
                div.numbers {
                    div #received { (text.envelopes) " (" (text.last_hour) ")" b { (received) } }
                    div #errors { (text.errors) " (" (text.last_hour) ")" b.st-error[errors > 0] { (errors) } }
                    div #backlog { (text.backlog) b { (overview.backlog) }
                        @if let Some(oldest) = &oldest { (text.oldest) ": " (oldest) } }
                    div #blocked { (text.blocked_destinations) b.st-blocked[!overview.blocked_destinations.is_empty()] { (overview.blocked_destinations.len()) }
                        @if overview.blocked_destinations.is_empty() { (text.none) } @else { (overview.blocked_destinations.join(", ")) } }
                    div #readiness { (text.readiness)
                        b.st-ok[readiness.is_ready()].st-error[!readiness.is_ready()] { (state(readiness.is_ready())) }
                        @if let Some(broker) = readiness.broker { (text.broker) ": " (state(broker)) " · " }
                        (text.database) ": " (state(readiness.database)) }
                }
                table {
                    tr { th { (text.transaction) } th { (text.status) } th { (text.last_hour) } th { (text.last_day) } }
                    @for count in &overview.envelopes {
                        tr { td { (count.transaction) } td class={ "st-" (count.status) } { (count.status) }
                             td { (count.last_hour) } td { (count.last_day) } }
                    }
                }
            }
        }
    }
}

/// `GET /overview`
pub async fn overview(State(state): State<ApiState>, signed: Signed) -> Html<String> {
    let listed = state
        .store
        .overview()
        .await
        .map_err(|error| error.to_string());
    let body = html! {
        div #numbers { (numbers(&signed, &listed, state.health.readiness())) }
        script { (PreEscaped(REFRESH)) }
    };
    Html(page(&signed, Section::Overview, signed.text.overview, None, body).into_string())
}

/// `GET /overview/numbers`: the numbers alone, for the refresh.
pub async fn fragment(State(state): State<ApiState>, signed: Signed) -> Html<String> {
    let listed = state
        .store
        .overview()
        .await
        .map_err(|error| error.to_string());
    Html(numbers(&signed, &listed, state.health.readiness()).into_string())
}
