//! Compact motion: lists of avatar poses and object moves addressed by per-space index.
//!
//! In JSON a list is plain (`[{"index":3,"user":ID,"transform":T}]`). In binary it is one
//! byte string: a count, then per entry the gap to the previous index and a [`QPose`]
//! coded against the zero pose or against the last pose the recipient has of that index.
//! Decoding binary needs that state, so a decoded list stays coded until a client
//! [`resolves`](Moves::resolve) it with what it knows of the space.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{self, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::WireTransform;
use crate::pose::{PoseError, QPose, read_varint, write_varint};

/// A pose as it travels: quantised ([`QPose`]); in JSON shown as the transform it stands
/// for, in binary as its coded bytes against the zero pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose(pub QPose);

impl Pose {
    /// The travelling form of `t`.
    pub fn of(t: &WireTransform) -> Self {
        Self(QPose::quantize(t))
    }

    /// The transform it stands for.
    pub fn transform(&self) -> WireTransform {
        self.0.transform()
    }
}

impl Serialize for Pose {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            self.transform().serialize(serializer)
        } else {
            let mut out = Vec::with_capacity(8);
            self.0.write(None, &mut out);
            serializer.serialize_bytes(&out)
        }
    }
}

impl<'de> Deserialize<'de> for Pose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            return WireTransform::deserialize(deserializer).map(|t| Self::of(&t));
        }
        let bytes = deserializer.deserialize_bytes(BytesVisitor)?;
        let mut input = &bytes[..];
        let pose = QPose::read(&mut input, 0, || None).map_err(de::Error::custom)?;
        if !input.is_empty() {
            return Err(de::Error::custom("a pose is followed by stray bytes"));
        }
        Ok(Self(pose))
    }
}

/// An avatar that moved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AvatarMove {
    /// Their index among the people of the space.
    pub index: u32,
    /// Whose avatar (in binary, known from the index).
    pub user: Uuid,
    /// Where it is now.
    pub transform: Pose,
}

/// An object whose only change was its transform.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectMove {
    /// Its index among the objects of the space.
    pub index: u32,
    /// Object id (in binary, known from the index).
    pub id: Uuid,
    /// Where it is now.
    pub transform: Pose,
    /// Its version after the move.
    pub version: u64,
}

/// What a client keeps of a space to resolve coded motion: who each index is, and the last
/// pose it has of each avatar.
pub trait Known {
    /// The user at people index `index`, and the last pose this client has of them.
    fn person(&self, index: u32) -> Option<(Uuid, Option<QPose>)>;
    /// The object at object index `index`.
    fn object(&self, index: u32) -> Option<Uuid>;
}

/// An entry of a motion list.
pub trait Entry: Sized + Copy {
    /// Its index in the space.
    fn index(&self) -> u32;
    /// Its pose.
    fn pose(&self) -> &QPose;
    /// Appends what follows the pose (an object's version).
    fn write_rest(&self, out: &mut Vec<u8>);
    /// Reads one entry whose index and pose are known; `None` if the index is unknown.
    fn read(index: u32, input: &mut &[u8], known: &dyn Known) -> Result<Option<Self>, PoseError>;
}

impl Entry for AvatarMove {
    fn index(&self) -> u32 {
        self.index
    }
    fn pose(&self) -> &QPose {
        &self.transform.0
    }
    fn write_rest(&self, _: &mut Vec<u8>) {}
    fn read(index: u32, input: &mut &[u8], known: &dyn Known) -> Result<Option<Self>, PoseError> {
        let who = known.person(index);
        let pose = QPose::read(input, index, || who.and_then(|(_, base)| base))?;
        Ok(who.map(|(user, _)| Self {
            index,
            user,
            transform: Pose(pose),
        }))
    }
}

impl Entry for ObjectMove {
    fn index(&self) -> u32 {
        self.index
    }
    fn pose(&self) -> &QPose {
        &self.transform.0
    }
    fn write_rest(&self, out: &mut Vec<u8>) {
        write_varint(out, self.version);
    }
    fn read(index: u32, input: &mut &[u8], known: &dyn Known) -> Result<Option<Self>, PoseError> {
        // Objects are always coded against the zero pose.
        let pose = QPose::read(input, index, || None)?;
        let version = read_varint(input)?;
        Ok(known.object(index).map(|id| Self {
            index,
            id,
            transform: Pose(pose),
            version,
        }))
    }
}

/// A list of motion entries: plain, or coded as it came in binary.
#[derive(Debug, Clone, PartialEq)]
pub enum Moves<T> {
    /// Every entry, with ids.
    Plain(Vec<T>),
    /// The binary form: entries by index, coded; see [`Moves::resolve`].
    Coded(Bytes),
}

/// Avatar poses in a `delta` or `motion`.
pub type AvatarMoves = Moves<AvatarMove>;
/// Object moves in a `motion`.
pub type ObjectMoves = Moves<ObjectMove>;

impl<T> Default for Moves<T> {
    fn default() -> Self {
        Self::Plain(Vec::new())
    }
}

impl<T: Entry> Moves<T> {
    /// The binary form of `entries`, each coded against what `base_of` says the recipient
    /// has of its index (`None`: against the zero pose).
    pub fn code(entries: &[T], base_of: impl FnMut(&T) -> Option<QPose>) -> Self {
        Self::Coded(Bytes::from(code_slice(entries, base_of)))
    }

    /// The entries of a plain list. A coded list (as decoded, before a client resolved it)
    /// shows none: [`crate::Client`] resolves every list it hands out.
    pub fn entries(&self) -> &[T] {
        match self {
            Self::Plain(entries) => entries,
            Self::Coded(_) => &[],
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Plain(entries) => entries.is_empty(),
            Self::Coded(bytes) => bytes.first().is_none_or(|&count| count == 0),
        }
    }

    /// The entries, with what `known` says of each index; entries of indices it does not
    /// know are left out (a datagram can overtake the delta that announces someone).
    pub fn resolve(&self, known: &dyn Known) -> Result<Vec<T>, PoseError> {
        let bytes = match self {
            Self::Plain(entries) => return Ok(entries.clone()),
            Self::Coded(bytes) => bytes,
        };
        let mut input = &bytes[..];
        let count = read_varint(&mut input)?;
        let mut entries = Vec::with_capacity(count.min(4096) as usize);
        let mut next = 0_u64;
        for _ in 0..count {
            let index = next + read_varint(&mut input)?;
            let index = u32::try_from(index).map_err(|_| PoseError::Overflow)?;
            next = u64::from(index) + 1;
            entries.extend(T::read(index, &mut input, known)?);
        }
        if !input.is_empty() {
            return Err(PoseError::Truncated);
        }
        Ok(entries)
    }
}

/// The coded bytes of `entries` in rising index order (sorted here when they are not).
fn code_slice<T: Entry>(entries: &[T], mut base_of: impl FnMut(&T) -> Option<QPose>) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + entries.len() * 8);
    write_varint(&mut out, entries.len() as u64);
    let mut next = 0_u32;
    let mut write = |entry: &T| {
        // Sorted, so the gap is never negative; a repeated index costs a gap of 0.
        write_varint(&mut out, u64::from(entry.index().saturating_sub(next)));
        next = entry.index().saturating_add(1);
        let base = base_of(entry);
        entry.pose().write(base.as_ref(), &mut out);
        entry.write_rest(&mut out);
    };
    if entries.is_sorted_by_key(T::index) {
        entries.iter().for_each(&mut write);
    } else {
        let mut sorted: Vec<&T> = entries.iter().collect();
        sorted.sort_unstable_by_key(|e| e.index());
        sorted.into_iter().for_each(write);
    }
    out
}

impl<T: Entry + Serialize> Serialize for Moves<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Plain(entries) if serializer.is_human_readable() => {
                let mut seq = serializer.serialize_seq(Some(entries.len()))?;
                for entry in entries {
                    seq.serialize_element(entry)?;
                }
                seq.end()
            }
            Self::Plain(entries) => serializer.serialize_bytes(&code_slice(entries, |_| None)),
            Self::Coded(bytes) if !serializer.is_human_readable() => {
                serializer.serialize_bytes(bytes)
            }
            Self::Coded(_) => Err(ser::Error::custom(
                "coded motion has no JSON form: resolve it first",
            )),
        }
    }
}

impl<'de, T: Entry + Deserialize<'de>> Deserialize<'de> for Moves<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            return deserializer
                .deserialize_seq(SeqVisitor(PhantomData))
                .map(Self::Plain);
        }
        deserializer
            .deserialize_bytes(BytesVisitor)
            .map(|b| Self::Coded(Bytes::from(b)))
    }
}

struct SeqVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of moves")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(entry) = seq.next_element()? {
            out.push(entry);
        }
        Ok(out)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct Space {
        people: HashMap<u32, (Uuid, Option<QPose>)>,
        objects: HashMap<u32, Uuid>,
    }

    impl Known for Space {
        fn person(&self, index: u32) -> Option<(Uuid, Option<QPose>)> {
            self.people.get(&index).copied()
        }
        fn object(&self, index: u32) -> Option<Uuid> {
            self.objects.get(&index).copied()
        }
    }

    fn walker(index: u32, x: f32) -> AvatarMove {
        AvatarMove {
            index,
            user: Uuid::from_u128(u128::from(index) + 100),
            transform: Pose::of(&WireTransform::at([x, 0.0, 3.0])),
        }
    }

    #[test]
    fn relative_lists_resolve_against_what_the_client_has() {
        let before: Vec<AvatarMove> = (0..3).map(|i| walker(i, i as f32)).collect();
        let mut space = Space::default();
        for a in &before {
            space.people.insert(a.index, (a.user, Some(a.transform.0)));
        }
        let after: Vec<AvatarMove> = [2, 0].iter().map(|&i| walker(i, i as f32 + 0.14)).collect();
        let coded = Moves::code(&after, |a| space.person(a.index).and_then(|p| p.1));
        let Moves::Coded(bytes) = &coded else {
            panic!("coded");
        };
        // count, then per entry gap, flags, dx (140 mm: two bytes).
        assert_eq!(bytes.len(), 1 + 2 * 4, "{bytes:?}");
        let mut resolved = coded.resolve(&space).expect("resolves");
        resolved.sort_by_key(|a| a.index);
        let mut expected = after;
        expected.sort_by_key(|a| a.index);
        assert_eq!(resolved, expected);
        // A client that never had index 2 cannot use the list.
        space.people.get_mut(&2).expect("known").1 = None;
        assert_eq!(coded.resolve(&space), Err(PoseError::NoBase(2)));
    }

    #[test]
    fn both_codecs_carry_lists() {
        let moves = ObjectMoves::Plain(vec![ObjectMove {
            index: 70_000,
            id: Uuid::from_u128(9),
            transform: Pose::of(&WireTransform::at([1.0, 2.0, 3.0])),
            version: 12,
        }]);
        let json = serde_json::to_string(&moves).expect("json");
        assert_eq!(
            json,
            r#"[{"index":70000,"id":"00000000-0000-0000-0000-000000000009","transform":{"pos":[1.0,2.0,3.0],"rot":[0.0,0.0,0.0,1.0],"scale":[1.0,1.0,1.0]},"version":12}]"#
        );
        assert_eq!(
            serde_json::from_str::<ObjectMoves>(&json).expect("back"),
            moves
        );
        let bin = postcard::to_allocvec(&moves).expect("postcard");
        let back: ObjectMoves = postcard::from_bytes(&bin).expect("back");
        let mut space = Space::default();
        space.objects.insert(70_000, Uuid::from_u128(9));
        assert_eq!(
            back.resolve(&space).expect("resolves"),
            match moves {
                Moves::Plain(v) => v,
                Moves::Coded(_) => unreachable!(),
            }
        );
        assert!(
            serde_json::to_string(&back).is_err(),
            "coded lists have no JSON form"
        );
    }
}
