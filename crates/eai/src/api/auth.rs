//! Bearer tokens and their roles. A token is kept only as its SHA-256
//! digest and every presented token is compared with all of them in
//! constant time, so neither timing nor logs give a token away.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::ApiState;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read only (GET).
    Viewer,
    /// Everything.
    Operator,
}

/// Who called: the token's name (recorded with what they did) and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

struct Token {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The configured tokens.
#[derive(Default)]
pub struct Tokens(Vec<Token>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|token| token.name.as_str()).collect();
        write!(f, "Tokens({names:?})")
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Tokens {
    /// Reads `name:role:token` entries separated by commas or white space;
    /// an error names the entry by position, never its token.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut tokens = Vec::new();
        for (index, entry) in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(role), Some(secret)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "api_tokens entry {}: expected name:role:token",
                    index + 1
                ));
            };
            let role = match role {
                "viewer" => Role::Viewer,
                "operator" => Role::Operator,
                _ => {
                    return Err(format!(
                        "api_tokens entry {} ({name}): role must be viewer or operator",
                        index + 1
                    ))
                }
            };
            if name.is_empty() || secret.len() < 16 {
                return Err(format!(
                    "api_tokens entry {} ({name}): a name and a token of at least 16 characters are required",
                    index + 1
                ));
            }
            tokens.push(Token {
                name: name.to_owned(),
                role,
                digest: digest(secret),
            });
        }
        Ok(Tokens(tokens))
    }

    /// The caller `presented` identifies, comparing with every token (no early exit).
    pub fn check(&self, presented: &str) -> Option<Caller> {
        let presented = digest(presented);
        let mut found = None;
        for token in &self.0 {
            if bool::from(token.digest.ct_eq(&presented)) {
                found = Some(Caller {
                    name: token.name.clone(),
                    role: token.role,
                });
            }
        }
        found
    }
}

/// Lets a request through with its [`Caller`] when its bearer token is
/// known and its role allows the method: 401 without a known token, 403 for
/// a viewer's mutating call.
pub async fn require_token(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(caller) = presented.and_then(|token| state.tokens.check(token)) else {
        return Err(ApiError::unauthorized(if state.tokens.0.is_empty() {
            "no API tokens are configured (set EAI_API_TOKENS)"
        } else {
            "a valid bearer token is required"
        }));
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if caller.role == Role::Viewer && !reading {
        return Err(ApiError::forbidden(format!(
            "token {:?} is a viewer: only GET is allowed",
            caller.name
        )));
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_with_roles_and_bad_entries_are_named_without_their_secret() {
        let tokens = Tokens::parse("ops:operator:0123456789abcdef, eyes:viewer:fedcba9876543210")
            .expect("valid");
        assert_eq!(
            tokens.check("0123456789abcdef"),
            Some(Caller {
                name: "ops".into(),
                role: Role::Operator
            })
        );
        assert_eq!(
            tokens.check("fedcba9876543210").map(|c| c.role),
            Some(Role::Viewer)
        );
        assert_eq!(tokens.check("0123456789abcdeF"), None);
        assert_eq!(tokens.check(""), None);
        let error = Tokens::parse("ops:admin:0123456789abcdef").expect_err("bad role");
        assert!(
            error.contains("entry 1") && !error.contains("0123456789abcdef"),
            "{error}"
        );
        let error = Tokens::parse("ops:operator:short").expect_err("too short");
        assert!(!error.contains("short"), "{error}");
        assert!(
            !format!("{tokens:?}").contains("0123"),
            "Debug shows names only"
        );
    }
}
