//! Signing in: the API token, checked like the API checks it, kept in an
//! HttpOnly, SameSite=Strict cookie so that every request is checked again
//! (no session state: any worker of a fleet serves any page). Every form
//! carries a CSRF token derived from the session's token, compared in
//! constant time.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::text::{self, Text};
use crate::api::auth::{Caller, Role};
use crate::api::ApiState;

/// The session cookie's name.
pub const COOKIE: &str = "eai_session";

/// A signed-in request: who, their CSRF token, their language.
pub struct Signed {
    pub caller: Caller,
    pub csrf: String,
    pub text: &'static Text,
}

impl Signed {
    pub fn is_operator(&self) -> bool {
        self.caller.role == Role::Operator
    }
}

/// The CSRF token of a session: a digest of its API token, which a page of
/// another site cannot read or compute.
pub fn csrf_for(token: &str) -> String {
    Sha256::digest(format!("eai-console-csrf:{token}").as_bytes())
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The session cookie's value, if the request has one.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` that signs `token` in (`None` signs out).
pub fn cookie(token: Option<&str>) -> String {
    match token {
        Some(token) => format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    }
}

impl FromRequestParts<ApiState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Signed, Response> {
        let text = text::for_request(&parts.headers);
        let token = token_of(&parts.headers)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Redirect::to("/login").into_response())?;
        let caller = state
            .tokens
            .check(&token)
            .ok_or_else(|| Redirect::to("/login").into_response())?;
        Ok(Signed {
            caller,
            csrf: csrf_for(&token),
            text,
        })
    }
}

/// Whether a form's CSRF token is the session's.
pub fn csrf_matches(signed: &Signed, presented: &str) -> bool {
    bool::from(signed.csrf.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others_and_its_csrf_token_is_stable() {
        let mut headers = HeaderMap::new();
        assert_eq!(token_of(&headers), None);
        headers.insert(
            header::COOKIE,
            "theme=dark; eai_session=abc123; other=1"
                .parse()
                .expect("header"),
        );
        assert_eq!(token_of(&headers).as_deref(), Some("abc123"));
        assert_eq!(csrf_for("abc123"), csrf_for("abc123"));
        assert_ne!(csrf_for("abc123"), csrf_for("abc124"));
        assert!(
            !csrf_for("abc123").contains("abc123"),
            "the token does not show through"
        );
        assert!(cookie(Some("abc123")).contains("HttpOnly; SameSite=Strict"));
        assert!(cookie(None).contains("Max-Age=0"));
    }
}
