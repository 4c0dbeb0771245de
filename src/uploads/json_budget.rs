//! Counting the values of a JSON document without building it, so that a document can be
//! refused for its size before a parser allocates a structure for each of its values.
//!
//! The count walks the text once with serde_json's streaming deserializer and keeps nothing
//! but the number (and serde_json's own recursion limit of 128 levels bounds the stack).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a document does not fit its budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// It holds more values than allowed.
    #[error("more than {0} JSON values")]
    TooManyValues(usize),
    /// It is not valid JSON.
    #[error("invalid JSON: {0}")]
    Invalid(String),
}

/// Checks that `json` is one valid JSON document of at most `max` values (every object,
/// array, string, number, boolean and null counts one; object keys do not).
pub fn check_values(json: &[u8], max: usize) -> Result<usize, BudgetError> {
    let mut counter = Counter { count: 0, max };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    match (&mut counter).deserialize(&mut deserializer) {
        Ok(()) => {}
        Err(_) if counter.count > max => return Err(BudgetError::TooManyValues(max)),
        Err(error) => return Err(BudgetError::Invalid(error.to_string())),
    }
    deserializer
        .end()
        .map_err(|e| BudgetError::Invalid(e.to_string()))?;
    Ok(counter.count)
}

struct Counter {
    count: usize,
    max: usize,
}

impl Counter {
    fn one<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.count += 1;
        if self.count > self.max {
            Err(E::custom("over budget"))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for &mut Counter {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Counter {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.one()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.one()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.one()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.one()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.one()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.one()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.one()?;
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.one()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_and_capped() {
        assert_eq!(
            check_values(br#"{"a":[1,2,{"b":null}],"c":"x"}"#, 100),
            Ok(7)
        );
        assert_eq!(
            check_values(br#"[[],[],[],[]]"#, 4),
            Err(BudgetError::TooManyValues(4))
        );
        assert!(matches!(
            check_values(b"{\"a\":", 10),
            Err(BudgetError::Invalid(_))
        ));
        assert!(matches!(
            check_values(b"{} {}", 10),
            Err(BudgetError::Invalid(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(
            check_values(deep.as_bytes(), usize::MAX).is_err(),
            "recursion is bounded"
        );
    }
}
