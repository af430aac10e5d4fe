//! Cadastrar: de/para mappings (list, filter, add, delete) and destinations
//! (list, test the connection, unblock). Credentials are never shown.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use eai_domain::Entity;
use eai_store::mappings::MappingFilter;
use eai_store::outbound::Settlement;
use maud::html;
use serde::Deserialize;

use super::layout::{action, flash, page, redirect, Section};
use super::monitor::refused;
use super::session::Signed;
use crate::api::destinations::DestinationView;
use crate::api::ApiState;
use crate::commands::destinations::probe;

/// `GET /settings/mappings?namespace=&entity=&external=`
pub async fn mappings(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Html<String> {
    let text = signed.text;
    let value = |name: &str| {
        query
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
    };
    let filter = MappingFilter {
        namespace: value("namespace"),
        entity: value("entity").and_then(|entity| Entity::parse(&entity)),
        external: value("external"),
        limit: 200,
        cursor: None,
    };
    let listed = state.store.mappings(&filter).await;
    let entity_select = |selected: Option<String>| {
        html! {
            select name="entity" {
                option value="" { (text.any) }
                @for entity in Entity::ALL {
                    option value=(entity.as_str()) selected[selected.as_deref() == Some(entity.as_str())] { (entity.as_str()) }
                }
            }
        }
    };
    let body = html! {
        form.filters method="get" action="/settings/mappings" {
            label { (text.namespace) input type="text" name="namespace" value=(value("namespace").unwrap_or_default()); }
            label { (text.entity) (entity_select(value("entity"))) }
            label { (text.external) input type="text" name="external" value=(value("external").unwrap_or_default()); }
            button.primary type="submit" { (text.filter) }
        }
        @if signed.is_operator() {
            form.filters #add-mapping method="post" action="/settings/mappings" {
                input type="hidden" name="csrf" value=(signed.csrf);
                label { (text.namespace) input type="text" name="namespace" required; }
                label { (text.entity) (entity_select(None)) }
                label { (text.external) input type="text" name="external" required; }
                label { (text.internal) input type="text" name="internal" required; }
                button.primary type="submit" { (text.add) }
            }
        }
        @match &listed {
            Err(problem) => p.flash.bad { (problem) },
            Ok(page) if page.items.is_empty() => p { (text.nothing) },
            Ok(page) => table {
                tr { th { (text.namespace) } th { (text.entity) } th { (text.external) } th { (text.internal) } th {} }
                @for mapping in &page.items {
                    tr {
                        td { (mapping.namespace) } td { (mapping.entity) } td { (mapping.external) } td { (mapping.internal) }
                        td { @if signed.is_operator() {
                            form method="post" action="/settings/mappings/delete" {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                input type="hidden" name="namespace" value=(mapping.namespace);
                                input type="hidden" name="entity" value=(mapping.entity);
                                input type="hidden" name="external" value=(mapping.external);
                                input type="hidden" name="internal" value="";
                                button type="submit" { (text.delete) }
                            }
                        } }
                    }
                }
            },
        }
    };
    let shown = flash(&query);
    Html(
        page(
            &signed,
            Section::Mappings,
            text.mappings,
            shown.as_ref(),
            body,
        )
        .into_string(),
    )
}

/// A mapping form's fields.
#[derive(Debug, Deserialize)]
pub struct MappingForm {
    pub csrf: String,
    pub namespace: String,
    pub entity: String,
    pub external: String,
    #[serde(default)]
    pub internal: String,
}

impl MappingForm {
    fn checked(&self) -> Result<Entity, String> {
        let entity =
            Entity::parse(&self.entity).ok_or_else(|| format!("entity: {:?}?", self.entity))?;
        for value in [&self.namespace, &self.external] {
            if value.trim().is_empty() || value.contains('\0') || value.chars().count() > 255 {
                return Err(format!("{value:?}: 1 to 255 characters"));
            }
        }
        Ok(entity)
    }
}

/// `POST /settings/mappings`: creates or replaces a mapping.
pub async fn add_mapping(
    State(state): State<ApiState>,
    signed: Signed,
    Form(form): Form<MappingForm>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let path = "/settings/mappings";
    let entity = match form.checked() {
        Ok(entity) if !form.internal.trim().is_empty() && !form.internal.contains('\0') => entity,
        Ok(_) => return redirect(path, false, "internal: 1 to 255 characters"),
        Err(problem) => return redirect(path, false, &problem),
    };
    match state
        .store
        .set_mapping(&form.namespace, entity, &form.external, &form.internal)
        .await
    {
        Ok(_) => redirect(
            path,
            true,
            &format!(
                "{} {} {} → {}",
                form.namespace, entity, form.external, form.internal
            ),
        ),
        Err(error) => redirect(path, false, &error.to_string()),
    }
}

/// `POST /settings/mappings/delete`
pub async fn delete_mapping(
    State(state): State<ApiState>,
    signed: Signed,
    Form(form): Form<MappingForm>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let path = "/settings/mappings";
    let entity = match form.checked() {
        Ok(entity) => entity,
        Err(problem) => return redirect(path, false, &problem),
    };
    match state
        .store
        .delete_mapping(&form.namespace, entity, &form.external)
        .await
    {
        Ok(true) => redirect(
            path,
            true,
            &format!("{} {} {}", form.namespace, entity, form.external),
        ),
        Ok(false) => redirect(path, false, signed.text.not_found),
        Err(error) => redirect(path, false, &error.to_string()),
    }
}

/// `GET /settings/destinations`
pub async fn destinations(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Html<String> {
    let text = signed.text;
    let listed = state.store.destinations().await;
    let body = html! {
        @match &listed {
            Err(problem) => p.flash.bad { (problem) },
            Ok(list) if list.is_empty() => p { (text.nothing) },
            Ok(list) => table {
                tr { th { (text.name) } th { (text.kind) } th { (text.company) " / " (text.branch) } th { (text.transaction) }
                     th { (text.target) } th { (text.state) } th {} }
                @for destination in list.iter().cloned().map(DestinationView::from) {
                    tr {
                        td { (destination.name) } td { (destination.kind) }
                        td { (destination.company) " / " (destination.branch) } td { (destination.transaction) }
                        td { (destination.target) br; small { (text.namespace) ": " (destination.namespace.clone().unwrap_or_else(|| "—".to_owned())) " · " (text.lists) ": " (destination.list_style) } }
                        td class=[destination.blocked.then_some("st-blocked")] {
                            @if destination.blocked { (text.blocked) ": " (destination.blocked_reason.clone().unwrap_or_default()) } @else { (text.active) }
                        }
                        td { @if signed.is_operator() {
                            div.actions {
                                (action(&signed, &format!("/settings/destinations/{}/test", destination.name), text.test_connection, false))
                                @if destination.blocked { (action(&signed, &format!("/settings/destinations/{}/unblock", destination.name), text.unblock, false)) }
                            }
                            details {
                                summary { (text.credentials) @if destination.has_credentials { " ✓" } }
                                form.credentials method="post" action={ "/settings/destinations/" (destination.name) "/credentials" } {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    input type="text" name="header" placeholder=(text.header_name) value="Authorization" required;
                                    input type="password" name="value" placeholder=(text.secret) autocomplete="off" required;
                                    button type="submit" { (text.save) }
                                }
                            }
                        } }
                    }
                }
            },
        }
    };
    let shown = flash(&query);
    Html(
        page(
            &signed,
            Section::Destinations,
            text.destinations,
            shown.as_ref(),
            body,
        )
        .into_string(),
    )
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Plain {
    pub csrf: String,
}

/// `POST /settings/destinations/{name}/{test|unblock}`
pub async fn destination_action(
    State(state): State<ApiState>,
    signed: Signed,
    Path((name, verb)): Path<(String, String)>,
    Form(form): Form<Plain>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let path = "/settings/destinations";
    let found = match state.store.destination(&name).await {
        Ok(Some(destination)) => destination,
        Ok(None) => return redirect(path, false, &format!("{name}: {}", signed.text.not_found)),
        Err(error) => return redirect(path, false, &error.to_string()),
    };
    match verb.as_str() {
        "test" => match async {
            let company = state.store.company_for(&found).await?;
            probe(&state.settings, &found, &company).await
        }
        .await
        {
            Ok((settlement, elapsed)) => {
                let ok = matches!(settlement, Settlement::Done);
                let detail = settlement.detail();
                redirect(
                    path,
                    ok,
                    &format!(
                        "{name}: {} ({} ms) {detail}",
                        settlement.status(),
                        elapsed.as_millis()
                    ),
                )
            }
            Err(error) => redirect(path, false, &format!("{name}: {error}")),
        },
        "unblock" => match state.store.unblock_destination(&name).await {
            Ok(Some(released)) => redirect(path, true, &format!("{name}: {released}")),
            Ok(None) => redirect(path, false, &format!("{name}: {}", signed.text.not_found)),
            Err(error) => redirect(path, false, &error.to_string()),
        },
        _ => Redirect::to(path).into_response(),
    }
}

/// New credentials for a destination: written, never shown back.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub csrf: String,
    pub header: String,
    pub value: String,
}

/// `POST /settings/destinations/{name}/credentials`: sets them and unblocks it.
pub async fn credentials(
    State(state): State<ApiState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<Credentials>,
) -> Response {
    if let Some(refusal) = refused(&signed, &form.csrf) {
        return refusal;
    }
    let path = "/settings/destinations";
    let header = form.header.trim();
    let valid_header = !header.is_empty()
        && header
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !valid_header || form.value.is_empty() || form.value.contains(['\0', '\r', '\n']) {
        return redirect(path, false, &format!("{name}: {}", signed.text.credentials));
    }
    match state
        .store
        .set_destination_credentials(&name, header, &form.value)
        .await
    {
        Ok(Some(released)) => redirect(
            path,
            true,
            &format!("{name}: {} ({released})", signed.text.credentials),
        ),
        Ok(None) => redirect(path, false, &format!("{name}: {}", signed.text.not_found)),
        Err(error) => redirect(path, false, &error.to_string()),
    }
}

/// `GET /settings/schedules`: the periodic jobs and how often they run (set
/// by configuration; see the README's settings table).
pub async fn schedules(State(state): State<ApiState>, signed: Signed) -> Html<String> {
    let text = signed.text;
    let settings = &state.settings;
    let shown = |duration: Duration| humantime::format_duration(duration).to_string();
    let jobs: [(&str, &str, String); 6] = [
        (
            text.job_relay,
            "receipts.relay_interval",
            shown(settings.receipts.relay_interval),
        ),
        (
            text.job_sweep,
            "receiver.reservation_sweep",
            shown(settings.receiver.reservation_sweep),
        ),
        (
            text.job_stock,
            "sender.stock_full_load",
            if settings.sender.stock_full_load.is_zero() {
                text.off.to_owned()
            } else {
                shown(settings.sender.stock_full_load)
            },
        ),
        (
            text.job_retention,
            "retention.interval",
            format!(
                "{} (> {})",
                shown(settings.retention.interval),
                shown(settings.retention.window)
            ),
        ),
        (text.job_sender, "sender.poll", shown(settings.sender.poll)),
        (
            text.job_alerts,
            "alerts.check_every",
            format!(
                "{} (1 / {})",
                shown(settings.alerts.check_every),
                shown(settings.alerts.interval)
            ),
        ),
    ];
    let body = html! {
        table {
            tr { th { (text.name) } th { (text.every) } th { "EAI_…" } }
            @for (job, key, every) in &jobs {
                tr { td { (job) } td { (every) } td { code { "EAI_" (key.replace('.', "_").to_ascii_uppercase()) } } }
            }
        }
    };
    Html(page(&signed, Section::Schedules, text.schedules, None, body).into_string())
}
