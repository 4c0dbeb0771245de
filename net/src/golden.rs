//! The golden vectors in `tests/vectors/`: every message as JSON and as its exact postcard
//! bytes, for this crate's codecs and for every other client to be held to. A vector may
//! carry a `context` (a `joined` message) that a client has absorbed before it, which coded
//! motion is read against; with `"relative": true` its avatars are coded against the
//! context's poses, as the server sends them in a space without a view radius.
//!
//! `PLAZA_WRITE_VECTORS=1 cargo test -p plaza-net golden` rewrites the files from
//! [`cases`]; otherwise the test checks the codecs against the files as committed.

use serde_json::{Value, json};

use crate::{Codec, Mirror, Moves, ServerMsg, v1};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors");

/// Which message a vector holds.
#[derive(Clone, Copy)]
enum Kind {
    Client,
    Server,
}

struct Case {
    name: &'static str,
    kind: Kind,
    message: Value,
    context: Option<Value>,
    relative: bool,
}

fn client(name: &'static str, message: Value) -> Case {
    Case {
        name,
        kind: Kind::Client,
        message,
        context: None,
        relative: false,
    }
}

fn server(name: &'static str, message: Value) -> Case {
    Case {
        name,
        kind: Kind::Server,
        message,
        context: None,
        relative: false,
    }
}

const A: &str = "00000000-0000-0000-0000-00000000000a";
const B: &str = "00000000-0000-0000-0000-00000000000b";
const S: &str = "0190c2a8-1d00-7000-8000-000000000005";
const O: &str = "0190c2a8-1d00-7000-8000-0000000000ff";

fn transform(x: f64, z: f64) -> Value {
    json!({"pos": [x, 0.0, z], "rot": [0.0, 0.0, 0.0, 1.0], "scale": [1.0, 1.0, 1.0]})
}

fn turned(x: f64, z: f64) -> Value {
    // An eighth of a turn about +Y, exactly as the yaw 8192 decodes.
    json!({"pos": [x, 0.0, z], "rot": [0.0, 0.38268343, 0.0, 0.9238795], "scale": [1.0, 1.0, 1.0]})
}

fn joined() -> Value {
    json!({"type": "joined", "space": S, "name": "lobby", "tick": 100,
        "objects": [{"id": O, "index": 0, "model": "cube", "transform": transform(1.0, 2.0),
                     "props": {"color": "red"}, "owner": A, "version": 3}],
        "users": [{"user": A, "index": 0, "name": "alice", "transform": turned(12.5, -40.25)},
                  {"user": B, "index": 1, "name": "bob", "transform": transform(0.0, 0.0)}],
        "chat": [{"id": S, "from": B, "name": "bob", "text": "hi", "at": "2026-12-02T16:00:00.000Z"}],
        "shares": [{"user": B, "name": "bob", "kind": "screen"}]})
}

/// Every message of version 2, one vector each (and a few of its forms).
fn cases() -> Vec<Case> {
    let mut cases = vec![
        client(
            "hello",
            json!({"type": "hello", "protocol": 2, "name": "alice", "token": null,
            "visitor": "visitor-1234", "secret": null, "versions": [2, 1], "codec": "postcard",
            "resume": null}),
        ),
        client(
            "hello_with_token",
            json!({"type": "hello", "protocol": 2, "name": "",
            "token": "0123abcd", "visitor": null, "secret": null, "versions": [], "codec": null,
            "resume": "5e55"}),
        ),
        client("join", json!({"type": "join", "space": "lobby", "ref": 1})),
        client("leave", json!({"type": "leave"})),
        client(
            "spawn",
            json!({"type": "spawn", "ref": 7, "model": "cube",
            "transform": transform(1.5, -2.0), "props": {"color": "red"}}),
        ),
        client(
            "move",
            json!({"type": "move", "id": O, "transform": transform(3.0, 4.0), "ref": 8}),
        ),
        client(
            "set_props",
            json!({"type": "set_props", "id": O, "props": {"n": 1}, "ref": null}),
        ),
        client("despawn", json!({"type": "despawn", "id": O, "ref": 9})),
        client(
            "pose",
            json!({"type": "pose", "transform": turned(12.5, -40.25)}),
        ),
        client("chat", json!({"type": "chat", "text": "héllo", "ref": 10})),
        client("ping", json!({"type": "ping", "t": 1234.5})),
        client(
            "screen_share_start",
            json!({"type": "screen_share_start", "kind": "window", "ref": null}),
        ),
        client("screen_share_stop", json!({"type": "screen_share_stop"})),
        client(
            "signal",
            json!({"type": "signal", "to": B, "data": "{\"type\":\"offer\"}", "ref": 11}),
        ),
        server(
            "welcome",
            json!({"type": "welcome", "session": S, "user": A, "protocol": 2,
            "codec": "postcard", "tick_rate": 20, "name": "alice", "registered": false,
            "token": "ab", "guest_secret": "cd", "resume": "ef", "resume_grace_secs": 30,
            "resumed": false}),
        ),
        server("joined", joined()),
        server("left", json!({"type": "left", "space": S})),
        server("spawned", json!({"type": "spawned", "ref": 7, "id": O})),
        server(
            "chat",
            json!({"type": "chat", "id": S, "from": B, "name": "bob", "text": "hi",
            "at": "2026-12-02T16:00:00.000Z"}),
        ),
        server("pong", json!({"type": "pong", "t": 1234.5, "tick": 101})),
        server(
            "error",
            json!({"type": "error", "code": "not_found", "message": "no such object", "ref": 9}),
        ),
        server(
            "error_without_ref",
            json!({"type": "error", "code": "rate_limited", "message": "slow down", "ref": null}),
        ),
        server(
            "screen_share",
            json!({"type": "screen_share",
            "share": {"user": B, "name": "bob", "kind": "tab"}, "active": true}),
        ),
        server("signal", json!({"type": "signal", "from": A, "data": "x"})),
        server(
            "moved",
            json!({"type": "moved", "space": "lobby", "node": "node-b:8700",
            "http_url": "http://10.0.0.2:8700", "quic_port": 8701, "webtransport_port": 8702,
            "cert_sha256": "ab01"}),
        ),
        server(
            "queued",
            json!({"type": "queued", "space": "lobby", "position": 3}),
        ),
        server(
            "error_full",
            json!({"type": "error", "code": "full", "message": "the line is full", "ref": 1}),
        ),
        server(
            "delta",
            json!({"type": "delta", "tick": 101,
            "objects": [{"id": O, "index": 0, "model": "cube", "transform": transform(1.0, 2.0),
                         "props": {}, "owner": A, "version": 4}],
            "removed": [], "avatars": [], "joined": [], "left": [B], "appeared": [],
            "vanished": [], "hidden": []}),
        ),
    ];
    let mut delta_with_poses = server(
        "delta_with_poses",
        json!({"type": "delta", "tick": 101,
        "objects": [], "removed": [],
        "avatars": [{"index": 0, "user": A, "transform": turned(12.64, -40.28)},
                    {"index": 1, "user": B, "transform": transform(-0.001, 0.0)}],
        "joined": [], "left": [], "appeared": [], "vanished": [], "hidden": []}),
    );
    delta_with_poses.context = Some(joined());
    cases.push(delta_with_poses);
    let mut relative = server(
        "delta_relative",
        cases.last().expect("a case").message.clone(),
    );
    relative.context = Some(joined());
    relative.relative = true;
    cases.push(relative);
    let mut motion = server(
        "motion",
        json!({"type": "motion", "tick": 102,
        "avatars": [{"index": 1, "user": B, "transform": {"pos": [0.0, 0.0, 0.0],
                     "rot": [0.0, 0.0, 0.0, 1.0], "scale": [1.0, 16777.0, 1.0]}}],
        "objects": [{"index": 0, "id": O, "transform": transform(1.0, 2.5), "version": 5}]}),
    );
    motion.context = Some(joined());
    cases.push(motion);
    // A rotation that is not about +Y alone travels packed (smallest three); these are the
    // floats its 32 bits decode to, so the vector holds both ways.
    let mut tilted = server(
        "motion_packed_rotation",
        json!({"type": "motion", "tick": 103, "avatars": [],
        "objects": [{"index": 0, "id": O, "transform": {"pos": [1.0, 0.0, 2.5],
                     "rot": [0.1002253, 0.1997594, 0.3006759, 0.92717046],
                     "scale": [1.0, 1.0, 1.0]}, "version": 6}]}),
    );
    tilted.context = Some(joined());
    cases.push(tilted);
    cases
}

/// The version-1 messages that differ from version 2, frozen.
fn cases_v1() -> Vec<Case> {
    vec![
        client(
            "hello",
            json!({"type": "hello", "protocol": 1, "name": "alice", "token": null,
            "visitor": null, "secret": null}),
        ),
        client("join", json!({"type": "join", "space": "lobby"})),
        server(
            "welcome",
            json!({"type": "welcome", "session": S, "user": A, "protocol": 1,
            "tick_rate": 20, "name": "alice", "registered": false, "token": "ab",
            "guest_secret": null}),
        ),
        server(
            "delta",
            json!({"type": "delta", "tick": 101, "objects": [], "removed": [],
            "avatars": [{"user": A, "transform": transform(1.0, 2.0)}], "joined": [],
            "left": [], "appeared": [], "vanished": [], "hidden": []}),
        ),
        server(
            "error",
            json!({"type": "error", "code": "not_found", "message": "no such object"}),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

/// The postcard bytes of a vector's message, in `version`.
fn postcard_of(case: &Case, version: u32) -> Vec<u8> {
    let text = json_bytes(&case.message);
    match (case.kind, version) {
        (Kind::Client, 1) => {
            let msg = v1::decode_client(Codec::Json, &text).expect("a v1 client message");
            v1::encode_client(Codec::Postcard, &msg).expect("encodes")
        }
        (Kind::Client, _) => {
            let msg = Codec::Json.decode_client(&text).expect("a client message");
            Codec::Postcard.encode_client(&msg).expect("encodes")
        }
        (Kind::Server, 1) => {
            let msg = v1::decode_server(Codec::Json, &text).expect("a v1 server message");
            v1::encode_server(Codec::Postcard, &msg).expect("encodes")
        }
        (Kind::Server, _) => {
            let mut msg = Codec::Json.decode_server(&text).expect("a server message");
            if case.relative {
                code_relative(&mut msg, case.context.as_ref().expect("a context"));
            }
            Codec::Postcard.encode_server(&msg).expect("encodes")
        }
    }
}

/// Codes a delta's avatars against the poses `context` (a joined) gave, as the server does.
fn code_relative(msg: &mut ServerMsg, context: &Value) {
    let Ok(ServerMsg::Joined { users, .. }) = Codec::Json.decode_server(&json_bytes(context))
    else {
        panic!("a context is a joined message");
    };
    if let ServerMsg::Delta { avatars, .. } = msg {
        *avatars = Moves::code(avatars.entries(), |a| {
            users
                .iter()
                .find(|u| u.index == a.index)
                .map(|u| u.transform.0)
        });
    }
}

fn file(version: u32, cases: &[Case]) -> Value {
    let vectors: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut v = json!({
                "name": c.name,
                "direction": match c.kind { Kind::Client => "client", Kind::Server => "server" },
                "json": c.message,
                "postcard": hex(&postcard_of(c, version)),
            });
            if let Some(context) = &c.context {
                v["context"] = context.clone();
            }
            if c.relative {
                v["relative"] = json!(true);
            }
            v
        })
        .collect();
    json!({
        "protocol": version,
        "about": "Each vector: a message as JSON and its exact postcard bytes (hex). Decoding the bytes (after absorbing `context`, a joined message, where given) must give the JSON message, and encoding the JSON message must give the bytes. See docs/protocol.md.",
        "vectors": vectors,
    })
}

/// Checks one vector of the current version both ways.
fn check_current(v: &Value) {
    let name = v["name"].as_str().expect("a name");
    let text = json_bytes(&v["json"]);
    let bytes = unhex(v["postcard"].as_str().expect("hex"));
    match v["direction"].as_str() {
        Some("client") => {
            let msg = Codec::Json.decode_client(&text).expect("decodes");
            assert_eq!(
                Codec::Postcard.encode_client(&msg).expect("encodes"),
                bytes,
                "{name}"
            );
            assert_eq!(
                Codec::Postcard.decode_client(&bytes).expect("decodes"),
                msg,
                "{name}"
            );
            let again: Value =
                serde_json::from_slice(&Codec::Json.encode_client(&msg).expect("encodes"))
                    .expect("JSON");
            assert_eq!(again, v["json"], "{name}: JSON out as in");
        }
        _ => {
            let msg = Codec::Json.decode_server(&text).expect("decodes");
            let mut sent = msg.clone();
            if v["relative"] == json!(true) {
                code_relative(&mut sent, &v["context"]);
            }
            assert_eq!(
                Codec::Postcard.encode_server(&sent).expect("encodes"),
                bytes,
                "{name}"
            );
            let mut mirror = Mirror::default();
            if let Some(context) = v.get("context") {
                let mut joined = Codec::Json
                    .decode_server(&json_bytes(context))
                    .expect("a joined");
                mirror.absorb(&mut joined).expect("absorbs");
            }
            let mut back = Codec::Postcard.decode_server(&bytes).expect("decodes");
            mirror.absorb(&mut back).expect("resolves");
            assert_eq!(back, msg, "{name}: the bytes decode to the message");
            let again: Value =
                serde_json::from_slice(&Codec::Json.encode_server(&msg).expect("encodes"))
                    .expect("JSON");
            assert_eq!(again, v["json"], "{name}: JSON out as in");
        }
    }
}

fn read(version: u32) -> Value {
    let path = format!("{DIR}/v{version}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vectors are JSON")
}

#[test]
fn golden_vectors_hold() {
    let files = [(crate::PROTOCOL_VERSION, cases()), (1, cases_v1())];
    if std::env::var_os("PLAZA_WRITE_VECTORS").is_some() {
        for (version, cases) in &files {
            let text = serde_json::to_string_pretty(&file(*version, cases)).expect("JSON");
            std::fs::write(format!("{DIR}/v{version}.json"), text + "\n").expect("writes");
        }
    }
    for (version, cases) in &files {
        let committed = read(*version);
        assert_eq!(
            committed,
            file(*version, cases),
            "tests/vectors/v{version}.json is what the codecs make of the cases"
        );
    }
    for v in read(crate::PROTOCOL_VERSION)["vectors"]
        .as_array()
        .expect("vectors")
    {
        check_current(v);
    }
    for v in read(1)["vectors"].as_array().expect("vectors") {
        let bytes = unhex(v["postcard"].as_str().expect("hex"));
        let text = json_bytes(&v["json"]);
        match v["direction"].as_str() {
            Some("client") => assert_eq!(
                v1::decode_client(Codec::Postcard, &bytes).expect("decodes"),
                v1::decode_client(Codec::Json, &text).expect("decodes")
            ),
            _ => assert_eq!(
                v1::decode_server(Codec::Postcard, &bytes).expect("decodes"),
                v1::decode_server(Codec::Json, &text).expect("decodes")
            ),
        }
    }
}

/// The worked example of docs/protocol.md, by hand: two avatars a step from where the
/// context left them, coded against it.
#[test]
fn the_worked_example_in_the_spec_holds() {
    let file = read(crate::PROTOCOL_VERSION);
    let step = file["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .find(|v| v["name"] == "delta_relative")
        .expect("the vector");
    let expected = [
        6, 101, 0, 0, // delta, tick 101, no objects, no removals
        9, 2, // avatars: 9 bytes, 2 entries
        0, 0x85, 0x98, 0x02, 0x3b, // index 0, relative x z: +140 mm, -30 mm
        0, 0x81, 0x01, // index 1, relative x: -1 mm
        0, 0, 0, 0, 0, // joined, left, appeared, vanished, hidden
    ];
    assert_eq!(unhex(step["postcard"].as_str().expect("hex")), expected);
}
