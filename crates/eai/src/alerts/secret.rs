//! Secret references, resolved when an alert is sent: `env:NAME` reads the
//! environment variable NAME, `file:/path` the file (one trailing newline
//! dropped, as secrets mounted by Docker or Kubernetes often end). The
//! database keeps only the reference; errors name the reference, never what
//! it holds.

use secrecy::SecretString;

/// A reference that gives no secret.
#[derive(Debug, thiserror::Error)]
#[error("the secret reference {reference} cannot be resolved: {why}")]
pub struct Unresolved {
    reference: String,
    why: String,
}

/// The secret `reference` points to.
pub fn resolve(reference: &str) -> Result<SecretString, Unresolved> {
    let unresolved = |why: String| Unresolved {
        reference: reference.to_owned(),
        why,
    };
    let value = if let Some(name) = reference.strip_prefix("env:") {
        std::env::var(name)
            .map_err(|_| unresolved(format!("the environment variable {name} is not set")))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        let mut text = std::fs::read_to_string(path)
            .map_err(|error| unresolved(format!("reading {path} failed: {error}")))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        text
    } else {
        return Err(unresolved("expected env:NAME or file:/path".to_owned()));
    };
    if value.is_empty() {
        return Err(unresolved("it is empty".to_owned()));
    }
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_file_reference_reads_the_file_without_its_last_newline() {
        let path = std::env::temp_dir().join(format!("eai-secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "s3cret\n").expect("written");
        let reference = format!("file:{}", path.display());
        assert_eq!(
            resolve(&reference).expect("resolved").expose_secret(),
            "s3cret"
        );
        std::fs::write(&path, "\n").expect("written");
        assert_eq!(
            resolve(&reference).expect_err("empty").to_string(),
            format!("the secret reference {reference} cannot be resolved: it is empty")
        );
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn an_unresolved_reference_is_named_and_nothing_else() {
        let error = resolve("env:EAI_TEST_SECRET_THAT_IS_NOT_SET").expect_err("unset");
        assert_eq!(
            error.to_string(),
            "the secret reference env:EAI_TEST_SECRET_THAT_IS_NOT_SET cannot be resolved: \
             the environment variable EAI_TEST_SECRET_THAT_IS_NOT_SET is not set"
        );
        assert!(resolve("hunter2")
            .expect_err("no scheme")
            .to_string()
            .ends_with("expected env:NAME or file:/path"));
    }
}
