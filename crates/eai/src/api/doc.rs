//! The OpenAPI document of the API, generated from the handlers' and
//! types' annotations (utoipa) and served at `/api/v1/openapi.json`.
//! The query parameter types here describe what [`super::params::Params`]
//! takes; a test keeps the two lists equal.

use axum::response::IntoResponse;
use axum::Json;
use eai_store::log::{Direction, Status};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi};

use super::error::ErrorBody;

/// The filters of `GET /api/v1/messages` and `GET /api/v1/pending`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogQuery {
    direction: Option<Direction>,
    status: Option<Status>,
    transaction: Option<String>,
    company: Option<String>,
    branch: Option<String>,
    /// Received (inbound) or created (outbound) at or after: RFC 3339 or YYYY-MM-DD.
    #[param(format = DateTime)]
    from: Option<String>,
    /// ... and before.
    #[param(format = DateTime)]
    to: Option<String>,
    uuid: Option<String>,
    /// InternalId or DocumentCode (inbound), document key (outbound).
    document: Option<String>,
    /// A receipt code, e.g. PRODUCT_NOT_FOUND.
    #[param(pattern = "^[A-Z_]+$")]
    error_code: Option<String>,
    /// Outbound messages to this destination.
    destination: Option<String>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The filters of `GET /api/v1/alerts`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AlertQuery {
    /// waiting, sent or failed.
    #[param(pattern = "^(waiting|sent|failed)$")]
    status: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The filters of `GET /api/v1/dead-letters`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeadLetterQuery {
    /// The `x-eai-code`, e.g. PROCESSING_FAILED.
    code: Option<String>,
    uuid: Option<String>,
    #[param(format = DateTime)]
    from: Option<String>,
    #[param(format = DateTime)]
    to: Option<String>,
    /// Only those neither replayed nor discarded.
    open: Option<bool>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The filters of `GET /api/v1/mappings`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct MappingQuery {
    namespace: Option<String>,
    /// Company, Product, Customer, Station, Operator, PaymentMethod, FinancialManager, Warehouse, Carrier, Operation, ItemReserve or RetailSales.
    entity: Option<String>,
    external: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The mapping `DELETE /api/v1/mappings` removes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct MappingKey {
    namespace: String,
    entity: String,
    external: String,
}

/// The period and filters of `GET /api/v1/usage`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UsageQuery {
    /// Required with month, unless from and to are given.
    #[param(minimum = 2000, maximum = 9999)]
    year: Option<i32>,
    #[param(minimum = 1, maximum = 12)]
    month: Option<u32>,
    #[param(format = DateTime)]
    from: Option<String>,
    #[param(format = DateTime)]
    to: Option<String>,
    company: Option<String>,
    cnpj: Option<String>,
    cursor: Option<String>,
}

/// What any route may answer besides its success.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// A parameter or body field is not what the route takes; the message names it.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No token, or one that is not configured (with `WWW-Authenticate: Bearer`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// A viewer token on a mutating route.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The database did not answer (with `Retry-After`).
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EAI Worker", description = "The operator API and the HTTP ingress of EAI Worker."),
    paths(
        super::messages::list,
        super::messages::show,
        super::messages::retry,
        super::messages::block,
        super::messages::unblock,
        super::messages::discard,
        super::messages::pending,
        super::dead_letters::list,
        super::dead_letters::show,
        super::dead_letters::replay,
        super::dead_letters::replay_all,
        super::dead_letters::discard,
        super::mappings::list,
        super::mappings::set,
        super::mappings::delete,
        super::destinations::list,
        super::destinations::unblock,
        super::destinations::test,
        super::alerts::list_targets,
        super::alerts::show_target,
        super::alerts::set_target,
        super::alerts::delete_target,
        super::alerts::test,
        super::alerts::list,
        super::overview::overview,
        super::usage::report,
        super::exports::export,
        super::exports::confirm,
        super::ingress::receive,
        super::ingress::receipt,
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json` (open, like `/healthz`: it holds no data).
pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::messages::FILTERS;

    fn names<P: IntoParams>() -> Vec<String> {
        P::into_params(|| None)
            .into_iter()
            .map(|parameter| parameter.name)
            .collect()
    }

    #[test]
    fn the_documented_filters_are_the_ones_taken() {
        assert_eq!(names::<LogQuery>(), FILTERS);
        assert_eq!(
            names::<DeadLetterQuery>(),
            crate::api::dead_letters::FILTERS
        );
        assert_eq!(names::<MappingQuery>(), crate::api::mappings::FILTERS);
        assert_eq!(names::<UsageQuery>(), crate::api::usage::FILTERS);
        assert_eq!(names::<AlertQuery>(), crate::api::alerts::FILTERS);
        let document = serde_json::to_value(ApiDoc::openapi()).expect("JSON");
        assert!(document["paths"]["/api/v1/messages"]["get"].is_object());
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
