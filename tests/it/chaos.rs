//! Chaos: three real nodes on one PostgreSQL and Redis; clients each move their own cube in
//! their own space, as fast as the server acknowledges, while nodes are killed with SIGKILL
//! and restarted at random. Whenever a client is back in its space after losing its node,
//! the cube must hold every change acknowledged earlier than one flush interval (plus the
//! flush's own time) before the loss, and nothing that was never made; after a graceful
//! stop the store holds every change acknowledged since the last loss.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plaza_net::{Client, ClientMsg, Codec, MovedTo, Received, ServerMsg, Transport, WireTransform};
use sqlx::Row;

use crate::services::{PgSchema, redis_url};

const NODES: usize = 3;
const CLIENTS: usize = 6;
const FLUSH_MS: u64 = 50;
/// How long a change may take from its acknowledgement to the store: the flush interval,
/// the flush itself and a tick, on a loaded two-core machine.
const DURABLE_WITHIN: Duration = Duration::from_millis(FLUSH_MS + 400);
const CHAOS_FOR: Duration = Duration::from_secs(20);

/// A node slot: its process (if running) and address.
struct Slot {
    child: Option<std::process::Child>,
    addr: Option<SocketAddr>,
}

fn start(
    slot: usize,
    schema: &PgSchema,
    prefix: &str,
    dir: &std::path::Path,
) -> (std::process::Child, SocketAddr) {
    let envs = [
        ("PLAZA_LISTEN", "127.0.0.1:0".to_string()),
        ("PLAZA_QUIC_ENABLED", "false".to_string()),
        ("PLAZA_WEBTRANSPORT_ENABLED", "false".to_string()),
        (
            "PLAZA_DATA_DIR",
            dir.join(format!("n{slot}")).display().to_string(),
        ),
        ("PLAZA_DATABASE_URL", schema.url()),
        ("PLAZA_REDIS_URL", redis_url()),
        ("PLAZA_REDIS_PREFIX", prefix.to_string()),
        ("PLAZA_NODE_ID", format!("chaos-{slot}")),
        ("PLAZA_LEASE_MS", "900".to_string()),
        ("PLAZA_FLUSH_INTERVAL_MS", FLUSH_MS.to_string()),
        ("PLAZA_RESUME_GRACE_SECS", "0".to_string()),
    ];
    let (child, addr) = crate::restart::start_binary(&envs);
    (child, addr.parse().expect("an address"))
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Acknowledged versions of its cube since it last (re)joined, with when.
    acks: Vec<(u64, Instant)>,
    /// Rejoins after losing its node that were checked.
    checked: u32,
    /// Violations, in words.
    broken: Vec<String>,
}

/// One client: keeps its cube moving through whichever node owns its space.
async fn client(
    n: usize,
    nodes: Arc<Mutex<Vec<Option<SocketAddr>>>>,
    seen: Arc<Mutex<Seen>>,
    until: Instant,
) -> Option<uuid::Uuid> {
    let name = format!("chaos-client-{n}");
    let space = format!("chaos-{n}");
    let mut secret: Option<String> = None;
    let mut cube: Option<uuid::Uuid> = None;
    let mut lost_at: Option<Instant> = None;
    let mut pick = n;
    let mut follow: Option<MovedTo> = None;
    while Instant::now() < until {
        let link = match follow.take() {
            Some(to) => to.connect(Transport::WebSocket, Codec::Postcard).await,
            None => {
                pick += 1;
                let addr = nodes.lock().expect("not poisoned")[pick % NODES];
                let Some(addr) = addr else { continue };
                Client::websocket(addr, Codec::Postcard).await
            }
        };
        let Ok(mut link) = link else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let hello = match &secret {
            Some(secret) => ClientMsg::hello_again(name.clone(), secret.clone()),
            None => ClientMsg::hello(name.clone()),
        };
        let join = ClientMsg::Join {
            space: space.clone(),
            request: None,
        };
        if link.send(&hello).await.is_err() || link.send(&join).await.is_err() {
            continue;
        }
        let mut x = 0.0_f32;
        let mut waiting_for: Option<u64> = None;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(3), link.next()).await;
            let msg = match next {
                Ok(Ok(Received::Msg(msg))) => msg,
                // The node died (or hung): what was acknowledged before must survive.
                _ => {
                    lost_at.get_or_insert_with(Instant::now);
                    break;
                }
            };
            match msg {
                ServerMsg::Welcome {
                    guest_secret: Some(given),
                    ..
                } => secret = Some(given),
                ServerMsg::Moved { .. } => {
                    follow = MovedTo::from_message(&msg).await.ok().flatten();
                    break;
                }
                ServerMsg::Error { .. } if waiting_for.is_none() => {
                    // Not placeable yet (the owner's lease runs): try again shortly.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    break;
                }
                ServerMsg::Joined { objects, .. } => {
                    let found = cube.and_then(|id| objects.iter().find(|o| o.id == id));
                    let version = found.map_or(0, |o| o.version);
                    x = found.map_or(0.0, |o| o.transform.pos[0]);
                    {
                        let mut seen = seen.lock().expect("not poisoned");
                        if let Some(lost) = lost_at.take() {
                            let needed = seen
                                .acks
                                .iter()
                                .filter(|(_, at)| *at + DURABLE_WITHIN < lost)
                                .map(|(v, _)| *v)
                                .max()
                                .unwrap_or(0);
                            let made = seen.acks.iter().map(|(v, _)| *v).max().unwrap_or(0);
                            seen.checked += 1;
                            if version < needed {
                                seen.broken.push(format!(
                                "client {n}: back at version {version}, but {needed} was acknowledged more than {DURABLE_WITHIN:?} before the loss"
                            ));
                            }
                            if version > made + 1 {
                                seen.broken.push(format!(
                                "client {n}: back at version {version}, beyond anything made ({made})"
                            ));
                            }
                        }
                        seen.acks.clear();
                    }
                    if found.is_none() {
                        let spawn = ClientMsg::Spawn {
                            client_ref: 1,
                            model: "cube".into(),
                            transform: WireTransform::IDENTITY,
                            props: Default::default(),
                        };
                        if link.send(&spawn).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    waiting_for = Some(version);
                }
                ServerMsg::Spawned { id, .. } => {
                    cube = Some(id);
                    seen.lock()
                        .expect("not poisoned")
                        .acks
                        .push((1, Instant::now()));
                    waiting_for = Some(1);
                }
                ServerMsg::Delta { objects, .. } => {
                    let Some(id) = cube else { continue };
                    if let Some(o) = objects.iter().find(|o| o.id == id) {
                        seen.lock()
                            .expect("not poisoned")
                            .acks
                            .push((o.version, Instant::now()));
                        waiting_for = Some(o.version);
                    }
                }
                _ => {}
            }
            // Keep exactly one move in flight: the next goes once the last is acknowledged.
            if let (Some(_), Some(id)) = (waiting_for.take(), cube) {
                if Instant::now() >= until {
                    return cube;
                }
                x += 1.0;
                let step = ClientMsg::Move {
                    id,
                    transform: WireTransform::at([x, 0.0, 0.0]),
                    request: None,
                };
                if link.send(&step).await.is_err() {
                    lost_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
    }
    cube
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_killed_at_random_lose_nothing_acknowledged_before_one_flush_interval() {
    let schema = PgSchema::new().await;
    let prefix = format!("chaos:{}:", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut slots: Vec<Slot> = (0..NODES)
        .map(|slot| {
            let (child, addr) = start(slot, &schema, &prefix, dir.path());
            Slot {
                child: Some(child),
                addr: Some(addr),
            }
        })
        .collect();
    let nodes = Arc::new(Mutex::new(slots.iter().map(|s| s.addr).collect::<Vec<_>>()));
    let until = Instant::now() + CHAOS_FOR;
    let seen: Vec<Arc<Mutex<Seen>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(client(n, nodes.clone(), seen[n].clone(), until)))
        .collect();

    // Kill one node at a time, at random, and bring it back a moment later.
    let mut kills = 0;
    let mut rng = uuid::Uuid::new_v4().as_u128();
    while Instant::now() + Duration::from_secs(3) < until {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let victim = (rng >> 64) as usize % NODES;
        tokio::time::sleep(Duration::from_millis(1200 + (rng as u64 % 1000))).await;
        nodes.lock().expect("not poisoned")[victim] = None;
        if let Some(mut child) = slots[victim].child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
            kills += 1;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (child, addr) = start(victim, &schema, &prefix, dir.path());
        slots[victim] = Slot {
            child: Some(child),
            addr: Some(addr),
        };
        nodes.lock().expect("not poisoned")[victim] = Some(addr);
    }
    let mut cubes = Vec::new();
    for task in clients {
        cubes.push(task.await.expect("a client ends"));
    }
    // A graceful stop of every node writes everything.
    for slot in &mut slots {
        if let Some(mut child) = slot.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let exit = tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("joins")
                .expect("waits");
            assert!(exit.success(), "a node stops cleanly: {exit:?}");
        }
    }
    let mut checked = 0;
    for (n, cube) in cubes.iter().enumerate() {
        let last = {
            let seen = seen[n].lock().expect("not poisoned");
            assert!(seen.broken.is_empty(), "{:?}", seen.broken);
            checked += seen.checked;
            seen.acks.iter().map(|(v, _)| *v).max().unwrap_or(0)
        };
        let Some(cube) = cube else { continue };
        let stored: Option<i64> = sqlx::query("SELECT version FROM world_objects WHERE id = $1")
            .bind(cube)
            .fetch_optional(&schema.pool)
            .await
            .expect("reads")
            .map(|row| row.get("version"));
        assert!(
            stored.unwrap_or(0) as u64 >= last,
            "client {n}: stored version {stored:?} is behind the last acknowledged {last}"
        );
    }
    assert!(kills >= 4, "the run killed nodes: {kills}");
    assert!(
        checked >= 2,
        "clients came back after losing their node and were checked: {checked}"
    );
    println!("chaos: {kills} kills, {checked} rejoins checked, every acknowledged change kept");
}
