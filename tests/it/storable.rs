//! The edge refuses what no store keeps, and what it accepts every store keeps: a property
//! test over random text and props (NUL, control characters, escapes, any Unicode, deep and
//! odd JSON) sent through the real decoder and `command_from_wire`, written to SQLite and
//! PostgreSQL and read back unchanged.

use std::sync::Arc;

use plaza::Config;
use plaza::clock::now_ms;
use plaza::config::SecretUrl;
use plaza::edge::bridge::{InputLimits, check_name, command_from_wire};
use plaza::store::{Durable, NewSpace, Store};
use plaza_net::{ClientMsg, Codec, ErrorCode};
use plaza_systems::Rows;
use plaza_systems::{ChatLine, Command, ObjectRecord, ObjectState};
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::services::PgSchema;
use crate::support::{TestServer, WAIT, http_get};

/// Characters that stress stores: NUL and other controls, quotes, backslashes, escapes'
/// look-alikes, non-BMP characters, and anything else.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => Just('\0'),
        2 => prop::char::range('\u{1}', '\u{1f}'),
        2 => prop::sample::select(vec!['\\', '"', 'u', '0', '\u{7f}', '\u{feff}', '\u{fffd}', '😀', 'é']),
        4 => any::<char>(),
        4 => prop::char::range('a', 'z'),
    ]
}

fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(String::from_iter)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no infinities or NaN", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        tricky_text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(tricky_text(8), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One client's messages: a name, a chat line, and an object's model and props.
#[derive(Debug, Clone)]
struct Attempt {
    name: String,
    chat: String,
    model: String,
    props: serde_json::Map<String, Value>,
}

fn attempt() -> impl Strategy<Value = Attempt> {
    (
        tricky_text(10),
        tricky_text(60),
        // Tricky text is refused as a model (it names no primitive or upload); a
        // primitive carries the props through to the stores.
        prop_oneof![tricky_text(10), Just("cube".to_owned())],
        prop::collection::btree_map(tricky_text(8), json_value(), 0..5),
    )
        .prop_map(|(name, chat, model, props)| Attempt {
            name,
            chat,
            model,
            props: props.into_iter().collect(),
        })
}

/// A client message as a JSON frame, decoded by the edge's decoder.
fn decoded(frame: Value) -> Option<ClientMsg> {
    Codec::Json.decode_client(frame.to_string().as_bytes()).ok()
}

/// What the edge made of one attempt: the chat line and object it accepted (if any), and
/// how many of its texts it refused for holding NUL.
struct Accepted {
    name: Option<Arc<str>>,
    chat: Option<Arc<str>>,
    object: Option<(Arc<str>, Arc<str>)>,
}

fn through_the_edge(attempt: &Attempt, limits: &InputLimits) -> Accepted {
    let name = check_name("name", &attempt.name, 64).ok();
    let chat = decoded(json!({"type": "chat", "text": attempt.chat}))
        .map(|msg| command_from_wire(msg, limits))
        .and_then(|command| match command {
            Ok(Command::Chat { text }) => Some(text),
            Ok(other) => panic!("chat became {other:?}"),
            Err(refusal) => {
                assert_ne!(refusal.code, ErrorCode::Unavailable);
                None
            }
        });
    let spawn = json!({
        "type": "spawn", "ref": 1, "model": attempt.model,
        "transform": {"pos": [0, 0, 0], "rot": [0, 0, 0, 1], "scale": [1, 1, 1]},
        "props": attempt.props,
    });
    let object = decoded(spawn)
        .map(|msg| command_from_wire(msg, limits))
        .and_then(|command| match command {
            Ok(Command::Spawn { model, props, .. }) => Some((model, props)),
            Ok(other) => panic!("spawn became {other:?}"),
            Err(_) => None,
        });
    Accepted { name, chat, object }
}

/// Writes what was accepted to `store` and reads it back; panics on any difference or
/// any store error.
async fn round_trip(store: &Durable, accepted: &Accepted) {
    let Some(name) = &accepted.name else { return };
    let now = now_ms();
    let user = store
        .ensure_user(Uuid::new_v4(), name, now)
        .await
        .unwrap_or_else(|e| panic!("the store refused the accepted name {name:?}: {e}"));
    // Attempts may repeat a name: each gets a space of its own.
    let space_name = format!("{name}#{}", Uuid::new_v4().simple());
    let space = store
        .ensure_space(&NewSpace::public(&space_name, now))
        .await
        .unwrap_or_else(|e| panic!("the store refused the accepted space name {name:?}: {e}"))
        .0
        .id;
    let chat = accepted.chat.as_ref().map(|text| ChatLine {
        id: Uuid::now_v7(),
        space,
        from: user,
        name: name.clone(),
        text: text.clone(),
        at_ms: now,
    });
    let object = accepted.object.as_ref().map(|(model, props)| ObjectRecord {
        space,
        state: ObjectState {
            id: Uuid::new_v4(),
            index: 0,
            model: model.clone(),
            transform: plaza_systems::Transform::IDENTITY,
            props: props.clone(),
            owner: user,
            version: 1,
        },
    });
    let batch = Rows {
        chat: chat.clone().into_iter().collect(),
        objects: object.clone().into_iter().collect(),
        ..Rows::default()
    };
    store
        .write(&batch, 100, now, None)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{} refused what the edge accepted: {e}\n{batch:?}",
                store.kind()
            )
        });
    if let Some(line) = chat {
        let stored = store.recent_chat(space, 1).await.expect("reads chat");
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (&stored[0].text, &stored[0].name),
            (&line.text, &line.name),
            "{}",
            store.kind()
        );
    }
    if let Some(record) = object {
        let stored: Vec<ObjectState> = store
            .space_objects(space)
            .await
            .expect("reads objects")
            .into_iter()
            .filter(|o| o.id == record.state.id)
            .collect();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].model, record.state.model, "{}", store.kind());
        let (got, sent): (Value, Value) = (
            serde_json::from_str(&stored[0].props).expect("stored props are JSON"),
            serde_json::from_str(&record.state.props).expect("accepted props are JSON"),
        );
        assert_eq!(got, sent, "{} changed the props", store.kind());
    }
}

#[test]
fn whatever_the_edge_accepts_sqlite_and_postgres_keep() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a directory");
    let schema = runtime.block_on(PgSchema::new());
    let open = |config: Config| {
        runtime
            .block_on(Store::open(&config))
            .expect("opens")
            .durable
    };
    let sqlite = open(Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    });
    let postgres = open(Config {
        database_url: Some(SecretUrl::new(schema.url())),
        ..Config::default()
    });
    let limits = InputLimits::from_config(&Config::default());
    let mut runner = TestRunner::new(Cases {
        cases: 400,
        failure_persistence: None,
        ..Cases::default()
    });
    let refused_nul = std::cell::Cell::new(0);
    runner
        .run(&attempt(), |attempt| {
            let accepted = through_the_edge(&attempt, &limits);
            if attempt.chat.contains('\0') {
                assert!(accepted.chat.is_none(), "a chat line with NUL was accepted");
                refused_nul.set(refused_nul.get() + 1);
            }
            runtime.block_on(async {
                round_trip(&sqlite, &accepted).await;
                round_trip(&postgres, &accepted).await;
            });
            Ok(())
        })
        .expect("every accepted message round-trips through both stores");
    let refused_nul = refused_nul.get();
    assert!(
        refused_nul > 10,
        "the strategy exercises NUL ({refused_nul} cases)"
    );
}

/// Over a real connection: NUL in chat or in props is refused with `bad_message`, nothing
/// is stored, and persistence stays healthy (before, one such line stopped every flush).
#[tokio::test]
async fn nul_in_chat_or_props_is_refused_at_the_edge() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    let server = TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url))).await;
    let mut client = server.client(Codec::Json, "nully").await;
    client.join("nul-test").await;
    client
        .send(&ClientMsg::Chat {
            text: "before\0after".into(),
            request: None,
        })
        .await;
    let message = client.expect_error(ErrorCode::BadMessage).await;
    assert!(message.contains("NUL"), "{message}");
    let props = plaza_net::Props::from_json(r#"{"label":"a\u0000b"}"#).expect("a JSON object");
    client
        .send(&ClientMsg::Spawn {
            client_ref: 1,
            model: "cube".into(),
            transform: plaza_net::WireTransform::IDENTITY,
            props,
        })
        .await;
    client.expect_error(ErrorCode::BadMessage).await;
    client
        .send(&ClientMsg::Chat {
            text: "fine".into(),
            request: None,
        })
        .await;
    client
        .recv_until(|m| matches!(m, plaza_net::ServerMsg::Chat { .. }).then_some(()))
        .await;
    crate::support::eventually(WAIT, "the good line is stored", || async {
        let texts: Vec<String> = sqlx::query_scalar("SELECT text FROM chat_messages")
            .fetch_all(&schema.pool)
            .await
            .expect("reads");
        texts == ["fine"]
    })
    .await;
    let (status, health) = http_get(server.addr(), "/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["store"]["dead_letters"], 0);
    server.stop().await;
}
