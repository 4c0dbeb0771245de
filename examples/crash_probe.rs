//! The client side of `scripts/crash.sh`, which measures what a `kill -9` costs (RPO) and
//! how long a restart takes to serve a big space again (RTO).
//!
//! - `crash_probe write ADDR`: joins space `crash`, spawns one object and moves it to x = 1,
//!   2, 3, ... every 10 ms, until the connection dies. Prints the id of the object, then one
//!   line `ack SEQ UNIX_US` for each position the server acknowledged (sent back in a
//!   delta), when it arrived.
//! - `crash_probe join ADDR SPACE OBJECTS`: retries until the server answers, joins SPACE
//!   and waits until it has every one of OBJECTS objects (joined, then backfill deltas).
//!   Prints `connected UNIX_US`, `joined UNIX_US` and `complete UNIX_US`.
//!
//! Run through `scripts/crash.sh`; `cargo run --release --example crash_probe -- ...`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plaza_net::{Client, ClientMsg, Codec, Received, ServerMsg, WireTransform};

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

async fn hello(addr: SocketAddr, name: &str) -> Option<Client> {
    let mut client = Client::websocket(addr, Codec::Postcard).await.ok()?;
    client.send(&ClientMsg::hello(name)).await.ok()?;
    match client.next().await.ok()? {
        Received::Msg(ServerMsg::Welcome { .. }) => Some(client),
        _ => None,
    }
}

async fn write(addr: SocketAddr) {
    let name = format!("crash-{}", now_us());
    let mut client = hello(addr, &name).await.expect("the server answers hello");
    client
        .send(&ClientMsg::Join {
            space: "crash".into(),
            request: None,
        })
        .await
        .expect("joins");
    loop {
        match client.next().await {
            Ok(Received::Msg(ServerMsg::Joined { .. })) => break,
            Ok(Received::Msg(_)) => continue,
            other => panic!("no joined: {other:?}"),
        }
    }
    client
        .send(&ClientMsg::Spawn {
            client_ref: 1,
            model: "cube".into(),
            transform: WireTransform::at([0.0, 0.0, 0.0]),
            props: Default::default(),
        })
        .await
        .expect("spawns");
    let id = loop {
        match client.next().await {
            Ok(Received::Msg(ServerMsg::Spawned { id, .. })) => break id,
            Ok(Received::Msg(_)) => continue,
            other => panic!("no spawned: {other:?}"),
        }
    };
    println!("object {id}");
    let mut seq = 0_u32;
    let mut every = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = every.tick() => {
                seq += 1;
                let moved = ClientMsg::Move { id, transform: WireTransform::at([seq as f32, 0.0, 0.0]), request: None, };
                if client.send(&moved).await.is_err() {
                    return;
                }
            }
            received = client.next() => match received {
                Ok(Received::Msg(ServerMsg::Delta { objects, .. })) => {
                    let at = now_us();
                    for object in objects.iter().filter(|o| o.id == id) {
                        println!("ack {} {at}", object.transform.pos[0] as u32);
                    }
                }
                Ok(Received::Msg(_)) => {}
                _ => return,
            }
        }
    }
}

async fn join(addr: SocketAddr, space: &str, expected: usize) {
    let mut client = loop {
        if let Some(client) = hello(addr, &format!("rto-{}", now_us())).await {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!("connected {}", now_us());
    client
        .send(&ClientMsg::Join {
            space: space.into(),
            request: None,
        })
        .await
        .expect("joins");
    let mut seen = HashSet::new();
    loop {
        match client
            .next()
            .await
            .expect("the server keeps the connection")
        {
            Received::Msg(ServerMsg::Joined { objects, .. }) => {
                println!("joined {}", now_us());
                seen.extend(objects.into_iter().map(|o| o.id));
            }
            Received::Msg(ServerMsg::Delta { objects, .. }) => {
                seen.extend(objects.into_iter().map(|o| o.id));
            }
            Received::Msg(ServerMsg::Error { code, message, .. }) => {
                panic!("{code:?}: {message}")
            }
            Received::Msg(_) => {}
            Received::Closed(why) => panic!("closed: {why:?}"),
        }
        if seen.len() >= expected {
            println!("complete {}", now_us());
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .expect("usage: crash_probe write|join ADDR [SPACE OBJECTS]");
    match args[1].as_str() {
        "write" => write(addr).await,
        "join" => {
            let space = args.get(3).expect("a space name");
            let expected = args.get(4).and_then(|n| n.parse().ok()).expect("a count");
            join(addr, space, expected).await;
        }
        other => panic!("unknown mode {other}"),
    }
}
