//! Free-form object properties: a JSON object carried as JSON text.
//!
//! postcard cannot carry `serde_json::Value` (it is not self-describing), so the binary
//! codec carries props as a string of JSON text, while the JSON codec carries them as a
//! nested object. Either way, what arrives is checked to be a JSON object.

use std::fmt;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not acceptable as props.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PropsError {
    /// The text is not valid JSON.
    #[error("props are not valid JSON: {0}")]
    Invalid(String),
    /// The text is JSON, but not an object (`{...}`).
    #[error("props must be a JSON object")]
    NotAnObject,
}

/// A JSON object, kept as compact JSON text. Cloning shares the text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Props(Arc<str>);

impl Props {
    /// Checks that `text` is a JSON object and keeps it, re-serialised compactly.
    pub fn from_json(text: &str) -> Result<Self, PropsError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PropsError::Invalid(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Keeps `value` if it is a JSON object.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, PropsError> {
        if !value.is_object() {
            return Err(PropsError::NotAnObject);
        }
        Ok(Self(Arc::from(value.to_string())))
    }

    /// Wraps text already known to be a compact JSON object (e.g. read back from the store).
    pub fn from_trusted(text: Arc<str>) -> Self {
        Self(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared JSON text.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }

    /// Size of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the JSON text is empty (never true for valid props; `{}` has length 2).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for Props {
    fn default() -> Self {
        Self(Arc::from("{}"))
    }
}

impl fmt::Debug for Props {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Props {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let value: serde_json::Value =
                serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
            value.serialize(serializer)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let value = serde_json::Value::deserialize(deserializer)?;
            Props::from_value(&value).map_err(D::Error::custom)
        } else {
            let text = <&str>::deserialize(deserializer)?;
            Props::from_json(text).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_objects_and_compacts_them() {
        let props = Props::from_json(r#"{ "color" : "red", "n": 1 }"#).expect("an object");
        assert_eq!(props.as_str(), r#"{"color":"red","n":1}"#);
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        assert_eq!(Props::from_json("[1,2]"), Err(PropsError::NotAnObject));
        assert_eq!(Props::from_json("3"), Err(PropsError::NotAnObject));
        assert!(matches!(
            Props::from_json("{nope"),
            Err(PropsError::Invalid(_))
        ));
    }

    #[test]
    fn postcard_carries_text_and_json_carries_an_object() {
        let props = Props::from_json(r#"{"a":[1,2]}"#).expect("an object");
        let bytes = postcard::to_allocvec(&props).expect("encodes");
        let back: Props = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, props);
        assert_eq!(
            serde_json::to_string(&props).expect("encodes"),
            r#"{"a":[1,2]}"#
        );
        let bad = postcard::to_allocvec("[1]").expect("encodes");
        assert!(postcard::from_bytes::<Props>(&bad).is_err());
    }
}
