//! Every API error is JSON `{"code": "...", "message": "..."}` with its
//! HTTP status; a bad parameter is named in the message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use eai_store::log::Acted;
use eai_store::{Failure, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, for scripts: `UNAUTHORIZED`, `INVALID_PARAMETER`, `NOT_FOUND`, ...
    pub code: String,
    /// For people: names the parameter or field at fault and what was expected.
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: String) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// A query or path parameter with a value we cannot take.
    pub fn bad_parameter(name: &str, expected: &str, got: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            format!("{name}: expected {expected}, got {got:?}"),
        )
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", what)
    }

    /// The outcome of an operator action as an answer.
    pub fn from_acted(acted: Acted, what: &str) -> Result<(), ApiError> {
        match acted {
            Acted::Done => Ok(()),
            Acted::NotFound => Err(ApiError::not_found(format!("no {what}"))),
            Acted::Refused(why) => Err(ApiError::new(StatusCode::CONFLICT, "NOT_APPLICABLE", why)),
            Acted::Unavailable(why) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BROKER_UNAVAILABLE",
                why,
            )),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        if error.failure() == Failure::Permanent {
            tracing::error!(%error, "API request refused by the database");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "the database refused the request",
            );
        }
        tracing::warn!(%error, "API request failed in the database");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "DATABASE_UNAVAILABLE",
            "the database did not answer; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
