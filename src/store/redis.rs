//! Redis: a snapshot of each loaded space (its objects, plus the durable version the
//! snapshot matches) and presence (who is in which space, with an expiry).
//!
//! Keys (under `redis_prefix`):
//! - `space:{id}`: a hash of object id (16 bytes) → postcard-encoded object, the field
//!   `~version`: the space version in the durable store that the hash matches, and in a
//!   cluster `~epoch`: the fencing epoch of the node that last wrote it.
//! - `presence:{id}`: a hash of user id → name, expiring after `presence_ttl_secs`.
//!
//! A snapshot is used for loading only if its `~version` is at least the durable one.
//! Every update goes in one MULTI/EXEC pipeline, so a snapshot is never half-updated.
//!
//! In a cluster a space's hash also holds `~epoch`, the fencing epoch of the last node that
//! wrote it. Each space's update is one script ([`UPDATE_SCRIPT`]) that first compares it:
//! a node writing with an older epoch than the hash holds (an owner that froze between its
//! PostgreSQL commit and this update, and woke after another node took the space) changes
//! nothing, so the snapshot never mixes two owners' objects. Outside a cluster the epoch
//! is 0 and updates are plain commands. A
//! space loaded from the durable store is re-warmed with a full snapshot; if that fails,
//! the space is marked so later updates remove `~version` instead of claiming one, and the
//! partial hash is never trusted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use glam::{Quat, Vec3};
use plaza_systems::{ObjectRecord, ObjectState, PresenceRecord, Rows, Transform};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{StoreError, shared};
use crate::config::{Config, SecretUrl};

const VERSION_FIELD: &[u8] = b"~version";
const EPOCH_FIELD: &[u8] = b"~epoch";
/// Field-value pairs (or fields) per HSET or HDEL command, so no single command is huge.
const PAIRS_PER_COMMAND: usize = 1000;
/// The update of one space's hash, fenced by epoch. KEYS[1]: the hash. ARGV: the writer's
/// epoch; whether to replace the hash (1) or update it (0); the version to claim (empty:
/// remove `~version`); how many field/value pairs follow; the pairs; then fields to delete.
/// Returns 1 if applied, 0 if fenced.
const UPDATE_SCRIPT: &str = r"
local epoch = tonumber(ARGV[1])
local held = tonumber(redis.call('HGET', KEYS[1], '~epoch') or '0')
if held > epoch then return 0 end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
if epoch > 0 then redis.call('HSET', KEYS[1], '~epoch', ARGV[1]) end
local pairs = tonumber(ARGV[4])
local at = 5
while pairs > 0 do
  local n = math.min(pairs, 1000)
  redis.call('HSET', KEYS[1], unpack(ARGV, at, at + 2 * n - 1))
  at = at + 2 * n
  pairs = pairs - n
end
while at <= #ARGV do
  local last = math.min(#ARGV, at + 999)
  redis.call('HDEL', KEYS[1], unpack(ARGV, at, last))
  at = last + 1
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], '~version')
else
  redis.call('HSET', KEYS[1], '~version', ARGV[3])
end
return 1
";
/// An object as stored in a snapshot hash.
#[derive(Debug, Serialize, Deserialize)]
struct StoredObject<'a> {
    model: &'a str,
    transform: [f32; 10],
    props: &'a str,
    owner: Uuid,
    version: u64,
}

fn encode(o: &ObjectState) -> Vec<u8> {
    let (p, r, s) = (
        o.transform.translation,
        o.transform.rotation,
        o.transform.scale,
    );
    let stored = StoredObject {
        model: &o.model,
        transform: [p.x, p.y, p.z, r.x, r.y, r.z, r.w, s.x, s.y, s.z],
        props: &o.props,
        owner: o.owner,
        version: o.version,
    };
    postcard::to_allocvec(&stored).expect("an object of strings and numbers always encodes")
}

fn decode(id: &[u8], bytes: &[u8]) -> Result<ObjectState, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "redis snapshot",
        detail,
    };
    let id = Uuid::from_slice(id).map_err(|e| corrupt(format!("field is not an id: {e}")))?;
    let stored: StoredObject<'_> =
        postcard::from_bytes(bytes).map_err(|e| corrupt(format!("object {id}: {e}")))?;
    let t = stored.transform;
    Ok(ObjectState {
        id,
        index: 0,
        model: shared(stored.model.to_owned()),
        transform: Transform {
            translation: Vec3::new(t[0], t[1], t[2]),
            rotation: Quat::from_xyzw(t[3], t[4], t[5], t[6]),
            scale: Vec3::new(t[7], t[8], t[9]),
        },
        props: Arc::from(stored.props),
        owner: stored.owner,
        version: stored.version,
    })
}

/// Snapshot updates waiting for Redis, coalesced like the durable store's: latest state
/// per object, highest version per space.
#[derive(Debug, Default)]
pub struct SnapshotChanges {
    objects: HashMap<Uuid, (Uuid, Option<ObjectState>)>,
    versions: HashMap<Uuid, u64>,
    presence: HashMap<Uuid, Vec<(Uuid, Arc<str>)>>,
    /// Spaces deleted: their snapshot and presence keys go.
    spaces_deleted: HashSet<Uuid>,
}

impl SnapshotChanges {
    /// Adds what a successful durable flush wrote, with the space versions it produced.
    pub fn merge_flush(&mut self, batch: &Rows, versions: &[(Uuid, u64)]) {
        for ObjectRecord { space, state } in &batch.objects {
            self.objects.insert(state.id, (*space, Some(state.clone())));
        }
        for &(space, id) in &batch.deleted {
            self.objects.insert(id, (space, None));
        }
        for &(space, version) in versions {
            let kept = self.versions.entry(space).or_default();
            *kept = (*kept).max(version);
        }
        self.merge_space_deletions(&batch.spaces_deleted);
    }

    /// Nothing of a deleted space is written again; its keys are removed.
    fn merge_space_deletions(&mut self, spaces: &[Uuid]) {
        if spaces.is_empty() {
            return;
        }
        self.objects.retain(|_, (space, _)| !spaces.contains(space));
        for space in spaces {
            self.versions.remove(space);
            self.presence.remove(space);
            self.spaces_deleted.insert(*space);
        }
    }

    /// Adds presence changes; the latest per space wins.
    pub(crate) fn merge_presence(&mut self, presence: Vec<PresenceRecord>) {
        for record in presence {
            self.presence.insert(record.space, record.members);
        }
    }

    /// Puts back changes that failed to reach Redis, under newer ones.
    pub fn restore(&mut self, failed: SnapshotChanges) {
        for (id, change) in failed.objects {
            self.objects.entry(id).or_insert(change);
        }
        for (space, version) in failed.versions {
            let kept = self.versions.entry(space).or_default();
            *kept = (*kept).max(version);
        }
        for (space, members) in failed.presence {
            self.presence.entry(space).or_insert(members);
        }
        self.spaces_deleted.extend(failed.spaces_deleted);
    }

    /// Objects and presence entries waiting.
    pub fn len(&self) -> usize {
        self.objects.len() + self.presence.len() + self.versions.len() + self.spaces_deleted.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The Redis side of the store.
#[derive(Clone)]
pub struct RedisSnapshots {
    conn: ConnectionManager,
    prefix: String,
    presence_ttl_secs: u64,
    /// Spaces whose snapshot could not be re-warmed: their hash must not claim a version.
    invalid: Arc<Mutex<HashSet<Uuid>>>,
}

impl std::fmt::Debug for RedisSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSnapshots")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSnapshots {
    /// Connects; commands that get no answer within 2 s fail (and are retried later)
    /// rather than hanging the writer.
    pub async fn connect(url: &SecretUrl, config: &Config) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url.expose())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, manager_config).await?;
        Ok(Self {
            conn,
            prefix: config.redis_prefix.clone(),
            presence_ttl_secs: config.presence_ttl_secs,
            invalid: Arc::default(),
        })
    }

    fn space_key(&self, space: Uuid) -> String {
        format!("{}space:{space}", self.prefix)
    }

    fn presence_key(&self, space: Uuid) -> String {
        format!("{}presence:{space}", self.prefix)
    }

    fn is_invalid(&self, space: Uuid) -> bool {
        self.invalid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&space)
    }

    /// Applies snapshot changes and presence in one atomic pipeline. `epoch_of` gives the
    /// epoch this node writes each space with (`Some(0)` outside a cluster); a space it
    /// gives `None` for is no longer this node's and is left alone.
    pub async fn write(
        &self,
        changes: &SnapshotChanges,
        epoch_of: impl Fn(Uuid) -> Option<u64>,
    ) -> Result<(), StoreError> {
        let mut by_space: HashMap<Uuid, (Vec<(&Uuid, Vec<u8>)>, Vec<&Uuid>)> = HashMap::new();
        for (id, (space, state)) in &changes.objects {
            let (sets, deletes) = by_space.entry(*space).or_default();
            match state {
                Some(state) => sets.push((id, encode(state))),
                None => deletes.push(id),
            }
        }
        for space in changes.versions.keys() {
            by_space.entry(*space).or_default();
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for (space, (sets, deletes)) in &by_space {
            let Some(epoch) = epoch_of(*space) else {
                continue;
            };
            let version = match changes.versions.get(space) {
                Some(version) if !self.is_invalid(*space) => Some(*version),
                _ => None,
            };
            let sets = sets
                .iter()
                .map(|(id, bytes)| (id.as_bytes().as_slice(), bytes.as_slice()));
            let deletes = deletes.iter().map(|id| id.as_bytes().as_slice());
            self.update(&mut pipe, *space, epoch, false, version, sets, deletes);
        }
        for (space, members) in &changes.presence {
            let key = self.presence_key(*space);
            pipe.cmd("DEL").arg(&key).ignore();
            if !members.is_empty() {
                let cmd = pipe.cmd("HSET").arg(&key);
                for (user, name) in members {
                    cmd.arg(user.to_string()).arg(&**name);
                }
                cmd.ignore();
                pipe.cmd("EXPIRE")
                    .arg(&key)
                    .arg(self.presence_ttl_secs)
                    .ignore();
            }
        }
        for space in &changes.spaces_deleted {
            pipe.cmd("DEL")
                .arg(self.space_key(*space))
                .arg(self.presence_key(*space))
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Who is in each of `spaces` by their published presence (names), for spaces simulated
    /// on other nodes of a cluster. One pipelined round trip.
    pub async fn presence(&self, spaces: &[Uuid]) -> Result<Vec<Vec<String>>, StoreError> {
        if spaces.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for space in spaces {
            pipe.cmd("HVALS").arg(self.presence_key(*space));
        }
        let mut conn = self.conn.clone();
        Ok(pipe.query_async(&mut conn).await?)
    }

    /// The space's objects, if its snapshot matches at least `min_version`.
    pub async fn load(
        &self,
        space: Uuid,
        min_version: u64,
    ) -> Result<Option<Vec<ObjectState>>, StoreError> {
        let key = self.space_key(space);
        let mut conn = self.conn.clone();
        let version: Option<u64> = ::redis::cmd("HGET")
            .arg(&key)
            .arg(VERSION_FIELD)
            .query_async(&mut conn)
            .await?;
        if version.is_none_or(|v| v < min_version) {
            return Ok(None);
        }
        let fields: Vec<(Vec<u8>, Vec<u8>)> = ::redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        let objects = fields
            .iter()
            .filter(|(field, _)| !matches!(field.as_slice(), VERSION_FIELD | EPOCH_FIELD))
            .map(|(id, bytes)| decode(id, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(objects))
    }

    /// One space's update, added to `pipe`: in a cluster (`epoch` > 0) fenced by
    /// [`UPDATE_SCRIPT`]; outside one as plain commands, which Redis takes about twice as
    /// fast as the script's loop over its arguments (docs/benchmarks.md).
    #[allow(clippy::too_many_arguments)]
    fn update<'a>(
        &self,
        pipe: &mut ::redis::Pipeline,
        space: Uuid,
        epoch: u64,
        replace: bool,
        version: Option<u64>,
        sets: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>,
        deletes: impl Iterator<Item = &'a [u8]>,
    ) {
        let key = self.space_key(space);
        if epoch == 0 {
            if replace {
                pipe.cmd("DEL").arg(&key).ignore();
            }
            let sets: Vec<_> = sets.collect();
            for chunk in sets.chunks(PAIRS_PER_COMMAND) {
                let cmd = pipe.cmd("HSET").arg(&key);
                for (field, value) in chunk {
                    cmd.arg(*field).arg(*value);
                }
                cmd.ignore();
            }
            let deletes: Vec<_> = deletes.collect();
            for chunk in deletes.chunks(PAIRS_PER_COMMAND) {
                pipe.cmd("HDEL").arg(&key).arg(chunk).ignore();
            }
            match version {
                Some(version) => pipe.cmd("HSET").arg(&key).arg(VERSION_FIELD).arg(version),
                None => pipe.cmd("HDEL").arg(&key).arg(VERSION_FIELD),
            }
            .ignore();
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(UPDATE_SCRIPT)
            .arg(1)
            .arg(key)
            .arg(epoch)
            .arg(if replace { "1" } else { "0" })
            .arg(version.map_or_else(String::new, |v| v.to_string()))
            .arg(sets.len());
        for (field, value) in sets {
            cmd.arg(field).arg(value);
        }
        for field in deletes {
            cmd.arg(field);
        }
        cmd.ignore();
    }

    /// Replaces the space's snapshot with `objects` at `version`, written with `epoch`
    /// (0 outside a cluster). On failure the space is marked so that no later update makes
    /// the stale hash claim a version.
    pub async fn rewarm(&self, space: Uuid, version: u64, objects: &[ObjectState], epoch: u64) {
        let encoded: Vec<(&Uuid, Vec<u8>)> = objects.iter().map(|o| (&o.id, encode(o))).collect();
        let mut pipe = ::redis::pipe();
        let sets = encoded
            .iter()
            .map(|(id, bytes)| (id.as_bytes().as_slice(), bytes.as_slice()));
        self.update(
            &mut pipe,
            space,
            epoch,
            true,
            Some(version),
            sets,
            std::iter::empty(),
        );
        let mut conn = self.conn.clone();
        let mut invalid = match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                self.invalid
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&space);
                return;
            }
            Err(error) => {
                tracing::warn!(%error, %space, "cannot re-warm the redis snapshot; it will not be used until the next load");
                self.invalid.lock().unwrap_or_else(|p| p.into_inner())
            }
        };
        invalid.insert(space);
    }
}
