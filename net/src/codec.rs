//! Frame codecs: postcard (binary, the default) and JSON (text, `{"type": ...}`).
//!
//! Both carry the same enums. postcard cannot decode serde's internally tagged enums, so
//! the enums are externally tagged in Rust and the JSON codec moves the tag into a `type`
//! field on the way out (`{"hello":{..}}` → `{"type":"hello",..}`) and back on the way in.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{ClientMsg, ServerMsg};

/// How a connection's frames are encoded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// postcard in binary frames (the default).
    #[default]
    Postcard,
    /// JSON in text frames.
    Json,
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The postcard bytes do not form a valid message.
    #[error("malformed binary frame: {0}")]
    Postcard(#[from] postcard::Error),
    /// The JSON text does not form a valid message.
    #[error("malformed JSON frame: {0}")]
    Json(#[from] serde_json::Error),
    /// The binary frame holds a whole message and then more bytes.
    #[error("malformed binary frame: {0} bytes after the end of the message")]
    TrailingBytes(usize),
    /// The JSON frame is not an object with a string `type` field.
    #[error("a JSON frame must be an object with a string \"type\" field")]
    MissingType,
    /// The message does not exist in the protocol version asked for.
    #[error("this message cannot be said in protocol version {0}")]
    NotInVersion(u32),
}

impl Codec {
    /// Picks the codec from a `codec=` query value: `json`, or `postcard`/absent.
    pub fn from_query(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("postcard") | Some("binary") => Some(Self::Postcard),
            Some("json") => Some(Self::Json),
            Some(_) => None,
        }
    }

    /// Whether frames of this codec are text (JSON) rather than binary.
    pub fn is_text(self) -> bool {
        self == Self::Json
    }

    /// Encodes a server message.
    pub fn encode_server(self, msg: &ServerMsg) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::Postcard => self.encode(msg),
            // The server's hot path (every delta for JSON clients): serialised straight to
            // bytes and re-tagged there, without building a `Value` tree first.
            Self::Json => Ok(tag_to_field_bytes(serde_json::to_vec(msg)?)),
        }
    }

    /// Decodes a server message (used by clients).
    pub fn decode_server(self, frame: &[u8]) -> Result<ServerMsg, CodecError> {
        self.decode(frame)
    }

    /// Encodes a client message (used by clients).
    pub fn encode_client(self, msg: &ClientMsg) -> Result<Vec<u8>, CodecError> {
        self.encode(msg)
    }

    /// Decodes a client message.
    pub fn decode_client(self, frame: &[u8]) -> Result<ClientMsg, CodecError> {
        self.decode(frame)
    }

    /// Encodes a server message in protocol `version` (1 or the current one).
    pub fn encode_server_in(self, version: u32, msg: &ServerMsg) -> Result<Vec<u8>, CodecError> {
        if version == 1 {
            let old = crate::v1::ServerMsg::from_current(msg).ok_or(CodecError::NotInVersion(1))?;
            return crate::v1::encode_server(self, &old);
        }
        self.encode_server(msg)
    }

    /// Decodes a client message of protocol `version` (1 or the current one), as the
    /// current version says it.
    pub fn decode_client_in(self, version: u32, frame: &[u8]) -> Result<ClientMsg, CodecError> {
        if version == 1 {
            return crate::v1::decode_client(self, frame).map(ClientMsg::from);
        }
        self.decode_client(frame)
    }

    /// Decodes a first message, whatever version it is written in: a JSON `hello` of either
    /// version reads as the current one (its new fields default); a postcard one is read
    /// by the version in its `protocol` field, its first field.
    pub fn decode_hello(self, frame: &[u8]) -> Result<ClientMsg, CodecError> {
        let version = match (self, frame) {
            // Variant 0 (`hello`), then `protocol` as a varint: 1 fits one byte.
            (Self::Postcard, [0, 1, ..]) => 1,
            _ => crate::PROTOCOL_VERSION,
        };
        self.decode_client_in(version, frame)
    }

    pub(crate) fn encode<T: Serialize>(self, msg: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::Postcard => Ok(postcard::to_allocvec(msg)?),
            // Straight to bytes: a `Value` tree would widen every f32 to f64 digits.
            Self::Json => Ok(tag_to_field_bytes(serde_json::to_vec(msg)?)),
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(self, frame: &[u8]) -> Result<T, CodecError> {
        match self {
            Self::Postcard => match postcard::take_from_bytes(frame)? {
                (msg, []) => Ok(msg),
                (_, rest) => Err(CodecError::TrailingBytes(rest.len())),
            },
            Self::Json => {
                let value: Value = serde_json::from_slice(frame)?;
                Ok(serde_json::from_value(field_to_tag(value)?)?)
            }
        }
    }
}

/// `{"kind":{..fields}}` → `{"type":"kind",..fields}`; `"kind"` → `{"type":"kind"}`.
fn tag_to_field(value: Value) -> Value {
    match value {
        Value::String(kind) => {
            let mut map = Map::with_capacity(1);
            map.insert("type".into(), Value::String(kind));
            Value::Object(map)
        }
        Value::Object(outer) if outer.len() == 1 => {
            let (kind, inner) = outer
                .into_iter()
                .next()
                .expect("a map of length 1 has an entry");
            let mut map = match inner {
                Value::Object(fields) => fields,
                other => {
                    let mut map = Map::with_capacity(2);
                    map.insert("value".into(), other);
                    map
                }
            };
            map.insert("type".into(), Value::String(kind));
            Value::Object(map)
        }
        other => other,
    }
}

/// [`tag_to_field`] on serde_json's own output: `{"kind":{..}}` → `{"type":"kind",..}`,
/// `"kind"` → `{"type":"kind"}`. Variant names are plain identifiers (never escaped), so
/// the tag ends at the first `"` after the opening one.
fn tag_to_field_bytes(json: Vec<u8>) -> Vec<u8> {
    if json.first() == Some(&b'"') {
        let mut out = Vec::with_capacity(json.len() + 10);
        out.extend_from_slice(br#"{"type":"#);
        out.extend_from_slice(&json);
        out.push(b'}');
        return out;
    }
    let Some(tag_end) = json.iter().skip(2).position(|&b| b == b'"').map(|i| i + 2) else {
        return json;
    };
    // `{"kind":{` … `}}`
    let body_start = tag_end + 3;
    if !json.starts_with(b"{\"")
        || json.get(tag_end + 1..body_start) != Some(b":{")
        || !json.ends_with(b"}}")
    {
        // A newtype of a non-object: keep the Value route, which names it `value`.
        return serde_json::from_slice(&json)
            .ok()
            .and_then(|v| serde_json::to_vec(&tag_to_field(v)).ok())
            .unwrap_or(json);
    }
    let kind = &json[2..tag_end];
    let fields = &json[body_start..json.len() - 2];
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind);
    out.push(b'"');
    if !fields.is_empty() {
        out.push(b',');
        out.extend_from_slice(fields);
    }
    out.push(b'}');
    out
}

/// `{"type":"kind",..fields}` → `{"kind":{..fields}}`, or `"kind"` when there are no fields
/// (serde's form for a unit variant).
fn field_to_tag(value: Value) -> Result<Value, CodecError> {
    let Value::Object(mut map) = value else {
        return Err(CodecError::MissingType);
    };
    let Some(Value::String(kind)) = map.remove("type") else {
        return Err(CodecError::MissingType);
    };
    if map.is_empty() {
        return Ok(Value::String(kind));
    }
    let mut outer = Map::with_capacity(1);
    outer.insert(kind, Value::Object(map));
    Ok(Value::Object(outer))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::{ErrorCode, Props, WireChat, WireTransform};

    fn json(msg: &ServerMsg) -> Value {
        serde_json::from_slice(&Codec::Json.encode_server(msg).expect("encodes")).expect("json")
    }

    #[test]
    fn json_shapes_match_the_published_contract() {
        let hello = br#"{"type":"hello","protocol":1,"name":"alice"}"#;
        assert_eq!(
            Codec::Json.decode_client(hello).expect("decodes"),
            ClientMsg::Hello {
                protocol: 1,
                name: "alice".into(),
                token: None,
                visitor: None,
                secret: None,
                versions: vec![],
                codec: None,
                resume: None,
            }
        );
        let spawn = br#"{"type":"spawn","ref":7,"model":"cube","transform":{"pos":[1,2,3],"rot":[0,0,0,1],"scale":[1,1,1]},"props":{"c":1}}"#;
        let ClientMsg::Spawn {
            client_ref,
            transform,
            props,
            ..
        } = Codec::Json.decode_client(spawn).expect("decodes")
        else {
            panic!("spawn decodes as Spawn");
        };
        assert_eq!(
            (client_ref, transform.pos, props.as_str()),
            (7, [1.0, 2.0, 3.0], r#"{"c":1}"#)
        );
        assert_eq!(
            Codec::Json
                .decode_client(br#"{"type":"leave"}"#)
                .expect("decodes"),
            ClientMsg::Leave
        );

        let id = Uuid::from_u128(1);
        assert_eq!(
            json(&ServerMsg::Spawned { client_ref: 7, id }),
            serde_json::json!({"type":"spawned","ref":7,"id":id.to_string()})
        );
        assert_eq!(
            json(&ServerMsg::Error {
                code: ErrorCode::NotJoined,
                message: "join first".into(),
                request: Some(4),
            }),
            serde_json::json!({"type":"error","code":"not_joined","message":"join first","ref":4})
        );
        let chat = WireChat {
            id,
            from: id,
            name: "a".into(),
            text: "hi".into(),
            at: "t".into(),
        };
        assert_eq!(
            json(&ServerMsg::Chat(chat)),
            serde_json::json!({"type":"chat","id":id.to_string(),"from":id.to_string(),"name":"a","text":"hi","at":"t"})
        );
    }

    #[test]
    fn both_codecs_round_trip_every_shape() {
        let id = Uuid::from_u128(42);
        let msgs = vec![
            ServerMsg::Welcome {
                session: id,
                user: id,
                protocol: 2,
                codec: Codec::Postcard,
                tick_rate: 20,
                name: "a".into(),
                registered: false,
                token: "t".into(),
                guest_secret: Some("s".into()),
                resume: Some("r".into()),
                resume_grace_secs: 30,
                resumed: false,
            },
            ServerMsg::Signal {
                from: id,
                data: r#"{"type":"offer","sdp":"v=0"}"#.into(),
            },
            ServerMsg::Delta {
                tick: 9,
                objects: vec![crate::WireObject {
                    id,
                    index: 3,
                    model: "cube".into(),
                    transform: WireTransform::at([1.0, 2.0, 3.0]),
                    props: Props::from_json(r#"{"x":true}"#).expect("object"),
                    owner: id,
                    version: 3,
                }],
                removed: vec![id],
                avatars: crate::Moves::default(),
                joined: vec![],
                left: vec![id],
                appeared: vec![],
                vanished: vec![id],
                hidden: vec![id],
            },
            ServerMsg::Pong { t: 1.5, tick: 3 },
        ];
        for msg in &msgs {
            let direct: Value =
                serde_json::from_slice(&Codec::Json.encode_server(msg).expect("encodes"))
                    .expect("JSON");
            let via_tree = tag_to_field(serde_json::to_value(msg).expect("a value"));
            assert_eq!(direct, via_tree, "the byte route equals the Value route");
        }
        assert_eq!(
            tag_to_field_bytes(br#""leave""#.to_vec()),
            br#"{"type":"leave"}"#.to_vec()
        );
        assert_eq!(
            tag_to_field_bytes(br#"{"left":{}}"#.to_vec()),
            br#"{"type":"left"}"#.to_vec()
        );
        for codec in [Codec::Postcard, Codec::Json] {
            for msg in &msgs {
                let frame = codec.encode_server(msg).expect("encodes");
                let mut back = codec.decode_server(&frame).expect("decodes");
                // Binary motion stays coded until a client resolves it.
                crate::Mirror::default()
                    .absorb(&mut back)
                    .expect("resolves");
                assert_eq!(&back, msg);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for frame in [
            &b""[..],
            b"\xff\xff\xff",
            b"{}",
            b"[]",
            b"{\"type\":7}",
            b"{\"type\":\"warp\"}",
        ] {
            assert!(Codec::Json.decode_client(frame).is_err());
            assert!(Codec::Postcard.decode_client(frame).is_err());
        }
        assert!(Codec::Postcard.decode_client(&[200, 1, 2]).is_err());
    }
}
