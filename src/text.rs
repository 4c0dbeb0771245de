//! The one rule for text that reaches a store: what the edge accepts, every store keeps.
//!
//! PostgreSQL refuses U+0000 in `text` and the `\u0000` escape in `jsonb`; every other
//! Unicode scalar value is kept by both stores (Rust strings are always valid UTF-8, and
//! serde_json refuses unpaired surrogate escapes). So the rule is: **no U+0000 anywhere**,
//! neither in a text field nor in any key or string of a props object. Names are stricter
//! (no control characters at all; see `bridge::check_name`).

/// Why a text is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TextError {
    /// The text holds U+0000, which PostgreSQL cannot store.
    #[error("{0} holds the NUL character (U+0000), which cannot be stored; remove it")]
    Nul(&'static str),
}

/// Checks a text field (`what` names it in the error).
pub(crate) fn check_text(what: &'static str, text: &str) -> Result<(), TextError> {
    if text.contains('\0') {
        Err(TextError::Nul(what))
    } else {
        Ok(())
    }
}

/// Checks JSON text (compact or not, as serde_json writes it): no key or string may hold
/// U+0000, which JSON can only carry as the escape `\u0000`.
pub(crate) fn check_json_text(what: &'static str, json: &str) -> Result<(), TextError> {
    if json.contains('\0') || escapes_nul(json) {
        Err(TextError::Nul(what))
    } else {
        Ok(())
    }
}

/// Whether valid JSON text holds the escape `\u0000` (in any case of its hex digits).
/// Inside JSON strings a backslash always starts an escape of two or six characters, so
/// scanning escape by escape finds exactly the NULs, never a literal `\\u0000`.
fn escapes_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'\\') {
        let at = i + offset;
        match bytes.get(at + 1) {
            Some(b'u') => {
                if bytes.get(at + 2..at + 6) == Some(b"0000") {
                    return true;
                }
                i = at + 6;
            }
            Some(_) => i = at + 2,
            None => return false,
        }
        if i >= bytes.len() {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_in_text_and_found_exactly_in_json() {
        assert!(check_text("chat", "a\0b").is_err());
        assert!(check_text("chat", "tabs\tand\nnewlines are fine ü 😀").is_ok());
        for bad in [
            r#"{"a":"\u0000"}"#,
            r#"{"\u0000":1}"#,
            r#"{"a":["x\\\u0000"]}"#,
        ] {
            assert!(check_json_text("props", bad).is_err(), "{bad}");
        }
        for good in [
            r#"{"a":"\\u0000"}"#,
            r#"{"a":"\u0001\u00e9"}"#,
            r#"{"a":"\\"}"#,
            "{}",
        ] {
            assert!(check_json_text("props", good).is_ok(), "{good}");
        }
    }
}
