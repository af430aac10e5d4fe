//! The page shell every console page shares: navigation, the signed-in
//! token's name and role, a flash line, and the style sheet (inline: no
//! asset to fetch, no CDN).

use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::Signed;
use super::text::Text;

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2f4f;color:#fff;padding:.6em 1.2em;display:flex;gap:1.4em;align-items:center}
header a{color:#dfe8f7;text-decoration:none}header a.on{color:#fff;font-weight:600;border-bottom:2px solid #7fb0ff}
header .who{margin-left:auto;font-size:.9em;opacity:.85}
main{padding:1em 1.2em;max-width:1400px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e6eb;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
form.filters{display:flex;flex-wrap:wrap;gap:.5em;align-items:end;margin:.5em 0 1em}
form.filters label{display:flex;flex-direction:column;font-size:.85em}
input,select,button{font:inherit;padding:.25em .4em}
button{cursor:pointer;border:1px solid #9aa8bd;background:#fff;border-radius:3px}
button.primary{background:#1d5fd6;color:#fff;border-color:#1d5fd6}
.st-ok,.st-done{color:#11763a}.st-error,.st-dead,.st-failed,.st-rejected,.st-not_delivered{color:#b3261e}
.st-waiting,.st-retrying,.st-blocked,.st-running{color:#8a5a00}
.numbers{display:grid;grid-template-columns:repeat(5,1fr);gap:.8em;margin-bottom:1em}
.numbers div{background:#fff;border:1px solid #e3e6eb;border-radius:4px;padding:.6em}.numbers b{display:block;font-size:1.8em}
.flash{padding:.5em .8em;margin:.5em 0;border-radius:3px;background:#e6f4ea}.flash.bad{background:#fde7e7}
pre{background:#fff;border:1px solid #e3e6eb;padding:.6em;overflow:auto;max-height:30em}
.actions{display:flex;gap:.5em;flex-wrap:wrap;margin:.6em 0}.actions form{display:flex;gap:.3em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}
";

/// Which section a page belongs to, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Messages,
    Pending,
    DeadLetters,
    Mappings,
    Destinations,
    Alerts,
    Schedules,
}

/// A whole page.
pub fn page(
    signed: &Signed,
    section: Section,
    title: &str,
    flash: Option<&Flash>,
    body: Markup,
) -> Markup {
    let text: &Text = signed.text;
    let link = |href: &str, label: &str, this: Section| {
        html! { a href=(href) class=[(this == section).then_some("on")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang=(text.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (text.title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { (text.title) }
                    span { (text.monitor) ":" }
                    (link("/overview", text.overview, Section::Overview))
                    (link("/messages", text.messages, Section::Messages))
                    (link("/pending", text.pending, Section::Pending))
                    (link("/dead-letters", text.dead_letters, Section::DeadLetters))
                    span { (text.settings) ":" }
                    (link("/settings/mappings", text.mappings, Section::Mappings))
                    (link("/settings/destinations", text.destinations, Section::Destinations))
                    (link("/settings/alerts", text.email, Section::Alerts))
                    (link("/settings/schedules", text.schedules, Section::Schedules))
                    span.who {
                        (signed.caller.name) " (" (if signed.is_operator() { text.operator } else { text.viewer }) ") "
                        form method="post" action="/logout" style="display:inline" {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            button type="submit" { (text.sign_out) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some((ok, line)) = flash {
                        p.flash.bad[!*ok] { (line) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The outcome line an action leaves for the page it redirects to: ok or
/// not, and what happened.
pub type Flash = (bool, String);

/// The outcome an action left in the query (`?done=` / `?failed=`).
pub fn flash(query: &[(String, String)]) -> Option<Flash> {
    query.iter().find_map(|(name, value)| match name.as_str() {
        "done" => Some((true, value.clone())),
        "failed" => Some((false, value.clone())),
        _ => None,
    })
}

/// Back to `path` after an action, with its outcome line.
pub fn redirect(path: &str, ok: bool, line: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair(if ok { "done" } else { "failed" }, line)
        .finish();
    Redirect::to(&format!("{path}?{query}")).into_response()
}

/// A POST form with the CSRF token and a button (and an optional note field).
pub fn action(signed: &Signed, href: &str, label: &str, with_note: bool) -> Markup {
    html! {
        form method="post" action=(href) {
            input type="hidden" name="csrf" value=(signed.csrf);
            @if with_note {
                input type="text" name="note" placeholder=(signed.text.note) required;
            }
            button type="submit" { (label) }
        }
    }
}
