//! The cluster: several nodes on one PostgreSQL (and Redis) share the spaces. A join
//! through a node that does not own the space is answered with `moved`, and the Rust client
//! follows it; a node that stops gives its spaces up for the next join elsewhere.

use plaza::Config;
use plaza::config::{Secret, SecretUrl};
use plaza_net::{ClientMsg, Codec, MovedTo, ServerMsg, Transport};
use serde_json::json;
use sqlx::Row;

use crate::services::{PgSchema, redis_url};
use crate::support::{Client, TestServer, http_json};

pub(crate) const ADMIN: &str = "cluster-admin-token-0123456789";

/// A node of the cluster on `schema`.
pub(crate) async fn node(
    schema: &PgSchema,
    prefix: &str,
    adjust: impl FnOnce(&mut Config),
) -> TestServer {
    let url = schema.url();
    let prefix = prefix.to_string();
    TestServer::start_with(move |c| {
        c.database_url = Some(SecretUrl::new(url));
        c.redis_url = Some(SecretUrl::new(redis_url()));
        c.redis_prefix = prefix;
        c.admin_token = Some(Secret::new(ADMIN.to_string()));
        adjust(c);
    })
    .await
}

/// The node id of a test node.
pub(crate) fn node_id(server: &TestServer) -> String {
    let cluster = server.server.edge().cluster.as_ref();
    cluster
        .expect("a node on PostgreSQL is clustered")
        .node
        .to_string()
}

/// Two nodes A and B of one cluster with the default settings, on a fresh schema and Redis
/// prefix (returned for more nodes).
pub(crate) async fn two_nodes() -> (PgSchema, String, TestServer, TestServer) {
    let schema = PgSchema::new().await;
    let prefix = prefix();
    let a = node(&schema, &prefix, |_| {}).await;
    let b = node(&schema, &prefix, |_| {}).await;
    (schema, prefix, a, b)
}

fn prefix() -> String {
    format!("it:{}:", uuid::Uuid::new_v4().simple())
}

/// Whoever owns `space` in the store, with the epoch.
async fn owner(schema: &PgSchema, space: uuid::Uuid) -> Option<(String, i64)> {
    sqlx::query(
        "SELECT node_id, epoch FROM space_owners WHERE space_id = $1 AND lease_until > now()",
    )
    .bind(space)
    .fetch_optional(&schema.pool)
    .await
    .expect("reads owners")
    .map(|row| (row.get("node_id"), row.get("epoch")))
}

#[tokio::test]
async fn a_join_through_another_node_is_moved_to_the_owner_and_the_rust_client_follows() {
    let (schema, _prefix, a, b) = two_nodes().await;
    let a_node = node_id(&a);

    let mut alice = a.client(Codec::Postcard, "alice").await;
    let ServerMsg::Joined { space, .. } = alice.join("hall").await else {
        unreachable!()
    };
    let cube = alice.spawn(1, [1.0, 2.0, 3.0]).await;
    assert_eq!(
        owner(&schema, space).await.map(|o| o.0),
        Some(a_node.to_string())
    );

    // Bob reaches B over QUIC and asks for the hall: B sends him to A.
    let mut bob = Client::hello_quic(&b, "bob").await;
    bob.send(&ClientMsg::Join {
        space: "hall".into(),
        request: None,
    })
    .await;
    let moved = bob
        .recv_until(|m| matches!(m, ServerMsg::Moved { .. }).then(|| m.clone()))
        .await;
    let to = MovedTo::from_message(&moved)
        .await
        .expect("the node resolves")
        .expect("a move");
    assert_eq!(to.node, a_node);
    assert_eq!(to.http, a.addr());
    assert_eq!(to.quic, a.server.quic_addr());
    assert_eq!(to.cert_sha256, Some(a.server.edge().cert_sha256));

    // He follows over QUIC with the same guest secret, and plays with Alice there.
    let secret = bob.guest_secret.clone().expect("a new guest's secret");
    let net = to
        .connect(Transport::Quic, Codec::Postcard)
        .await
        .expect("connects to A");
    let mut bob = Client::over_net(net);
    bob.say(&ClientMsg::hello_again("bob", secret)).await;
    let ServerMsg::Joined { objects, .. } = bob.join(&to.space).await else {
        unreachable!()
    };
    assert_eq!(objects.iter().map(|o| o.id).collect::<Vec<_>>(), vec![cube]);
    let bobs = bob.spawn(2, [4.0, 0.0, 0.0]).await;
    alice
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects.iter().any(|o| o.id == bobs).then_some(()),
            _ => None,
        })
        .await;

    // B lists the hall as A's, with the people A publishes in it.
    crate::support::eventually(
        crate::support::WAIT,
        "B lists who is in the hall on A",
        || async {
            let (_, list) = http_json(b.addr(), "GET", "/api/spaces", None, None).await;
            let hall = list["spaces"]
                .as_array()
                .and_then(|spaces| spaces.iter().find(|s| s["name"] == "hall").cloned())
                .unwrap_or_default();
            hall["node"] == a_node.as_str() && hall["loaded"] == true && hall["people_online"] == 2
        },
    )
    .await;

    // The cluster view, from either node.
    let (status, view) = http_json(b.addr(), "GET", "/api/cluster", None, None).await;
    assert_eq!(status, 200);
    let live: Vec<&str> = view["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["live"] == true)
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(live.len(), 2, "both nodes are live: {view}");
    assert!(
        view["nodes"][0].get("owns").is_none(),
        "spaces are for admins"
    );
    let (status, view) = http_json(b.addr(), "GET", "/api/admin/cluster", Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let owned_by_a = view["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["node"] == a_node.as_str())
        .expect("A is listed")["owns"]
        .clone();
    assert_eq!(owned_by_a[0]["name"], "hall", "{view}");
    assert_eq!(owned_by_a[0]["epoch"], 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_node_that_stops_gives_its_spaces_to_the_next_join_elsewhere() {
    let (schema, _prefix, a, b) = two_nodes().await;
    let b_node = node_id(&b);
    let mut alice = a.client(Codec::Json, "alice").await;
    let ServerMsg::Joined { space, .. } = alice.join("atrium").await else {
        unreachable!()
    };
    let cube = alice.spawn(1, [5.0, 0.0, 5.0]).await;
    alice
        .send(&ClientMsg::Move {
            id: cube,
            transform: plaza_net::WireTransform::at([6.0, 0.0, 6.0]),
            request: None,
        })
        .await;
    alice.tick().await;
    drop(alice);
    a.stop().await;

    // B takes the space at once (no lease to wait out), at a higher epoch, with A's state.
    let mut bob = b.client(Codec::Postcard, "bob").await;
    let ServerMsg::Joined { objects, .. } = bob.join("atrium").await else {
        unreachable!()
    };
    assert_eq!(
        objects
            .iter()
            .map(|o| (o.id, o.transform.pos))
            .collect::<Vec<_>>(),
        vec![(cube, [6.0, 0.0, 6.0])]
    );
    assert_eq!(owner(&schema, space).await, Some((b_node.to_string(), 2)));
    b.stop().await;
}

/// Sends `signal` to a process.
fn signal(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} works");
}

/// The cube's stored x position and version.
async fn stored(schema: &PgSchema, cube: uuid::Uuid) -> Option<(f32, i64)> {
    sqlx::query("SELECT px, version FROM world_objects WHERE id = $1")
        .bind(cube)
        .fetch_optional(&schema.pool)
        .await
        .expect("reads the object")
        .map(|row| (row.get("px"), row.get("version")))
}

async fn move_cube(client: &mut Client, cube: uuid::Uuid, x: f32) {
    client
        .send(&ClientMsg::Move {
            id: cube,
            transform: plaza_net::WireTransform::at([x, 0.0, 0.0]),
            request: None,
        })
        .await;
    client
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects
                .iter()
                .any(|o| o.id == cube && o.transform.pos[0] == x)
                .then_some(()),
            _ => None,
        })
        .await;
}

#[tokio::test]
async fn a_frozen_owner_is_fenced_and_its_late_flush_never_overwrites_the_new_owner() {
    let schema = PgSchema::new().await;
    let prefix = prefix();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A: a real process with a short lease and flushes far apart, so that a change sits in
    // its writer while it is frozen.
    let envs = [
        ("PLAZA_LISTEN", "127.0.0.1:0".to_string()),
        ("PLAZA_QUIC_ENABLED", "false".to_string()),
        ("PLAZA_WEBTRANSPORT_ENABLED", "false".to_string()),
        ("PLAZA_DATA_DIR", dir.path().display().to_string()),
        ("PLAZA_DATABASE_URL", schema.url()),
        ("PLAZA_REDIS_URL", redis_url()),
        ("PLAZA_REDIS_PREFIX", prefix.clone()),
        ("PLAZA_LEASE_MS", "900".to_string()),
        ("PLAZA_FLUSH_INTERVAL_MS", "4000".to_string()),
    ];
    let (mut a, a_addr) = crate::restart::start_binary(&envs);
    let a_addr: std::net::SocketAddr = a_addr.parse().expect("an address");
    let b = node(&schema, &prefix, |c| c.lease_ms = 900).await;

    let mut alice = Client::hello(a_addr, Codec::Postcard, "alice").await;
    let ServerMsg::Joined { space, .. } = alice.join("forge").await else {
        unreachable!()
    };
    let cube = alice.spawn(1, [1.0, 0.0, 0.0]).await;
    crate::support::eventually(crate::support::WAIT, "A stores the cube", || async {
        stored(&schema, cube).await.is_some()
    })
    .await;
    // Just after a flush: the next is ~4 s away. Move the cube, then freeze A.
    move_cube(&mut alice, cube, 2.0).await;
    signal(&a, "-STOP");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // A's lease ran out: B takes the space at a higher epoch and writes the same version
    // (Alice again, on B: the cube is hers to move).
    let mut bob = b
        .client_again(Codec::Postcard, "alice", &alice.guest_secret)
        .await;
    let ServerMsg::Joined { objects, .. } = bob.join("forge").await else {
        unreachable!()
    };
    assert_eq!(
        objects[0].transform.pos[0], 1.0,
        "B loads what A had stored"
    );
    let b_node = node_id(&b);
    assert_eq!(owner(&schema, space).await, Some((b_node.to_string(), 2)));
    move_cube(&mut bob, cube, 3.0).await;
    crate::support::eventually(crate::support::WAIT, "B stores its move", || async {
        stored(&schema, cube).await == Some((3.0, 2))
    })
    .await;

    // A wakes: its late flush (the same version, which would win a tie) is refused, and
    // Alice is sent to B.
    signal(&a, "-CONT");
    moved_to(&mut alice, &b_node).await;
    crate::support::eventually(crate::support::WAIT, "A's writer is fenced", || async {
        let (_, stats) = http_json(a_addr, "GET", "/api/statistics", None, None).await;
        stats["persistence"]["fenced_rows"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    assert_eq!(
        stored(&schema, cube).await,
        Some((3.0, 2)),
        "the new owner's state stands"
    );
    signal(&a, "-TERM");
    let exit = tokio::task::spawn_blocking(move || a.wait())
        .await
        .expect("joins")
        .expect("waits");
    assert!(exit.success(), "A stops cleanly: {exit:?}");
    assert_eq!(
        owner(&schema, space).await.map(|o| o.0),
        Some(b_node.to_string())
    );
    b.stop().await;
}

#[tokio::test]
async fn a_write_fenced_with_an_old_epoch_is_refused_and_changes_nothing() {
    use plaza::store::postgres::cluster::Claim;
    use plaza::store::{Fence, NewSpace, PostgresStore, StoreError};
    use plaza_systems::{ObjectRecord, ObjectState, Rows, Transform};
    use std::sync::Arc;

    let schema = PgSchema::new().await;
    let config = Config::default();
    let store = PostgresStore::open(&SecretUrl::new(schema.url()), &config)
        .await
        .expect("opens");
    let durable = plaza::store::Durable::Postgres(store.clone());
    let user = durable
        .ensure_user(uuid::Uuid::new_v4(), "maker", 0)
        .await
        .expect("a user");
    let space = durable
        .ensure_space(&NewSpace::public("fenced", 0))
        .await
        .expect("a space")
        .0
        .id;
    let cube = uuid::Uuid::new_v4();
    let at = |x: f32| Rows {
        objects: vec![ObjectRecord {
            space,
            state: ObjectState {
                id: cube,
                index: 0,
                model: Arc::from("cube"),
                transform: Transform::from_translation(glam::Vec3::new(x, 0.0, 0.0)),
                props: Arc::from("{}"),
                owner: user,
                version: 1,
            },
        }],
        ..Rows::default()
    };
    let fence = |node: &str, epoch| Fence {
        space,
        node: Arc::from(node),
        epoch,
    };

    assert_eq!(
        store.claim_space(space, "a", 60_000).await.expect("claims"),
        Claim::Owned(1)
    );
    assert_eq!(
        store.claim_space(space, "b", 60_000).await.expect("asks"),
        Claim::Elsewhere {
            node: "a".into(),
            moving_to: None
        },
        "a live lease is not taken"
    );
    store
        .write(&at(1.0), 100, Some(&fence("a", 1)))
        .await
        .expect("a writes");
    // A's lease is given up (or runs out): B claims at epoch 2 and writes.
    store
        .release_spaces("a", Some(&[space]))
        .await
        .expect("releases");
    assert_eq!(
        store.claim_space(space, "b", 60_000).await.expect("claims"),
        Claim::Owned(2)
    );
    store
        .write(&at(3.0), 100, Some(&fence("b", 2)))
        .await
        .expect("b writes");
    // A's late write of the same version would win the tie; the fence refuses it.
    let late = store.write(&at(2.0), 100, Some(&fence("a", 1))).await;
    assert!(
        matches!(late, Err(StoreError::Fenced { epoch: 1, .. })),
        "the old owner's write is fenced: {late:?}"
    );
    assert_eq!(stored(&schema, cube).await, Some((3.0, 1)));
    // A renewing its leases finds it owns nothing; B's renewal keeps the space.
    assert!(
        store
            .renew_leases("a", 60_000)
            .await
            .expect("renews")
            .is_empty()
    );
    let renewed = store.renew_leases("b", 60_000).await.expect("renews");
    assert_eq!(
        renewed
            .iter()
            .map(|r| (r.space, r.epoch))
            .collect::<Vec<_>>(),
        vec![(space, 2)]
    );
    // Without a fence the same write would have overwritten B's state.
    store.write(&at(2.0), 100, None).await.expect("unfenced");
    assert_eq!(stored(&schema, cube).await, Some((2.0, 1)));
    store.close().await;
}

/// The latest version of `cube` in a delta or motion `client` receives, until `stop` says
/// a message ends the wait (returned with the version).
async fn versions_until(
    client: &mut Client,
    cube: uuid::Uuid,
    mut version: u64,
    stop: impl Fn(&ServerMsg) -> bool,
) -> (u64, ServerMsg) {
    loop {
        let msg = client.recv().await;
        if let ServerMsg::Delta { objects, .. } = &msg
            && let Some(o) = objects.iter().find(|o| o.id == cube)
        {
            version = version.max(o.version);
        }
        if stop(&msg) {
            return (version, msg);
        }
    }
}

#[tokio::test]
async fn a_space_handed_off_under_load_loses_no_acknowledged_change() {
    let schema = PgSchema::new().await;
    let prefix = prefix();
    let a = node(&schema, &prefix, |c| c.lease_ms = 900).await;
    let b = node(&schema, &prefix, |c| c.lease_ms = 900).await;
    let b_node = node_id(&b);
    let mut alice = a.client(Codec::Postcard, "alice").await;
    let ServerMsg::Joined { space, .. } = alice.join("stage").await else {
        unreachable!()
    };
    let cube = alice.spawn(1, [0.0, 0.0, 0.0]).await;
    for n in 1..=20 {
        move_cube(&mut alice, cube, n as f32).await;
    }

    // Alice keeps moving the cube while an admin moves the space to B through A.
    let mover = tokio::spawn({
        let addr = a.addr();
        let path = format!("/api/admin/spaces/{space}/move");
        async move {
            let body = serde_json::json!({ "to": &b_node });
            http_json(addr, "POST", &path, Some(ADMIN), Some(body)).await
        }
    });
    let mut x = 20.0;
    let mut version = 21;
    let moved = loop {
        x += 1.0;
        alice
            .send(&ClientMsg::Move {
                id: cube,
                transform: plaza_net::WireTransform::at([x, 0.0, 0.0]),
                request: None,
            })
            .await;
        let (seen, msg) = versions_until(&mut alice, cube, version, |m| {
            matches!(m, ServerMsg::Moved { .. } | ServerMsg::Delta { .. })
        })
        .await;
        version = seen;
        if matches!(msg, ServerMsg::Moved { .. }) {
            break msg;
        }
    };
    let (status, answer) = mover.await.expect("the request ends");
    assert_eq!(status, 200, "{answer}");
    assert!(answer["out_of_service_ms"].as_u64().is_some(), "{answer}");

    // She follows to B with her session's credentials and finds every change she saw.
    let to = MovedTo::from_message(&moved)
        .await
        .expect("resolves")
        .expect("a move");
    assert_eq!(to.http, b.addr());
    let mut again = b
        .client_again(Codec::Postcard, "alice", &alice.guest_secret)
        .await;
    let ServerMsg::Joined { objects, .. } = again.join(&to.space).await else {
        unreachable!()
    };
    let there = objects
        .iter()
        .find(|o| o.id == cube)
        .expect("the cube moved along");
    // A move applied in the very tick the space left A was never acknowledged, but it is
    // kept too.
    assert!(
        there.version >= version,
        "every acknowledged change is there: {} < {version}",
        there.version
    );
    let version = there.version;
    assert_eq!(
        stored(&schema, cube).await.map(|(_, v)| v),
        Some(i64::try_from(version).expect("small")),
        "and in the store"
    );
    assert_eq!(owner(&schema, space).await.map(|o| o.0), Some(node_id(&b)));

    // A move asked through a node that does not own the space goes through its owner.
    let a_node = node_id(&a);
    let (status, answer) = http_json(
        a.addr(),
        "POST",
        &format!("/api/admin/spaces/{space}/move"),
        Some(ADMIN),
        Some(serde_json::json!({ "to": &a_node })),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    moved_to(&mut again, &a_node).await;
    let mut back = a
        .client_again(Codec::Json, "alice", &alice.guest_secret)
        .await;
    let ServerMsg::Joined { objects, .. } = back.join("stage").await else {
        unreachable!()
    };
    assert_eq!(objects[0].version, version);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_snapshot_update_with_an_older_epoch_changes_nothing_in_redis() {
    use plaza::store::{RedisSnapshots, SnapshotChanges};
    use plaza_systems::{ObjectRecord, ObjectState, Rows, Transform};
    use std::sync::Arc;

    let config = Config {
        redis_prefix: prefix(),
        ..Config::default()
    };
    let redis = RedisSnapshots::connect(&SecretUrl::new(redis_url()), &config)
        .await
        .expect("Redis answers (./scripts/test.sh starts it)");
    let (space, cube) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let at = |x: f32, version: u64| {
        let rows = Rows {
            objects: vec![ObjectRecord {
                space,
                state: ObjectState {
                    id: cube,
                    index: 0,
                    model: Arc::from("cube"),
                    transform: Transform::from_translation(glam::Vec3::new(x, 0.0, 0.0)),
                    props: Arc::from("{}"),
                    owner: uuid::Uuid::nil(),
                    version,
                },
            }],
            ..Rows::default()
        };
        let mut changes = SnapshotChanges::default();
        changes.merge_flush(&rows, &[(space, version)]);
        changes
    };
    let x_in_snapshot = || async {
        let objects = redis
            .load(space, 0)
            .await
            .expect("reads")
            .expect("a snapshot");
        (objects[0].transform.translation.x, objects[0].version)
    };
    // The old owner (epoch 1) wrote; the new owner (epoch 2) re-warmed and wrote.
    redis.write(&at(1.0, 1), |_| Some(1)).await.expect("writes");
    redis.rewarm(space, 1, &[], 2).await;
    redis.write(&at(3.0, 2), |_| Some(2)).await.expect("writes");
    assert_eq!(x_in_snapshot().await, (3.0, 2));
    // The old owner wakes and sends its last update: the hash keeps the new owner's.
    redis
        .write(&at(2.0, 2), |_| Some(1))
        .await
        .expect("the call succeeds");
    assert_eq!(x_in_snapshot().await, (3.0, 2), "the older epoch is fenced");
    // A space the writer no longer owns is not written at all.
    redis
        .write(&at(4.0, 3), |_| None)
        .await
        .expect("the call succeeds");
    assert_eq!(x_in_snapshot().await, (3.0, 2));
    // (Outside a cluster every update is written with epoch 0: tests/it/redis.rs.)
}

#[tokio::test]
async fn kicks_and_uploaded_models_reach_every_node() {
    let (_schema, _prefix, a, b) = two_nodes().await;

    // A model uploaded through B may be spawned at once on A.
    let mut alice = a.client(Codec::Postcard, "alice").await;
    alice.join("workshop").await;
    let uploader = b.client(Codec::Postcard, "uploader").await;
    let (status, body) = crate::support::http(
        b.addr(),
        "POST",
        "/api/models?name=triangle",
        Some(&uploader.token),
        Some("model/gltf-binary"),
        &plaza::uploads::media::sample_glb(),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let model: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let model = model["id"].as_str().expect("an id").to_string();
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    for n in 1.. {
        let spawn = ClientMsg::Spawn {
            client_ref: n,
            model: model.clone(),
            transform: plaza_net::WireTransform::IDENTITY,
            props: Default::default(),
        };
        alice.send(&spawn).await;
        let spawned = alice
            .recv_until(|m| match m {
                ServerMsg::Spawned { client_ref, .. } if *client_ref == n => Some(true),
                ServerMsg::Error { .. } => Some(false),
                _ => None,
            })
            .await;
        if spawned {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never learnt of B's model"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A kick through B reaches Alice's connection on A.
    let (status, _) = http_json(
        b.addr(),
        "POST",
        &format!("/api/admin/sessions/{}/kick", alice.session),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 202, "sent to the cluster");
    let closed = alice.expect_close().await.expect("a close with a reason");
    assert_eq!(closed.code, 1008);
    assert!(closed.reason.contains("kicked"), "{closed:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_admin_session_list_covers_every_node_and_names_one_that_is_silent() {
    let (schema, _prefix, a, b) = two_nodes().await;
    let mut alice = a.client(Codec::Postcard, "alice").await;
    alice.join("north").await;
    let mut bob = b.client(Codec::Postcard, "bob").await;
    bob.join("south").await;

    let a_addr = a.addr();
    let list = move |path: &'static str| async move {
        let (status, body) = http_json(a_addr, "GET", path, Some(ADMIN), None).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    // The directory a listing reads is published after each tick: wait for both spaces.
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    let body = loop {
        let body = list("/api/admin/sessions").await;
        let placed = body["sessions"]
            .as_array()
            .is_some_and(|all| all.iter().all(|s| s["space_name"].is_string()));
        if placed || tokio::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let sessions = body["sessions"].as_array().expect("a session list");
    let node_of = |session: uuid::Uuid| {
        sessions
            .iter()
            .find(|s| s["session"] == session.to_string())
            .map(|s| (s["node"].clone(), s["space_name"].clone()))
    };
    assert_eq!(
        node_of(alice.session),
        Some((json!(node_id(&a)), json!("north")))
    );
    assert_eq!(
        node_of(bob.session),
        Some((json!(node_id(&b)), json!("south"))),
        "B's session is listed through A: {body}"
    );
    assert_eq!(body["unreachable"], json!([]));
    let here = list("/api/admin/sessions?scope=node").await;
    assert_eq!(here["sessions"].as_array().map(Vec::len), Some(1), "{here}");
    let (status, _) = http_json(
        a.addr(),
        "GET",
        "/api/admin/sessions?scope=galaxy",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 400, "an unknown scope is refused");

    // A node that accepts connections and never answers costs one timeout, not the list.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let silent_url = format!("http://{}", silent.local_addr().expect("an address"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    sqlx::query(
        "INSERT INTO cluster_nodes (node_id, incarnation, version, http_url, started_at,
                                    heartbeat_at)
         VALUES ('silent:1', gen_random_uuid(), 'x', $1, now(), clock_timestamp())",
    )
    .bind(&silent_url)
    .execute(&schema.pool)
    .await
    .expect("a node row");
    let body = list("/api/admin/sessions").await;
    assert_eq!(
        body["sessions"].as_array().map(Vec::len),
        Some(2),
        "both live nodes' sessions, though one node is silent: {body}"
    );
    let unreachable = body["unreachable"].as_array().expect("a list");
    assert_eq!(unreachable.len(), 1, "{body}");
    assert_eq!(unreachable[0]["node"], "silent:1");
    assert!(
        unreachable[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no answer")),
        "{body}"
    );
    held.abort();
}

#[tokio::test]
async fn a_space_deleted_through_another_node_is_deleted_for_the_people_in_it() {
    let (_schema, _prefix, a, b) = two_nodes().await;
    // A login token is good on every node (a welcome's session token only on its own).
    let token = crate::support::register(a.addr(), "olga", "correct horse battery").await;
    let mut owner = Client::connect(a.addr(), Codec::Postcard).await;
    owner.say(&ClientMsg::hello_with_token(&token)).await;
    let (status, body) = http_json(
        a.addr(),
        "POST",
        "/api/spaces",
        Some(&token),
        Some(json!({"name": "doomed"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let space = body["id"].as_str().expect("an id").to_string();
    owner.join("doomed").await;

    // Deleted through B, while A simulates it: Olga hears that it was deleted.
    let (status, body) = http_json(
        b.addr(),
        "DELETE",
        &format!("/api/spaces/{space}"),
        Some(&token),
        None,
    )
    .await;
    assert!(status == 204 || status == 202, "{status} {body}");
    let message = owner.expect_error(plaza_net::ErrorCode::NotFound).await;
    assert!(message.contains("deleted"), "{message}");
    crate::support::eventually(crate::support::WAIT, "the space is gone", || async {
        let (status, _) =
            http_json(b.addr(), "GET", &format!("/api/spaces/{space}"), None, None).await;
        status == 404
    })
    .await;
}

#[tokio::test]
async fn a_node_over_its_load_sends_newcomers_to_unowned_spaces_elsewhere() {
    let schema = PgSchema::new().await;
    let prefix = prefix();
    let a = node(&schema, &prefix, |c| c.max_sessions_per_node = 1).await;
    let b = node(&schema, &prefix, |_| {}).await;
    let mut first = a.client(Codec::Postcard, "first").await;
    first.join("room-1").await;
    // The node counts its sessions about once a second.
    crate::support::eventually(crate::support::WAIT, "A counts its session", || async {
        a.server
            .edge()
            .telemetry
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    })
    .await;
    let mut second = a.client(Codec::Postcard, "second").await;
    second
        .send(&ClientMsg::Join {
            space: "room-2".into(),
            request: None,
        })
        .await;
    // The least loaded live node takes it.
    moved_to(&mut second, &node_id(&b)).await;
    // A space A already owns stays A's, whatever its load.
    let mut third = a.client(Codec::Postcard, "third").await;
    assert!(matches!(
        third.join("room-1").await,
        ServerMsg::Joined { .. }
    ));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn draining_a_node_moves_every_space_and_its_people() {
    let (schema, prefix, a, b) = two_nodes().await;
    let b_node = node_id(&b);
    let mut alice = a.client(Codec::Postcard, "alice").await;
    alice.join("east").await;
    let mut bob = a.client(Codec::Postcard, "bob").await;
    bob.join("west").await;

    // An admin drains A: both spaces go to B, and both people are sent there.
    let (status, report) = http_json(a.addr(), "POST", "/api/admin/drain", Some(ADMIN), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["moved"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(
        report["failed"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    for client in [&mut alice, &mut bob] {
        moved_to(client, &b_node).await;
    }
    let mut again = b
        .client_again(Codec::Postcard, "alice", &alice.guest_secret)
        .await;
    assert!(matches!(again.join("east").await, ServerMsg::Joined { .. }));
    crate::support::eventually(crate::support::WAIT, "A is listed as draining", || async {
        let (_, view) = http_json(b.addr(), "GET", "/api/cluster", None, None).await;
        let a_node = node_id(&a);
        view["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["node"] == a_node.as_str()).cloned())
            .is_some_and(|n| n["draining"] == true)
    })
    .await;

    // A draining node takes no new space: a join of one through it goes elsewhere.
    let mut carol = a.client(Codec::Postcard, "carol").await;
    carol
        .send(&ClientMsg::Join {
            space: "north".into(),
            request: None,
        })
        .await;
    moved_to(&mut carol, &b_node).await;

    // drain_on_shutdown: stopping a node hands its spaces over instead of dropping people.
    let c = node(&schema, &prefix, |c| c.drain_on_shutdown = true).await;
    let mut dave = c.client(Codec::Postcard, "dave").await;
    dave.join("south").await;
    let stopping = tokio::spawn(c.stop());
    moved_to(&mut dave, &b_node).await;
    stopping.await.expect("C stops");
    a.stop().await;
    b.stop().await;
}

/// Waits for `moved` and checks it names `to`.
pub(crate) async fn moved_to(client: &mut Client, to: &str) {
    let moved = client
        .recv_until(|m| matches!(m, ServerMsg::Moved { .. }).then(|| m.clone()))
        .await;
    assert!(
        matches!(&moved, ServerMsg::Moved { node, .. } if node == to),
        "expected moved to {to}: {moved:?}"
    );
}

/// The x position of `cube` in a `joined` snapshot.
fn x_in(joined: &ServerMsg, cube: uuid::Uuid) -> Option<f32> {
    match joined {
        ServerMsg::Joined { objects, .. } => objects
            .iter()
            .find(|o| o.id == cube)
            .map(|o| o.transform.pos[0]),
        _ => None,
    }
}

#[tokio::test]
async fn a_rolling_restart_of_every_node_loses_no_change_and_leaves_no_one_behind() {
    use crate::cluster_sessions::come_back;
    let schema = PgSchema::new().await;
    let prefix = prefix();
    let draining = |c: &mut Config| c.drain_on_shutdown = true;
    let a = node(&schema, &prefix, draining).await;
    let b = node(&schema, &prefix, draining).await;
    let b_node = node_id(&b);
    let mut alice = a.client(Codec::Postcard, "alice").await;
    alice.join("hall").await;
    let alices = alice.session;
    let hall_cube = alice.spawn(1, [1.0, 0.0, 0.0]).await;
    move_cube(&mut alice, hall_cube, 2.0).await;
    let mut bob = b.client(Codec::Postcard, "bob").await;
    bob.join("yard").await;
    let bobs = bob.session;
    let yard_cube = bob.spawn(1, [5.0, 0.0, 0.0]).await;

    // A restarts: its space goes to B with Alice, who follows with her session and finds
    // her last change.
    let stopping = tokio::spawn(a.stop());
    moved_to(&mut alice, &b_node).await;
    let (mut alice, _) = come_back(&b, &alice.resume, &alice.guest_secret, "alice").await;
    stopping.await.expect("A stops");
    assert_eq!(alice.session, alices, "B took Alice's session over from A");
    assert_eq!(x_in(&alice.join("hall").await, hall_cube), Some(2.0));
    move_cube(&mut alice, hall_cube, 3.0).await;
    let a2 = node(&schema, &prefix, draining).await;
    let a2_node = node_id(&a2);

    // Then B: both spaces and both people go to the restarted A, sessions and all.
    let stopping = tokio::spawn(b.stop());
    moved_to(&mut alice, &a2_node).await;
    moved_to(&mut bob, &a2_node).await;
    let (mut alice, _) = come_back(&a2, &alice.resume, &alice.guest_secret, "alice").await;
    let (mut bob, _) = come_back(&a2, &bob.resume, &bob.guest_secret, "bob").await;
    stopping.await.expect("B stops");
    assert_eq!(
        (alice.session, bob.session),
        (alices, bobs),
        "no session was dropped"
    );
    assert_eq!(x_in(&alice.join("hall").await, hall_cube), Some(3.0));
    assert_eq!(x_in(&bob.join("yard").await, yard_cube), Some(5.0));
    move_cube(&mut bob, yard_cube, 6.0).await;
    a2.stop().await;
    assert_eq!(stored(&schema, hall_cube).await.map(|s| s.0), Some(3.0));
    assert_eq!(stored(&schema, yard_cube).await.map(|s| s.0), Some(6.0));
    // Each session is one row, ended once (by the last node, when it stopped).
    for session in [alices, bobs] {
        let ended: Vec<bool> =
            sqlx::query_scalar("SELECT ended_at IS NOT NULL FROM sessions WHERE id = $1")
                .bind(session)
                .fetch_all(&schema.pool)
                .await
                .expect("reads sessions");
        assert_eq!(ended, vec![true], "{session}");
    }
}

#[test]
fn plaza_drain_asks_the_node_of_its_configuration_to_drain() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let schema = runtime.block_on(PgSchema::new());
    let prefix = prefix();
    let (a, b) = runtime.block_on(async {
        (
            node(&schema, &prefix, |_| {}).await,
            node(&schema, &prefix, |_| {}).await,
        )
    });
    let mut alice = runtime.block_on(a.client(Codec::Postcard, "alice"));
    runtime.block_on(alice.join("plaza"));
    let run = |token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_plaza"))
            .arg("drain")
            .env("PLAZA_LISTEN", a.addr().to_string())
            .env("PLAZA_ADMIN_TOKEN", token)
            .env("PLAZA_LOG", "warn")
            .output()
            .expect("plaza drain runs")
    };
    let refused = run("not-the-token-at-all-0123456789");
    assert!(!refused.status.success(), "a wrong token fails the command");
    let output = run(ADMIN);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(report["moved"][0]["to"], node_id(&b).as_str(), "{report}");
    runtime.block_on(async {
        alice
            .recv_until(|m| matches!(m, ServerMsg::Moved { .. }).then_some(()))
            .await;
        a.stop().await;
        b.stop().await;
    });
}
