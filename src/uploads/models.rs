//! What an object's `model` may name: one of the built-in primitives every client draws
//! itself, or an uploaded model's id. The ids are held in memory (loaded when the server
//! starts, added to by every upload), so the edge checks a spawn without waiting for a
//! store.

use std::collections::HashSet;
use std::sync::RwLock;

use uuid::Uuid;

/// The built-in primitives, as clients draw them (unit size, centred on the origin).
pub const PRIMITIVES: [&str; 7] = [
    "cube", "sphere", "cylinder", "cone", "plane", "torus", "capsule",
];

/// Ids of the uploaded models this server knows.
#[derive(Debug, Default)]
pub struct KnownModels {
    ids: RwLock<HashSet<Uuid>>,
}

impl KnownModels {
    /// Adds uploaded models.
    pub fn extend(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(ids);
    }

    /// Whether `model` may be an object's model; the refusal says what would be.
    pub fn check(&self, model: &str) -> Result<(), String> {
        if PRIMITIVES.contains(&model) {
            return Ok(());
        }
        let uploaded = model.parse::<Uuid>().is_ok_and(|id| {
            self.ids
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&id)
        });
        if uploaded {
            Ok(())
        } else {
            Err(format!(
                "model must be a built-in primitive ({}) or the id of an uploaded model (POST /api/models)",
                PRIMITIVES.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_and_uploaded_ids_pass_anything_else_is_refused() {
        let known = KnownModels::default();
        let id = Uuid::now_v7();
        assert!(known.check("cube").is_ok());
        assert!(known.check(&id.to_string()).is_err());
        known.extend([id]);
        assert!(known.check(&id.to_string()).is_ok());
        for refused in ["Cube", "models/crate.glb", "", &Uuid::now_v7().to_string()] {
            let message = known
                .check(refused)
                .expect_err("neither primitive nor upload");
            assert!(message.contains("cube"), "{message}");
        }
    }
}
