//! Moving a space between installations: `plaza export --space NAME` writes its objects,
//! chat, members and the metadata of the models its objects use as one JSON document;
//! `plaza import FILE` recreates it in the configured store (SQLite or PostgreSQL), mapping
//! users by name. Model files themselves live in the upload storage and are not copied.

use std::collections::{BTreeMap, HashMap};

use plaza_systems::{ChatLine, ObjectRecord, ObjectState, Rows, Transform};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::clock::now_ms;
use crate::store::accounts::{ChatCursor, Role};
use crate::store::files::{FileTable, NewFile};
use crate::store::{Durable, NewSpace, StoreError};

/// The document's format name and version.
pub const FORMAT: &str = "plaza-space/1";

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The space to export does not exist.
    #[error("no space named {0:?} in this store")]
    NoSuchSpace(String),
    /// The space to import exists already.
    #[error("a space named {0:?} exists already; import with --replace to overwrite it")]
    Exists(String),
    /// The document is not a Plaza space export.
    #[error("not a Plaza space export: {0}")]
    Format(String),
}

/// A space as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceExport {
    /// Always [`FORMAT`].
    pub format: String,
    /// The space row.
    pub space: SpaceDoc,
    /// Everyone the space refers to (owners, chat authors, members): id to name.
    pub users: BTreeMap<Uuid, String>,
    /// Its objects.
    pub objects: Vec<ObjectDoc>,
    /// Its chat, oldest first.
    pub chat: Vec<ChatDoc>,
    /// Invited users and admins: user id to role.
    pub members: BTreeMap<Uuid, String>,
    /// Uploaded models the objects use.
    pub models: Vec<ModelDoc>,
}

/// The space row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceDoc {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Private or not.
    pub private: bool,
    /// Left out of the public list (absent in exports made before it existed).
    #[serde(default)]
    pub temporary: bool,
    /// Owner, if created over HTTP.
    pub owner: Option<Uuid>,
}

/// An object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectDoc {
    /// Id.
    pub id: Uuid,
    /// Model reference.
    pub model: String,
    /// Position, rotation (x, y, z, w) and scale.
    pub pos: [f32; 3],
    /// Rotation.
    pub rot: [f32; 4],
    /// Scale.
    pub scale: [f32; 3],
    /// Props (a JSON object).
    pub props: Value,
    /// Owner.
    pub owner: Uuid,
    /// Version.
    pub version: u64,
}

/// A chat line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatDoc {
    /// Id.
    pub id: Uuid,
    /// Author.
    pub from: Uuid,
    /// Author's name then.
    pub name: String,
    /// Text.
    pub text: String,
    /// Time, ms since the Unix epoch.
    pub at_ms: i64,
}

/// An uploaded model's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDoc {
    /// Id (objects refer to it as their model).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Storage key (content addressed).
    pub storage_key: String,
    /// Who uploaded it.
    pub uploaded_by: Option<Uuid>,
    /// Parsed facts.
    pub metadata: Value,
}

/// Exports the space `name`.
pub async fn export(store: &Durable, name: &str) -> Result<SpaceExport, TransferError> {
    let header = store
        .space_header(name)
        .await?
        .ok_or_else(|| TransferError::NoSuchSpace(name.into()))?;
    let info = store
        .space_info(header.id)
        .await?
        .ok_or_else(|| TransferError::NoSuchSpace(name.into()))?;
    let mut objects: Vec<ObjectDoc> = store
        .space_objects(header.id)
        .await?
        .into_iter()
        .map(|o| ObjectDoc {
            id: o.id,
            model: o.model.to_string(),
            pos: o.transform.translation.to_array(),
            rot: o.transform.rotation.to_array(),
            scale: o.transform.scale.to_array(),
            props: serde_json::from_str(&o.props)
                .unwrap_or_else(|_| Value::Object(Default::default())),
            owner: o.owner,
            version: o.version,
        })
        .collect();
    objects.sort_by_key(|o| o.id);
    let mut chat = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.chat_page(header.id, cursor, 1000).await?;
        let Some(last) = page.last() else { break };
        cursor = Some(ChatCursor::Line(last.id));
        chat.extend(page.iter().map(|l| ChatDoc {
            id: l.id,
            from: l.from,
            name: l.name.to_string(),
            text: l.text.to_string(),
            at_ms: l.at_ms,
        }));
    }
    chat.reverse();
    let access = store.space_access(header.id).await?;
    let mut members = BTreeMap::new();
    members.extend(
        access
            .members
            .iter()
            .map(|&u| (u, Role::Member.as_str().to_string())),
    );
    members.extend(
        access
            .admins
            .iter()
            .map(|&u| (u, Role::Admin.as_str().to_string())),
    );
    let mut models = Vec::new();
    let mut model_ids: Vec<Uuid> = objects
        .iter()
        .filter_map(|o| o.model.parse().ok())
        .collect();
    model_ids.sort_unstable();
    model_ids.dedup();
    for id in model_ids {
        if let Some(row) = store.file(FileTable::Models, id).await? {
            models.push(ModelDoc {
                id: row.id,
                name: row.name,
                size: row.size,
                storage_key: row.storage_key,
                uploaded_by: row.owner,
                metadata: row.metadata,
            });
        }
    }
    let mut users = BTreeMap::new();
    let referenced = objects
        .iter()
        .map(|o| o.owner)
        .chain(chat.iter().map(|c| c.from))
        .chain(members.keys().copied())
        .chain(info.owner)
        .chain(models.iter().filter_map(|m: &ModelDoc| m.uploaded_by));
    for id in referenced {
        if let std::collections::btree_map::Entry::Vacant(slot) = users.entry(id)
            && let Some(name) = store.user_name(id).await?
        {
            slot.insert(name);
        }
    }
    Ok(SpaceExport {
        format: FORMAT.into(),
        space: SpaceDoc {
            id: info.id,
            name: info.name.to_string(),
            description: info.description,
            private: info.private,
            temporary: info.temporary,
            owner: info.owner,
        },
        users,
        objects,
        chat,
        members,
        models,
    })
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// The space's id here.
    pub space: Uuid,
    /// Objects written.
    pub objects: usize,
    /// Chat lines written.
    pub chat: usize,
    /// Model rows written or found.
    pub models: usize,
}

/// Imports a space; with `replace`, a space of the same name is deleted first.
pub async fn import(
    store: &Durable,
    doc: &SpaceExport,
    replace: bool,
    max_rows: usize,
) -> Result<Imported, TransferError> {
    if doc.format != FORMAT {
        return Err(TransferError::Format(format!(
            "format is {:?}, expected {FORMAT:?}",
            doc.format
        )));
    }
    storable(doc).map_err(|e| TransferError::Format(e.to_string()))?;
    let now = now_ms();
    if let Some(existing) = store.space_header(&doc.space.name).await? {
        if !replace {
            return Err(TransferError::Exists(doc.space.name.clone()));
        }
        store.delete_space(existing.id).await?;
    }
    let mut ids: HashMap<Uuid, Uuid> = HashMap::new();
    for (&id, name) in &doc.users {
        ids.insert(id, store.ensure_user(id, name, now).await?);
    }
    let user = |id: Uuid| ids.get(&id).copied().unwrap_or(id);
    let new = NewSpace {
        id: doc.space.id,
        name: &doc.space.name,
        description: &doc.space.description,
        private: doc.space.private,
        temporary: doc.space.temporary,
        owner: doc.space.owner.map(user),
        now_ms: now,
    };
    let (header, created) = store.ensure_space(&new).await?;
    if !created {
        return Err(TransferError::Exists(doc.space.name.clone()));
    }
    let space = header.id;
    let mut models = 0;
    for model in &doc.models {
        let Some(hash) = model
            .storage_key
            .strip_prefix("models/")
            .and_then(|k| k.strip_suffix(".glb"))
            .and_then(plaza_net::sha256_from_hex)
        else {
            return Err(TransferError::Format(format!(
                "model {} has an unexpected storage key",
                model.id
            )));
        };
        let file = NewFile {
            hash: &hash,
            name: &model.name,
            size: usize::try_from(model.size).unwrap_or(usize::MAX),
            content_type: "model/gltf-binary",
            storage_key: &model.storage_key,
            owner: model.uploaded_by.map(user),
            space: None,
            metadata: &model.metadata,
        };
        store.record_model_as(model.id, &file, now).await?;
        models += 1;
    }
    let batch = Rows {
        objects: doc
            .objects
            .iter()
            .map(|o| ObjectRecord {
                space,
                state: ObjectState {
                    id: o.id,
                    index: 0,
                    model: o.model.as_str().into(),
                    transform: Transform {
                        translation: glam::Vec3::from_array(o.pos),
                        rotation: glam::Quat::from_array(o.rot),
                        scale: glam::Vec3::from_array(o.scale),
                    },
                    props: o.props.to_string().into(),
                    owner: user(o.owner),
                    version: o.version.max(1),
                },
            })
            .collect(),
        chat: doc
            .chat
            .iter()
            .map(|c| ChatLine {
                id: c.id,
                space,
                from: user(c.from),
                name: c.name.as_str().into(),
                text: c.text.as_str().into(),
                at_ms: c.at_ms,
            })
            .collect(),
        ..Rows::default()
    };
    store.write(&batch, max_rows, now, None).await?;
    for (&member, role) in &doc.members {
        let role = if role == "admin" {
            Role::Admin
        } else {
            Role::Member
        };
        store
            .set_member(space, user(member), Some(role), now)
            .await?;
    }
    Ok(Imported {
        space,
        objects: batch.objects.len(),
        chat: batch.chat.len(),
        models,
    })
}

/// Refuses a document holding text no store keeps, before anything is written.
fn storable(doc: &SpaceExport) -> Result<(), crate::text::TextError> {
    use crate::text::{check_json_text, check_text};
    check_text("space name", &doc.space.name)?;
    check_text("space description", &doc.space.description)?;
    for name in doc.users.values() {
        check_text("user name", name)?;
    }
    for object in &doc.objects {
        check_text("object model", &object.model)?;
        check_json_text("object props", &object.props.to_string())?;
    }
    for line in &doc.chat {
        check_text("chat name", &line.name)?;
        check_text("chat text", &line.text)?;
    }
    for model in &doc.models {
        check_text("model name", &model.name)?;
        check_json_text("model metadata", &model.metadata.to_string())?;
    }
    Ok(())
}
