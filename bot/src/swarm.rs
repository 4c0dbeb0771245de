//! The bots: each one connects with the real client, says hello, joins its space and then
//! walks, builds and chats on timers while reading everything the server sends, recording
//! what it sees.
//!
//! Update latency: a bot puts its send time into what it changes (the `y` scale of every
//! `--stamp-every`th pose and of the objects it moves, and the text of its chat lines), in
//! 0.1 ms units of the wall clock modulo 2^24 (28 minutes) so it stays exact in an `f32`;
//! a bot that receives the change subtracts it from its own clock, once per stamp, at its
//! first arrival. Bots run on the same machine, so their clocks agree. Only some poses
//! carry a stamp because a stamp costs a pose 12 bytes in compact motion, which would
//! dwarf what a walk costs.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use plaza_net::{Client, ClientMsg, Codec, MovedTo, Props, Received, ServerMsg, WireTransform};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use crate::args::{Behaviour, BotArgs, Transport};
use crate::stats::{Phase, Recorder};

/// Where the server listens, as found from its `/cert-hash`.
#[derive(Debug, Clone)]
pub struct Target {
    /// HTTP and WebSocket.
    pub http: SocketAddr,
    /// QUIC, if enabled.
    pub quic: Option<SocketAddr>,
    /// WebTransport, if enabled.
    pub wt: Option<SocketAddr>,
    /// SHA-256 of the certificate QUIC and WebTransport present.
    pub cert_sha256: [u8; 32],
}

/// What every bot shares.
pub struct Plan {
    /// The command line.
    pub args: BotArgs,
    /// The server.
    pub target: Target,
    /// Distinguishes this run's bot names from other runs'.
    pub run_id: String,
    /// When the run started; ping times count from here.
    pub epoch: Instant,
    /// Whether samples count now.
    pub phase: Phase,
    /// QUIC endpoints, each shared by `--bots-per-endpoint` bots.
    pub quic_endpoints: Vec<plaza_net::QuicEndpoint>,
    /// WebTransport endpoints, each shared likewise.
    pub wt_endpoints: Vec<plaza_net::WebTransportEndpoint>,
}

impl Plan {
    /// Endpoints for `args`'s bots on `target`.
    pub fn endpoints(
        args: &BotArgs,
        target: &Target,
    ) -> anyhow::Result<(
        Vec<plaza_net::QuicEndpoint>,
        Vec<plaza_net::WebTransportEndpoint>,
    )> {
        let bots_on = |t: Transport| {
            let n = args.transport.len();
            (0..args.bots)
                .filter(|i| args.transport[i % n] == t)
                .count()
        };
        let pools = |t: Transport| bots_on(t).div_ceil(args.bots_per_endpoint.max(1));
        let quic = (0..pools(Transport::Quic))
            .map(|_| Client::quic_endpoint(target.http.is_ipv6()))
            .collect::<Result<_, _>>()?;
        let wt = (0..pools(Transport::Wt))
            .map(|_| Client::webtransport_endpoint(target.cert_sha256))
            .collect::<Result<_, _>>()?;
        Ok((quic, wt))
    }
}

const STAMP_WRAP: u64 = 1 << 24;

fn now_stamp_units() -> u64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    (micros / 100) % STAMP_WRAP
}

/// The current time as a stamp that fits exactly in an `f32`, never below 2 (so that an
/// ordinary scale of 0 or 1 is no stamp).
pub fn stamp() -> f32 {
    now_stamp_units().max(2) as f32
}

/// Milliseconds since `stamp` by this machine's clock; `None` for something not stamped.
pub fn age_ms(stamp: f32) -> Option<f64> {
    if !(stamp.is_finite() && stamp >= 2.0 && stamp < STAMP_WRAP as f32 && stamp.fract() == 0.0) {
        return None;
    }
    let age = (now_stamp_units() + STAMP_WRAP - stamp as u64) % STAMP_WRAP;
    Some(age as f64 / 10.0)
}

/// A small, fast, seedable random stream (xorshift), so that bots spread out the same way
/// on every run.
struct Rng(u64);

impl Rng {
    /// A stream for `seed`, mixed (SplitMix64) so that small, close seeds give unrelated
    /// streams: raw xorshift from seed 17 starts with outputs near zero.
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A bot's walk inside the area: straight ahead, turning a little now and then, bouncing
/// off the edges.
struct Walk {
    pos: [f32; 2],
    heading: f32,
    rng: Rng,
}

impl Walk {
    fn new(seed: u64, area: f32) -> Self {
        let mut rng = Rng::new(seed);
        let half = area / 2.0;
        let pos = [rng.next_f32() * area - half, rng.next_f32() * area - half];
        let heading = rng.next_f32() * std::f32::consts::TAU;
        Self { pos, heading, rng }
    }

    fn step(&mut self, distance: f32, area: f32) {
        if self.rng.next_f32() < 0.05 {
            self.heading += (self.rng.next_f32() - 0.5) * 2.0;
        }
        let half = area / 2.0;
        for (axis, delta) in [(0, self.heading.cos()), (1, self.heading.sin())] {
            let next = self.pos[axis] + delta * distance;
            if next.abs() > half {
                // Turn back into the area.
                self.heading += std::f32::consts::PI;
            } else {
                self.pos[axis] = next;
            }
        }
    }

    fn transform(&self, stamp: f32) -> WireTransform {
        let half = self.heading / 2.0;
        WireTransform {
            pos: [self.pos[0], 0.0, self.pos[1]],
            rot: [0.0, half.sin(), 0.0, half.cos()],
            scale: [1.0, stamp, 1.0],
        }
    }
}

fn ticker(hz: f64, offset_fraction: f32) -> Option<tokio::time::Interval> {
    if hz <= 0.0 {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / hz);
    let start = tokio::time::Instant::now() + period.mul_f32(offset_fraction);
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    Some(interval)
}

async fn tick_of(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Connects bot `i` and runs it until `stop` turns true or the server ends it.
pub async fn bot(i: usize, plan: Arc<Plan>, rec: Arc<Recorder>, mut stop: watch::Receiver<bool>) {
    let Some((mut client, me, mut hello)) = join(i, &plan, &rec).await else {
        return;
    };
    let args = &plan.args;
    let mut timers = Timers::new(i, args);
    let mut walk = Walk::new(i as u64 + 1, args.area);
    let step = if args.walk_hz > 0.0 {
        args.speed / args.walk_hz as f32
    } else {
        0.0
    };
    let mut seen = Seen {
        me,
        ..Seen::default()
    };
    let mut building = Building::default();
    let mut window: Option<(Instant, u64, u64)> = None;
    let mut latencies = Vec::new();
    let mut poses = u64::from(i as u32 % args.stamp_every.max(1));

    // What `client` had received when the last message was counted.
    let mut counted_bytes = client.received_bytes();
    loop {
        if window.is_none() && plan.phase.measuring() {
            window = Some((Instant::now(), client.received_bytes(), seen.deltas));
        }
        let sent = tokio::select! {
            _ = stop.changed() => break,
            received = client.next() => {
                let arrived = client.received_bytes().saturating_sub(counted_bytes);
                counted_bytes = client.received_bytes();
                let ended = match received {
                    Ok(Received::Msg(msg)) => Ok(msg),
                    Ok(Received::Closed(closed)) => Err(closed_reason(closed)),
                    Err(e) => Err(e.to_string()),
                };
                let msg = match ended {
                    Ok(msg) => msg,
                    Err(why) => {
                        if !*stop.borrow() {
                            rec.disconnected(&why);
                        }
                        break;
                    }
                };
                if matches!(msg, ServerMsg::Moved { .. }) {
                    // The space went to another node (a hand-off): follow it there.
                    let _ = client.finish().await;
                    match follow(&msg, &plan, &rec, hello.clone()).await {
                        Ok((moved, again)) => (client, hello) = (moved, again),
                        Err(e) => {
                            rec.disconnected(&format!("could not follow moved: {e:#}"));
                            break;
                        }
                    }
                    counted_bytes = client.received_bytes();
                    continue;
                }
                building.saw(&msg, &mut seen);
                latencies.clear();
                seen.read(&msg, &rec, &plan, &mut latencies);
                if plan.phase.measuring() {
                    rec.latencies(&latencies);
                    rec.messages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rec.poses.fetch_add(poses_in(&msg), std::sync::atomic::Ordering::Relaxed);
                    rec.bytes.fetch_add(arrived, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(())
            }
            () = tick_of(&mut timers.walking) => {
                walk.step(step, args.area);
                poses += 1;
                let stamped = poses % u64::from(args.stamp_every.max(1)) == 0;
                let transform = walk.transform(if stamped { stamp() } else { 1.0 });
                client.send(&ClientMsg::Pose { transform }).await
            }
            () = tick_of(&mut timers.building) => match building.next(&walk) {
                Some(msg) => client.send(&msg).await,
                None => Ok(()),
            },
            () = tick_of(&mut timers.chatting) => {
                client.send(&ClientMsg::Chat { text: format!("bot {}", stamp()), request: None, }).await
            }
            () = tick_of(&mut timers.pinging) => {
                let t = plan.epoch.elapsed().as_secs_f64() * 1000.0;
                client.send(&ClientMsg::Ping { t }).await
            }
        };
        if let Err(e) = sent {
            if !*stop.borrow() {
                rec.disconnected(&format!("send failed: {e}"));
            }
            break;
        }
    }
    if let Some((from, bytes, deltas)) = window {
        let secs = from.elapsed().as_secs_f64().max(0.001);
        rec.bot_traffic(
            client.received_bytes().saturating_sub(bytes) as f64 / secs,
            seen.deltas.saturating_sub(deltas) as f64 / secs,
        );
    }
    let _ = client.finish().await;
}

/// Connects and joins within the connect timeout, recording how it went; `None` if it
/// failed (recorded with its reason).
async fn join(i: usize, plan: &Plan, rec: &Recorder) -> Option<(Client, Uuid, ClientMsg)> {
    rec.attempted
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let joined = tokio::time::timeout(
        plan.args.connect_timeout,
        connect_and_join(i, plan, rec.transport),
    )
    .await;
    match joined {
        Ok(Ok(joined)) => {
            rec.connected(started.elapsed().as_secs_f64() * 1000.0);
            Some(joined)
        }
        Ok(Err(e)) => {
            let why = format!("{e:#}");
            rec.failed(&why.chars().take(120).collect::<String>());
            None
        }
        Err(_) => {
            rec.failed("timed out connecting and joining");
            None
        }
    }
}

/// How the server closed a connection, for the report.
fn closed_reason(closed: Option<plaza_net::Closed>) -> String {
    closed.map_or("connection ended without a reason".to_string(), |c| {
        format!("{}: {}", c.code, c.reason)
    })
}

/// A bot's timers, one per behaviour it has (and pings). Each starts at a random point of
/// its period. Without that, every bot starts right after `joined`, which comes at the end
/// of a tick: with periods that are multiples of the tick, all of them would stay locked
/// just after the tick and every update would wait a whole tick (measured: p50 49 ms
/// instead of 25 at 20 Hz).
struct Timers {
    walking: Option<tokio::time::Interval>,
    building: Option<tokio::time::Interval>,
    chatting: Option<tokio::time::Interval>,
    pinging: Option<tokio::time::Interval>,
}

impl Timers {
    fn new(i: usize, args: &BotArgs) -> Self {
        let mut rng = Rng::new(i as u64 ^ 0x5EED);
        let does = |b: Behaviour| args.behaviour.contains(&b);
        let mut timer = |on: bool, hz: f64| on.then(|| ticker(hz, rng.next_f32())).flatten();
        Self {
            walking: timer(does(Behaviour::Walk), args.walk_hz),
            building: timer(does(Behaviour::Build), args.build_hz),
            chatting: timer(does(Behaviour::Chat), args.chat_hz),
            pinging: timer(true, args.ping_hz),
        }
    }
}

/// A builder's one object at a time: spawned, moved ten times, removed, again.
#[derive(Default)]
struct Building {
    /// The object and how often it was moved.
    object: Option<(Uuid, u32)>,
    /// A spawn was sent and its `spawned` has not come yet.
    spawning: bool,
    next_ref: u32,
}

impl Building {
    /// Takes note of the object a `spawned` reports.
    fn saw(&mut self, msg: &ServerMsg, seen: &mut Seen) {
        if let ServerMsg::Spawned { id, .. } = msg {
            self.object = Some((*id, 0));
            self.spawning = false;
            seen.mine.insert(*id);
        }
    }

    /// The next building message, if any (none while a spawn is on its way).
    fn next(&mut self, walk: &Walk) -> Option<ClientMsg> {
        match self.object {
            None if self.spawning => None,
            None => {
                self.spawning = true;
                self.next_ref += 1;
                Some(ClientMsg::Spawn {
                    client_ref: self.next_ref,
                    model: "cube".into(),
                    transform: walk.transform(stamp()),
                    props: Props::default(),
                })
            }
            Some((id, moves)) if moves < 10 => {
                self.object = Some((id, moves + 1));
                let mut transform = walk.transform(stamp());
                transform.pos[1] = 1.0;
                Some(ClientMsg::Move {
                    id,
                    transform,
                    request: None,
                })
            }
            Some((id, _)) => {
                self.object = None;
                Some(ClientMsg::Despawn { id, request: None })
            }
        }
    }
}

/// How many avatar poses `msg` carries.
fn poses_in(msg: &ServerMsg) -> u64 {
    match msg {
        ServerMsg::Delta { avatars, .. } | ServerMsg::Motion { avatars, .. } => {
            avatars.entries().len() as u64
        }
        _ => 0,
    }
}

/// The newest stamp counted per sender, so that each stamped change is counted once, at
/// its first arrival: a datagram client gets a change again, reliably, when it settles
/// (with its old stamp), and datagrams can come twice or out of order.
#[derive(Default)]
struct FirstArrivals {
    newest: HashMap<Uuid, u64>,
}

impl FirstArrivals {
    /// The age of `stamp` from `sender` if it is newer than every stamp counted from them.
    fn age(&mut self, sender: Uuid, stamp: f32) -> Option<f64> {
        let age = age_ms(stamp)?;
        let units = stamp as u64;
        if let Some(&seen) = self.newest.get(&sender) {
            // Stamps wrap: newer means less than half the wrap ahead.
            let ahead = (units + STAMP_WRAP - seen) % STAMP_WRAP;
            if ahead == 0 || ahead >= STAMP_WRAP / 2 {
                return None;
            }
        }
        self.newest.insert(sender, units);
        Some(age)
    }
}

/// What a bot keeps to tell changes from appearances and its own changes from others'.
#[derive(Default)]
struct Seen {
    me: Uuid,
    known_objects: HashSet<Uuid>,
    mine: HashSet<Uuid>,
    deltas: u64,
    arrivals: FirstArrivals,
}

impl Seen {
    /// Pushes the latency of every stamped change `msg` brings for the first time.
    fn updates(&mut self, msg: &ServerMsg, latencies: &mut Vec<f64>) {
        match msg {
            ServerMsg::Delta {
                objects,
                removed,
                avatars,
                hidden,
                ..
            } => {
                self.deltas += 1;
                for a in avatars.entries().iter().filter(|a| a.user != self.me) {
                    latencies.extend(self.arrivals.age(a.user, a.transform.transform().scale[1]));
                }
                for o in objects {
                    // Only a change to an object already shown is an update; one coming
                    // into view carries the time of its last change.
                    if !self.known_objects.insert(o.id) && !self.mine.contains(&o.id) {
                        latencies.extend(self.arrivals.age(o.id, o.transform.scale[1]));
                    }
                }
                for id in removed.iter().chain(hidden) {
                    self.known_objects.remove(id);
                    self.mine.remove(id);
                }
            }
            ServerMsg::Motion {
                avatars, objects, ..
            } => {
                self.deltas += 1;
                for a in avatars.entries().iter().filter(|a| a.user != self.me) {
                    latencies.extend(self.arrivals.age(a.user, a.transform.transform().scale[1]));
                }
                for o in objects
                    .entries()
                    .iter()
                    .filter(|o| !self.mine.contains(&o.id))
                {
                    latencies.extend(self.arrivals.age(o.id, o.transform.transform().scale[1]));
                }
            }
            ServerMsg::Joined { objects, .. } => {
                self.known_objects = objects.iter().map(|o| o.id).collect();
            }
            _ => {}
        }
    }

    /// Records what `msg` says; pushes the update latencies it carries to `latencies`.
    fn read(&mut self, msg: &ServerMsg, rec: &Recorder, plan: &Plan, latencies: &mut Vec<f64>) {
        self.updates(msg, latencies);
        match msg {
            ServerMsg::Pong { t, .. } if plan.phase.measuring() => {
                rec.rtt(plan.epoch.elapsed().as_secs_f64() * 1000.0 - t);
            }
            ServerMsg::Chat(line) if line.from != self.me => {
                let stamp = line
                    .text
                    .strip_prefix("bot ")
                    .and_then(|s| s.parse::<f32>().ok());
                if let (Some(ms), true) = (stamp.and_then(age_ms), plan.phase.measuring()) {
                    rec.chat_latency(ms);
                }
            }
            ServerMsg::Error { code, .. } => {
                let code = serde_json::to_value(code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("{code:?}"));
                rec.error(&code);
            }
            _ => {}
        }
    }
}

async fn connect_and_join(
    i: usize,
    plan: &Plan,
    transport: Transport,
) -> anyhow::Result<(Client, Uuid, ClientMsg)> {
    let target = &plan.target;
    let codec = plan_codec(plan);
    let pick = |pool_len: usize| (i / plan.args.bots_per_endpoint.max(1)) % pool_len.max(1);
    let client = match transport {
        Transport::Ws => Client::websocket(target.http, codec).await,
        Transport::Quic => {
            let addr = target.quic.context("the server has QUIC disabled")?;
            let endpoint = plan
                .quic_endpoints
                .get(pick(plan.quic_endpoints.len()))
                .context("no QUIC endpoint")?;
            Client::quic_via(endpoint, addr, target.cert_sha256).await
        }
        Transport::Wt => {
            let addr = target.wt.context("the server has WebTransport disabled")?;
            let endpoint = plan
                .wt_endpoints
                .get(pick(plan.wt_endpoints.len()))
                .context("no WebTransport endpoint")?;
            Client::webtransport_via(endpoint, addr, codec).await
        }
    }?;
    let name = format!("bot-{}-{i}", plan.run_id);
    let space = format!("{}-{}", plan.args.space_prefix, i % plan.args.spaces.max(1));
    hello_and_join(client, plan, transport, ClientMsg::hello(name), space).await
}

fn plan_codec(plan: &Plan) -> Codec {
    if plan.args.json {
        Codec::Json
    } else {
        Codec::Postcard
    }
}

/// Says `hello` and joins `space`, following `moved` to the node that owns the space (at
/// most [`MAX_FOLLOWS`] times, against ping-pong): the client, the user, and the hello
/// that works again (with the guest secret the first welcome gave).
async fn hello_and_join(
    mut client: Client,
    plan: &Plan,
    transport: Transport,
    mut hello: ClientMsg,
    mut space: String,
) -> anyhow::Result<(Client, Uuid, ClientMsg)> {
    let mut follows = 0;
    'connection: loop {
        client.speak_version(plan.args.protocol);
        client.send(&hello).await?;
        client
            .send(&ClientMsg::Join {
                space: space.clone(),
                request: None,
            })
            .await?;
        let mut me = None;
        loop {
            match client.next().await? {
                Received::Msg(ServerMsg::Welcome {
                    user,
                    guest_secret,
                    name,
                    resume,
                    ..
                }) => {
                    me = Some(user);
                    if let Some(secret) = guest_secret {
                        hello = ClientMsg::hello_again(name, secret);
                    }
                    // A `moved` later takes this session to the next node.
                    hello = hello.resuming(resume);
                }
                Received::Msg(ServerMsg::Joined { .. }) => {
                    let me = me.context("joined before welcome")?;
                    return Ok((client, me, hello));
                }
                Received::Msg(moved @ ServerMsg::Moved { .. }) => {
                    follows += 1;
                    if follows > MAX_FOLLOWS {
                        bail!("moved more than {MAX_FOLLOWS} times while joining");
                    }
                    let to = MovedTo::from_message(&moved)
                        .await?
                        .context("a moved message")?;
                    space = to.space.clone();
                    let _ = client.finish().await;
                    client = to
                        .connect(net_transport(transport), plan_codec(plan))
                        .await?;
                    continue 'connection;
                }
                // A full space: the bot waits in its line until `joined`.
                Received::Msg(ServerMsg::Queued { .. }) => {}
                Received::Msg(ServerMsg::Error { code, message, .. }) => {
                    bail!("refused: {code:?}: {message}")
                }
                Received::Closed(closed) => bail!(
                    "closed before joining: {}",
                    closed.map_or("no reason".into(), |c| format!("{} {}", c.code, c.reason))
                ),
                Received::Msg(_) => {}
            }
        }
    }
}

/// Most `moved` a bot follows in a row while joining.
const MAX_FOLLOWS: u32 = 3;

fn net_transport(transport: Transport) -> plaza_net::Transport {
    match transport {
        Transport::Ws => plaza_net::Transport::WebSocket,
        Transport::Quic => plaza_net::Transport::Quic,
        Transport::Wt => plaza_net::Transport::WebTransport,
    }
}

/// A bot in a space that moved to another node follows it: the new connection, and the
/// hello that works there; the pause is recorded.
async fn follow(
    moved: &ServerMsg,
    plan: &Plan,
    rec: &Recorder,
    hello: ClientMsg,
) -> anyhow::Result<(Client, ClientMsg)> {
    let started = Instant::now();
    let to = MovedTo::from_message(moved)
        .await?
        .context("a moved message")?;
    let client = to
        .connect(net_transport(rec.transport), plan_codec(plan))
        .await?;
    let (client, _, hello) =
        hello_and_join(client, plan, rec.transport, hello, to.space.clone()).await?;
    rec.moved(started.elapsed().as_secs_f64() * 1000.0);
    Ok((client, hello))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_an_f32_and_age_from_this_clock() {
        let s = stamp();
        assert_eq!(s.fract(), 0.0);
        let age = age_ms(s).expect("a fresh stamp");
        assert!(age < 1000.0, "age {age}");
        assert_eq!(age_ms(1.5), None, "an ordinary scale is no stamp");
    }

    #[test]
    fn timer_offsets_spread_over_the_period() {
        let offsets: Vec<f32> = (0..1000).map(|i| Rng::new(i).next_f32()).collect();
        let low = offsets.iter().filter(|&&o| o < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below one half");
    }

    /// A walker's last pose, first as a datagram, then again reliably when it settles
    /// (with the same stamp), then a datagram that arrives twice and one out of order.
    #[test]
    fn a_stamped_change_counts_once_at_its_first_arrival() {
        let me = Uuid::from_u128(1);
        let walker = Uuid::from_u128(2);
        let mut seen = Seen {
            me,
            ..Seen::default()
        };
        let pose = |stamp: f32| plaza_net::AvatarMove {
            index: 0,
            user: walker,
            transform: plaza_net::Pose::of(&WireTransform {
                scale: [1.0, stamp, 1.0],
                ..WireTransform::IDENTITY
            }),
        };
        let motion = |tick, stamp| ServerMsg::Motion {
            tick,
            avatars: plaza_net::Moves::Plain(vec![pose(stamp)]),
            objects: plaza_net::Moves::default(),
        };
        let settled = |tick, stamp| ServerMsg::Delta {
            tick,
            objects: vec![],
            removed: vec![],
            avatars: plaza_net::Moves::Plain(vec![pose(stamp)]),
            joined: vec![],
            left: vec![],
            appeared: vec![],
            vanished: vec![],
            hidden: vec![],
        };
        let earlier = stamp() - 20.0;
        let now = stamp();
        let mut latencies = Vec::new();
        for msg in [
            motion(1, earlier),
            motion(2, now),
            motion(2, now),
            motion(1, earlier),
            settled(6, now),
        ] {
            seen.updates(&msg, &mut latencies);
        }
        assert_eq!(latencies.len(), 2, "two stamped changes: {latencies:?}");
        assert!(
            latencies.iter().all(|&ms| ms < 1000.0),
            "no sample carries the time until the settle: {latencies:?}"
        );
    }

    #[test]
    fn walkers_stay_inside_their_area() {
        let mut walk = Walk::new(3, 20.0);
        for _ in 0..10_000 {
            walk.step(0.5, 20.0);
            assert!(walk.pos.iter().all(|p| p.abs() <= 10.0), "{:?}", walk.pos);
        }
    }
}
