//! JSON request bodies whose problems are answered like every other API
//! error: `{"code": "INVALID_BODY", "message": ...}` naming what is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body of type `T`; `Default` when the request has no body and
/// `T` allows it ([`Optional`]).
pub struct Body<T>(pub T);

/// Marks a body that may be left out.
pub struct Optional<T>(pub T);

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let escaped_nul = bytes
        .windows(6)
        .any(|window| window.eq_ignore_ascii_case(b"\\u0000"));
    if escaped_nul {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "text in the body must not contain NUL (\\u0000)",
        ));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("the body is not what this endpoint takes: {error}"),
        )
    })
}

async fn bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            ApiError::new(rejection.status(), "INVALID_BODY", rejection.body_text())
        })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = bytes(request, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                "a JSON body is required",
            ));
        }
        Ok(Body(parse(&bytes)?))
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for Optional<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Optional(T::default()));
        }
        Ok(Optional(parse(&bytes)?))
    }
}
