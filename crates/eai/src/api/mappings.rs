//! `/api/v1/mappings`: de/para `(namespace, entity, external) → internal`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use eai_domain::Entity;
use eai_store::mappings::{position, Mapping, MappingFilter};
use eai_store::page::Page;
use serde::Deserialize;

use super::body::Body;
use utoipa::ToSchema;

use super::doc::{Errors, MappingKey, MappingQuery};
use super::error::{ApiError, ErrorBody};
use super::params::Params;
use super::ApiState;

fn entity(name: &str, text: &str) -> Result<Entity, ApiError> {
    Entity::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Entity::ALL.iter().map(|entity| entity.as_str()).collect();
        ApiError::bad_parameter(name, &format!("one of {}", names.join(", ")), text)
    })
}

/// The filters of the list.
pub const FILTERS: [&str; 5] = ["namespace", "entity", "external", "limit", "cursor"];

/// `GET /api/v1/mappings?namespace=&entity=&external=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/mappings", tag = "mappings", params(MappingQuery),
    responses((status = 200, description = "Mappings by namespace, entity, external", body = Page<Mapping>), Errors))]
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Page<Mapping>>, ApiError> {
    let params = Params::new(query, &FILTERS)?;
    let filter = MappingFilter {
        namespace: params.text("namespace"),
        entity: params
            .text("entity")
            .map(|text| entity("entity", &text))
            .transpose()?,
        external: params.text("external"),
        limit: params.limit()?,
        cursor: params
            .cursor()?
            .map(|cursor| match position(&cursor) {
                Some(_) => Ok(cursor),
                None => Err(ApiError::bad_parameter(
                    "cursor",
                    "the next_cursor of a previous page of mappings",
                    &cursor.to_string(),
                )),
            })
            .transpose()?,
    };
    Ok(Json(state.store.mappings(&filter).await?))
}

/// A mapping to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMapping {
    pub namespace: String,
    pub entity: String,
    pub external: String,
    pub internal: String,
}

/// `PUT /api/v1/mappings` with the mapping: 201 when new, 200 when replaced.
#[utoipa::path(put, path = "/api/v1/mappings", tag = "mappings", request_body = NewMapping,
    responses((status = 201, description = "Created", body = Mapping),
        (status = 200, description = "Replaced", body = Mapping), Errors))]
pub async fn set(
    State(state): State<ApiState>,
    Body(mapping): Body<NewMapping>,
) -> Result<(StatusCode, Json<Mapping>), ApiError> {
    let kind = entity("$.entity", &mapping.entity)?;
    for (name, value) in [
        ("$.namespace", &mapping.namespace),
        ("$.external", &mapping.external),
        ("$.internal", &mapping.internal),
    ] {
        if value.trim().is_empty() || value.chars().count() > 255 || value.contains('\0') {
            return Err(ApiError::bad_parameter(
                name,
                "a non-empty string of at most 255 characters",
                value,
            ));
        }
    }
    let created = state
        .store
        .set_mapping(
            &mapping.namespace,
            kind,
            &mapping.external,
            &mapping.internal,
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Mapping {
            namespace: mapping.namespace,
            entity: kind.as_str().to_owned(),
            external: mapping.external,
            internal: mapping.internal,
        }),
    ))
}

/// `DELETE /api/v1/mappings?namespace=&entity=&external=`: 204, or 404 when there was none.
#[utoipa::path(delete, path = "/api/v1/mappings", tag = "mappings", params(MappingKey),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such mapping", body = ErrorBody), Errors))]
pub async fn delete(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<StatusCode, ApiError> {
    let params = Params::new(query, &["namespace", "entity", "external"])?;
    let required = |name: &str| {
        params
            .text(name)
            .ok_or_else(|| ApiError::bad_parameter(name, "a value", ""))
    };
    let (namespace, external) = (required("namespace")?, required("external")?);
    let kind = entity("entity", &required("entity")?)?;
    if state
        .store
        .delete_mapping(&namespace, kind, &external)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no mapping {namespace}/{kind}/{external}"
        )))
    }
}
