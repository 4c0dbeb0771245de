//! Live hand-off between two nodes on the real PostgreSQL and Redis: a space of N objects
//! with C clients in it is moved from node A to node B (`POST /api/admin/spaces/{id}/move`);
//! every client follows `moved` to B over WebSocket, says hello again and joins. Measures
//! the pause each client sees (from `moved` to B's `joined`), when it has every object
//! again, and how long the space was out of service on A (unloaded until the lease passed
//! on).
//!
//! Then failover: node A is a real `plaza serve` process, killed with SIGKILL while a
//! client is in its space; the client joins through node B again and again until B has
//! claimed the space (the lease ran out): the time from the kill to B's `joined`.
//!
//! Run: `cargo bench --bench handoff` (1k, 10k and 100k objects; 100 clients, 20 at 100k
//! because each newcomer is sent the whole space; failover with leases of 2 s and 6 s).
//! Under `cargo test` it runs one small case of each. Both nodes, the clients and the
//! databases share this machine's cores. `HANDOFF_OBJECTS=N` runs only the case of N
//! objects; `HANDOFF_SLICE=N` sets `load_slice_objects` on both nodes. Clients follow with
//! their resume token, so B takes each session over from A (checked: the same session id);
//! `HANDOFF_SESSIONS=new` follows without it, each client starting a new session on B.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use plaza::config::{Secret, SecretUrl};
use plaza::store::{NewSpace, Store};
use plaza::{Config, Server};
use plaza_net::{Client, ClientMsg, Codec, MovedTo, Received, ServerMsg, Transport};
use plaza_systems::{ObjectRecord, ObjectState, Rows, Transform};
use sqlx::postgres::PgPool;
use uuid::Uuid;

const ADMIN: &str = "handoff-bench-admin-token";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A POST with the admin token; the status and body.
async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

async fn node(config: &Config) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..config.clone()
    };
    (Server::start(config).await.expect("a node starts"), dir)
}

/// Connects to `addr` over WebSocket, says `hello` and asks to join the hall.
async fn hello_and_join(addr: SocketAddr, hello: &ClientMsg) -> Client {
    let mut link = Client::websocket(addr, Codec::Postcard)
        .await
        .expect("connects");
    link.send(hello).await.expect("hello");
    let join = ClientMsg::Join {
        space: "hall".into(),
        request: None,
    };
    link.send(&join).await.expect("join");
    link
}

/// Waits for `joined` (or `moved`), reading everything before it.
async fn until_joined(client: &mut Client) -> Option<ServerMsg> {
    loop {
        match client.next().await {
            Ok(Received::Msg(msg @ ServerMsg::Joined { .. })) => return Some(msg),
            Ok(Received::Msg(msg @ ServerMsg::Moved { .. })) => return Some(msg),
            Ok(Received::Msg(_)) => {}
            _ => return None,
        }
    }
}

/// Waits for `welcome` and then `joined` (or `moved`): the session id, and that message.
async fn until_welcome_and_joined(client: &mut Client) -> (Uuid, Option<ServerMsg>) {
    loop {
        match client.next().await {
            Ok(Received::Msg(ServerMsg::Welcome { session, .. })) => {
                return (session, until_joined(client).await);
            }
            Ok(Received::Msg(_)) => {}
            other => panic!("expected welcome, got {other:?}"),
        }
    }
}

/// One client: joins through A, waits for `moved`, follows to B; the pause it saw (to
/// `joined`) and the time until it had all `objects`, ms.
async fn client(
    a: SocketAddr,
    n: usize,
    objects: usize,
    ready: tokio::sync::mpsc::Sender<()>,
) -> (f64, f64) {
    let mut link = hello_and_join(a, &ClientMsg::hello(format!("c{n}"))).await;
    let mut secret = None;
    let mut name = String::new();
    let (mut session, mut resume) = (Uuid::nil(), None);
    loop {
        match link.next().await.expect("reads") {
            Received::Msg(ServerMsg::Welcome {
                guest_secret,
                name: given,
                session: id,
                resume: token,
                ..
            }) => (secret, name, session, resume) = (guest_secret, given, id, token),
            Received::Msg(ServerMsg::Joined { .. }) => break,
            _ => {}
        }
    }
    ready.send(()).await.expect("the bench waits");
    let moved = loop {
        match link.next().await.expect("reads") {
            Received::Msg(msg @ ServerMsg::Moved { .. }) => break msg,
            Received::Msg(_) => {}
            Received::Closed(c) => panic!("closed before moved: {c:?}"),
        }
    };
    let started = Instant::now();
    let to = MovedTo::from_message(&moved)
        .await
        .expect("resolves")
        .expect("a move");
    let mut link = to
        .connect(Transport::WebSocket, Codec::Postcard)
        .await
        .expect("follows");
    let secret = secret.expect("a new guest gets a secret");
    let takeover = std::env::var("HANDOFF_SESSIONS").map_or(true, |v| v != "new");
    let hello = ClientMsg::hello_again(name, secret).resuming(resume.filter(|_| takeover));
    link.send(&hello).await.expect("hello");
    link.send(&ClientMsg::Join {
        space: to.space.clone(),
        request: None,
    })
    .await
    .expect("join");
    let (welcome, joined) = until_welcome_and_joined(&mut link).await;
    if takeover {
        assert_eq!(welcome, session, "B took the session over from A");
    }
    let mut have: std::collections::HashSet<Uuid> = match joined {
        Some(ServerMsg::Joined { objects, .. }) => objects.iter().map(|o| o.id).collect(),
        other => panic!("expected joined at B, got {other:?}"),
    };
    let pause = started.elapsed().as_secs_f64() * 1000.0;
    // The objects not in `joined` follow in deltas, as they enter B's world.
    while have.len() < objects {
        match link.next().await.expect("reads") {
            Received::Msg(ServerMsg::Delta { objects, .. }) => {
                have.extend(objects.iter().map(|o| o.id));
            }
            Received::Msg(_) => {}
            Received::Closed(c) => panic!("closed before every object arrived: {c:?}"),
        }
    }
    (pause, started.elapsed().as_secs_f64() * 1000.0)
}

/// A fresh schema, and a node configuration on it.
async fn cluster_config(database: &str, redis: &str) -> (PgPool, String, Config) {
    let schema = format!("handoff_{}", Uuid::new_v4().simple());
    let admin = PgPool::connect(database).await.expect("PostgreSQL answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("schema");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        quic_enabled: false,
        webtransport_enabled: false,
        database_url: Some(SecretUrl::new(format!(
            "{database}?options[search_path]={schema}"
        ))),
        redis_url: Some(SecretUrl::new(redis.to_string())),
        redis_prefix: format!("handoff:{}:", Uuid::new_v4().simple()),
        admin_token: Some(Secret::new(ADMIN.to_string())),
        // HANDOFF_SLICE: objects a loading space brings into the world per tick (the
        // space is joinable with the first slice; the rest reach its people as they enter).
        load_slice_objects: std::env::var("HANDOFF_SLICE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::default().load_slice_objects),
        max_connections: 10_000,
        max_connections_per_addr: 10_000,
        connections_per_addr: plaza::config::Rate {
            per_sec: 10_000.0,
            burst: 10_000,
        },
        ..Config::default()
    };
    (admin, schema, config)
}

async fn case(database: &str, redis: &str, objects: usize, clients: usize) {
    let (admin, schema, config) = cluster_config(database, redis).await;
    // The space and its objects, straight into the store.
    let store = Store::open(&config).await.expect("stores open");
    let owner = store
        .durable
        .ensure_user(Uuid::new_v4(), "builder", 0)
        .await
        .expect("a user");
    let space = store
        .durable
        .ensure_space(&NewSpace::public("hall", 0))
        .await
        .expect("a space")
        .0
        .id;
    for chunk in (0..objects).collect::<Vec<_>>().chunks(10_000) {
        let rows = Rows {
            objects: chunk
                .iter()
                .map(|&n| ObjectRecord {
                    space,
                    state: ObjectState {
                        id: Uuid::new_v4(),
                        index: 0,
                        model: Arc::from("cube"),
                        transform: Transform::from_translation(glam::Vec3::new(
                            (n % 300) as f32,
                            0.0,
                            (n / 300) as f32,
                        )),
                        props: Arc::from("{}"),
                        owner,
                        version: 1,
                    },
                })
                .collect(),
            ..Rows::default()
        };
        store
            .durable
            .write(&rows, 10_000, 0, None)
            .await
            .expect("objects");
    }
    store.close().await;

    let (a, _a_dir) = node(&config).await;
    let (b, _b_dir) = node(&config).await;
    let b_node = b
        .edge()
        .cluster
        .as_ref()
        .expect("clustered")
        .node
        .to_string();
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(clients);
    let tasks: Vec<_> = (0..clients)
        .map(|n| tokio::spawn(client(a.local_addr(), n, objects, ready_tx.clone())))
        .collect();
    for _ in 0..clients {
        ready.recv().await.expect("every client joins");
    }
    let requested = Instant::now();
    let (status, answer) = post(
        a.local_addr(),
        &format!("/api/admin/spaces/{space}/move"),
        &format!(r#"{{"to":"{b_node}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "the move succeeds: {answer}");
    let mut pauses = Vec::with_capacity(clients);
    let mut completes = Vec::with_capacity(clients);
    for task in tasks {
        let (pause, complete) = task.await.expect("a client ends");
        pauses.push(pause);
        completes.push(complete);
    }
    let everyone = requested.elapsed();
    pauses.sort_by(f64::total_cmp);
    completes.sort_by(f64::total_cmp);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    println!(
        "{objects:>6} objects, {clients:>3} clients: pause moved -> joined p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; every object p50 {:.0} ms, p99 {:.0} ms; out of service on A {} ms; all back {} ms after the request",
        percentile(&pauses, 0.5),
        percentile(&pauses, 0.99),
        pauses[pauses.len() - 1],
        percentile(&completes, 0.5),
        percentile(&completes, 0.99),
        answer["out_of_service_ms"],
        everyone.as_millis()
    );
    a.shutdown().await.expect("A stops");
    b.shutdown().await.expect("B stops");
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await;
}

/// Joins `space` through `b` until it works; the joined message.
async fn join_until_claimed(b: SocketAddr, name: &str, secret: &str) -> ServerMsg {
    loop {
        let mut link = hello_and_join(b, &ClientMsg::hello_again(name, secret)).await;
        loop {
            match link.next().await {
                Ok(Received::Msg(msg @ ServerMsg::Joined { .. })) => return msg,
                // Still owned by the dead node (its lease runs), or not yet claimable.
                Ok(Received::Msg(ServerMsg::Moved { .. } | ServerMsg::Error { .. })) => break,
                Ok(Received::Msg(_)) => {}
                _ => break,
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Failover from a killed node: the time from SIGKILL to the space joined through B.
async fn failover(database: &str, redis: &str, lease_ms: u64) {
    let (admin, schema, mut config) = cluster_config(database, redis).await;
    config.lease_ms = lease_ms;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db_url = format!("{database}?options[search_path]={schema}");
    let mut a = std::process::Command::new(env!("CARGO_BIN_EXE_plaza"))
        .arg("serve")
        .env("PLAZA_LISTEN", "127.0.0.1:0")
        .env("PLAZA_QUIC_ENABLED", "false")
        .env("PLAZA_WEBTRANSPORT_ENABLED", "false")
        .env("PLAZA_DATA_DIR", dir.path())
        .env("PLAZA_DATABASE_URL", &db_url)
        .env("PLAZA_REDIS_URL", redis)
        .env("PLAZA_REDIS_PREFIX", &config.redis_prefix)
        .env("PLAZA_LEASE_MS", lease_ms.to_string())
        .env("PLAZA_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("plaza starts");
    let stderr = a.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    let a_addr: SocketAddr = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("A logs its address")
        .parse()
        .expect("an address");
    let (b, _b_dir) = node(&config).await;
    let mut link = hello_and_join(a_addr, &ClientMsg::hello("survivor")).await;
    let mut secret = None;
    loop {
        match link.next().await.expect("reads") {
            Received::Msg(ServerMsg::Welcome { guest_secret, .. }) => secret = guest_secret,
            Received::Msg(ServerMsg::Joined { .. }) => break,
            _ => {}
        }
    }
    // Let a heartbeat or two pass, as in a running cluster.
    tokio::time::sleep(std::time::Duration::from_millis(lease_ms / 2)).await;
    let killed = Instant::now();
    a.kill().expect("SIGKILL");
    let _ = a.wait();
    let secret = secret.expect("a new guest's secret");
    join_until_claimed(b.local_addr(), "survivor", &secret).await;
    let took = killed.elapsed();
    println!(
        "failover, lease {lease_ms} ms: SIGKILL to joined on B {} ms (goal: at most lease + 1 s)",
        took.as_millis()
    );
    b.shutdown().await.expect("B stops");
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await;
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let database = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let cases: &[(usize, usize)] = if bench {
        &[(1_000, 100), (10_000, 100), (100_000, 20)]
    } else {
        &[(200, 5)]
    };
    // HANDOFF_OBJECTS: run only the case of that many objects (and no failover).
    let only: Option<usize> = std::env::var("HANDOFF_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok());
    for &(objects, clients) in cases {
        if only.is_none_or(|n| n == objects) {
            runtime.block_on(case(&database, &redis, objects, clients));
        }
    }
    if only.is_some() {
        return;
    }
    let leases: &[u64] = if bench { &[2_000, 6_000] } else { &[900] };
    for &lease in leases {
        runtime.block_on(failover(&database, &redis, lease));
    }
}
