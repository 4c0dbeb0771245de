//! Server configuration: one struct with documented defaults, read from `plaza.toml` (or the
//! file given with `--config`) and overridden by `PLAZA_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod rates;
mod secrets;
mod validate;

pub use rates::{MessageRates, Rate};
pub use secrets::{Secret, SecretUrl};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be read or has the wrong type.
    #[error("cannot read configuration: {0}")]
    Read(#[from] Box<figment::Error>),
    /// The file named with `--config` does not exist.
    #[error("configuration file {0} does not exist; create it or leave out --config")]
    Missing(PathBuf),
    /// A value is out of its valid range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything an operator can set. Every field has a default, so an empty file (or none)
/// is a working configuration. Environment variables are the field names in capitals with
/// a `PLAZA_` prefix, e.g. `PLAZA_TICK_RATE_HZ=30`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP server (WebSocket at `/ws`, health at `/health`).
    /// Default `127.0.0.1:8700`; use `0.0.0.0:8700` to accept other machines.
    pub listen: SocketAddr,
    /// Whether native clients may connect over QUIC. Default true.
    pub quic_enabled: bool,
    /// UDP address for QUIC (ALPN `plaza/1`). Default `127.0.0.1:8701`.
    pub quic_listen: SocketAddr,
    /// Whether browsers may connect over WebTransport. Default true.
    pub webtransport_enabled: bool,
    /// UDP address for WebTransport (HTTP/3, path `/wt`). Default `127.0.0.1:8702`.
    pub webtransport_listen: SocketAddr,
    /// Time after which a silent QUIC or WebTransport connection ends, in ms. Default 30000.
    pub quic_idle_timeout_ms: u64,
    /// Bidirectional streams a QUIC client may open; one more closes the connection.
    /// Plaza uses the first. Default 1.
    pub quic_max_streams: u32,
    /// PEM certificate chain for QUIC and WebTransport; with `tls_key_path`. Default: a
    /// self-signed ECDSA P-256 certificate made at each start (see `GET /cert-hash`).
    pub tls_cert_path: Option<PathBuf>,
    /// PEM private key of `tls_cert_path`.
    pub tls_key_path: Option<PathBuf>,
    /// Ticks per second. Default 20; valid 1–240.
    pub tick_rate_hz: u32,
    /// Directory for the embedded store. Default `data`.
    pub data_dir: PathBuf,
    /// SQLite file; default `<data_dir>/plaza.db`. Used when `database_url` is not set.
    pub sqlite_path: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://user:pass@host:5432/db`); when set, Postgres is the
    /// durable store instead of SQLite. Default: not set. Never logged.
    pub database_url: Option<SecretUrl>,
    /// Redis URL (`redis://host:6379`); when set, space snapshots and presence are kept in
    /// Redis. Default: not set. Never logged.
    pub redis_url: Option<SecretUrl>,
    /// Prefix of every Redis key, so several installations can share one Redis.
    /// Default `plaza:`.
    pub redis_prefix: String,
    /// Seconds presence entries live in Redis unless refreshed (they are refreshed every
    /// third of this while people stay). Default 30; valid 3–3600.
    pub presence_ttl_secs: u64,
    /// Apply database migrations when `serve` starts. Default true; `plaza migrate` applies
    /// them on demand.
    pub migrate_on_start: bool,
    /// Connections in the Postgres pool. Default 8.
    pub pg_max_connections: u32,
    /// PostgreSQL `statement_timeout` of every pooled connection, in ms: a statement that
    /// runs longer is cancelled (and a flush retried). The store writer also abandons any
    /// durable write (SQLite too) that takes more than twice this. Default 10000.
    pub store_statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout` of every pooled connection, in ms: a statement that waits
    /// longer for a lock (a table locked by someone else) fails and is retried. Default 2000.
    pub store_lock_timeout_ms: u64,
    /// `/health` turns `degraded` (503) once the oldest change not yet in the durable store
    /// is older than this, in ms, whatever the reason. Default 5000.
    pub max_unwritten_age_ms: u64,
    /// How object upserts reach Postgres: `unnest` (array binds), `copy` (binary COPY into
    /// a staging table) or `auto` (COPY for chunks of 5000 rows or more, else UNNEST: COPY
    /// is faster for big flushes, UNNEST for small ones; docs/benchmarks.md). Default `auto`.
    pub pg_upsert: PgUpsert,
    /// How often pending writes are flushed to the store, in ms. Default 100; valid 1–60000.
    pub flush_interval_ms: u64,
    /// Most rows of one kind written by one statement; bigger flushes are split. Default 10000.
    pub max_batch_rows: usize,
    /// How long shutdown keeps retrying the final flush, in ms. Default 30000.
    pub shutdown_flush_timeout_ms: u64,
    /// Transactions the writer runs at once on PostgreSQL: each space's rows commit on
    /// their own (and a big space's objects in parts of `max_batch_rows`), spread over
    /// this many pool connections. Default 2 (measured best on two cores: more only add
    /// switching on the same table); valid 1 to `pg_max_connections - 1`.
    pub parallel_writes: usize,
    /// With PostgreSQL, join the cluster of every node on the same database: each space is
    /// owned by one node (a lease with a fencing epoch), joins of a space owned elsewhere
    /// are answered with `moved`. Default true. Off only for a database no other node
    /// uses: two nodes without it would overwrite each other's spaces.
    pub cluster_enabled: bool,
    /// This node's name in the cluster (1–128 characters of `[A-Za-z0-9._:-]`). Default:
    /// `<hostname>:<HTTP port>`, so a node restarted with the same port is the same node
    /// and takes its spaces back at once; with port 0, `<hostname>:<random>`.
    pub node_id: Option<String>,
    /// Host name or address other nodes' clients use to reach this node (in `moved` and
    /// the cluster view). Default: the listen address's IP, or the hostname when listening
    /// on all interfaces.
    pub advertise_host: Option<String>,
    /// How long a node's ownership of a space lasts without renewal, in ms: after a node
    /// dies its spaces can be claimed this long after its last heartbeat. Renewed every
    /// third of it. Default 6000; valid 300–600000.
    pub lease_ms: u64,
    /// Sessions above which this node sends newcomers to unowned spaces to the least
    /// loaded live node instead of claiming them. Default 0 (no limit).
    pub max_sessions_per_node: usize,
    /// On shutdown (SIGTERM, Ctrl-C), hand every space this node owns to another live node
    /// first, as `POST /api/admin/drain` does, so that a rolling restart moves people
    /// instead of disconnecting them. Default false.
    pub drain_on_shutdown: bool,
    /// Largest frame a client may send, in bytes. Default 65536. Frames up to four times
    /// this get a `too_large` error; bigger ones close the connection.
    pub max_frame_bytes: usize,
    /// Largest props JSON text, in bytes. Default 8192.
    pub max_props_bytes: usize,
    /// Longest chat message, in characters. Default 1000.
    pub max_chat_chars: usize,
    /// Longest user, space or model name, in characters. Default 64 (models 256).
    pub max_name_chars: usize,
    /// Chat lines kept per space and sent on join. Default 50.
    pub chat_history: usize,
    /// Objects one space may hold. Default 100000.
    pub max_objects_per_space: usize,
    /// Temporary spaces one user may own at once (`POST /api/spaces` with `temporary`,
    /// open to guests): more are refused until some are deleted. Default 100.
    pub max_temporary_spaces_per_user: usize,
    /// Objects a space takes in or gives out per tick: a space loading from the store
    /// enters the world this many objects a tick, and (without `view_radius`) someone
    /// entering a space gets this many in `joined` and the rest this many a tick in their
    /// deltas. A big space then costs several short ticks instead of stalling every
    /// space's tick. Default 1000 (about 1.5 ms of tick time; docs/benchmarks.md).
    pub load_slice_objects: usize,
    /// People one space holds at once; 0 is no limit. Who joins a full space waits in its
    /// join queue (told its place, `queued`, about once a second) and enters when someone
    /// leaves, first come first in; server admins and the space's admins enter anyway (an
    /// event's hosts, moderators). Default 0.
    pub max_people_per_space: usize,
    /// The longest one space's join queue grows; who joins a full space when its queue is
    /// this long is refused with `full` (those waiting hold connections, so
    /// `max_connections` bounds it too). Default 1000.
    pub join_queue_per_space: usize,
    /// Client commands waiting for the next tick before new ones are refused with
    /// `rate_limited`. Default 65536.
    pub inbox_capacity: usize,
    /// Frames waiting to be written to one client; a client that lets this fill up is
    /// disconnected as too slow. Default 1024.
    pub outbound_queue_frames: usize,
    /// Longest one frame may take to be handed to a client's connection, in ms; a client
    /// that does not read for this long is closed as too slow and its slot freed.
    /// Default 10000.
    pub write_timeout_ms: u64,
    /// A WebSocket from which nothing arrives for this long, in ms, is closed; the server
    /// pings every third of it, so a client that is there (browsers answer pings by
    /// themselves) never hits it. Default 60000.
    pub ws_idle_timeout_ms: u64,
    /// Simultaneous connections of every kind: TCP (HTTP, each WebSocket), QUIC and
    /// WebTransport. Over it, a TCP connection is answered 503 and closed, a QUIC or
    /// WebTransport handshake refused. Default 10000.
    pub max_connections: usize,
    /// Simultaneous connections from one client address, of every kind counted as in
    /// `max_connections`. Default 64 (raise it behind a reverse proxy or NAT).
    pub max_connections_per_addr: usize,
    /// Time a client has to send a whole HTTP request head, in ms, counted from the
    /// connection's start or its previous response: a connection that sends nothing or
    /// trickles its headers is closed. Default 10000.
    pub http_header_timeout_ms: u64,
    /// Time a client has to send a whole request body, in ms; longer gets 408 (uploads of
    /// `max_model_bytes` need about 0.4 MB/s). Default 120000.
    pub http_body_timeout_ms: u64,
    /// Password hashes (registration, login) computed at once; each takes about 19 MiB and
    /// tens of ms. More wait for `password_hash_wait_ms`, then get 503. Default 2.
    pub password_hash_concurrency: usize,
    /// How long a password hash waits for its turn, in ms. Default 2000.
    pub password_hash_wait_ms: u64,
    /// Uploads received and checked at once (each holds its body, up to `max_model_bytes`,
    /// in memory). More wait for `upload_wait_ms`, then get 503. Default 4.
    pub upload_concurrency: usize,
    /// How long an upload waits for its turn, in ms. Default 5000.
    pub upload_wait_ms: u64,
    /// Largest JSON chunk of an uploaded GLB, in bytes. Default 4194304 (4 MiB).
    pub max_gltf_json_bytes: usize,
    /// Most JSON values (objects, arrays, strings, numbers...) in an uploaded GLB's JSON
    /// chunk; it bounds the memory its parsed form takes. Default 250000.
    pub max_gltf_json_values: usize,
    /// Time a new connection has to say hello, in ms. Default 10000.
    pub handshake_timeout_ms: u64,
    /// How long a session whose client went away is held for it to take back with the
    /// resume token of its `welcome`, in seconds (0: sessions end with their connection).
    /// At most 3600. Default 30.
    pub resume_grace_secs: u64,
    /// Sustained messages per second one connection may send. Default 120.
    pub client_messages_per_sec: u32,
    /// Messages one connection may send in a burst above the sustained rate. Default 240.
    pub client_message_burst: u32,
    /// Per-session limits for each kind of message (`[message_rates.chat]` in the file,
    /// `PLAZA_MESSAGE_RATES__CHAT__PER_SEC` in the environment); see [`MessageRates`].
    pub message_rates: MessageRates,
    /// New connections (WebSocket, QUIC, WebTransport) per client address. Default 20/s,
    /// burst 200; more are refused (HTTP 429 or a refused QUIC handshake).
    pub connections_per_addr: Rate,
    /// HTTP requests per client address. Default 100/s, burst 200; more get 429.
    pub http_requests_per_addr: Rate,
    /// Web origins (`https://app.example:5173`, or `*` for any) whose pages may call `/api`
    /// and `/cert-hash` from the browser (CORS). Default none: only pages Plaza serves.
    /// Requests authenticate with bearer tokens, never cookies, so `*` exposes nothing a
    /// page could not already fetch without a token.
    pub cors_origins: Vec<String>,
    /// A folder to serve the browser client (`index.html`, `app.js`) from instead of the
    /// copy built into the binary, read on each request: for working on the page
    /// (`clients/web`, `npm run watch`) without rebuilding the server. Default unset.
    pub web_root: Option<PathBuf>,
    /// Refused messages within `strike_window_secs` before a connection is closed. Default 20.
    pub max_strikes: u32,
    /// Window for counting refused messages, in seconds. Default 10.
    pub strike_window_secs: u64,
    /// Interest management: each client sees only what is within this many metres of its
    /// avatar. Unset (the default): everyone in a space sees all of it, through one delta
    /// per space encoded once, which is cheapest for rooms where everyone is in sight.
    pub view_radius: Option<f32>,
    /// With `view_radius`, the most one client is sent per tick, in estimated encoded
    /// bytes; the rest waits for later ticks. Default 16384 (about 2.6 Mbit/s at 20 Hz).
    pub view_budget_bytes: usize,
    /// After something sent as motion (datagrams, which may be lost) stops moving for this
    /// long, its final state is sent reliably. Default 200 ms: longer than the gap between
    /// poses of anything that updates at 5 Hz or more, so walking is not taken for stopping.
    pub settle_after_ms: u64,
    /// Largest WebRTC `signal` payload (SDP or ICE candidate), in bytes. Default 16384.
    pub max_signal_bytes: usize,
    /// Feature flag: keep the world in a durable store. Default true. When false, the store
    /// is an in-memory SQLite database: everything works and nothing survives a restart.
    pub persistence_enabled: bool,
    /// Feature flag: use Redis when `redis_url` is set. Default true.
    pub redis_enabled: bool,
    /// Feature flag: accept model and media uploads. Default true.
    pub uploads_enabled: bool,
    /// Feature flag: screen sharing and WebRTC signaling. Default true.
    pub screen_sharing_enabled: bool,
    /// Feature flag: people may register accounts (`POST /api/users`). Default true; when
    /// false, only existing accounts log in and everyone else is a guest.
    pub registration_enabled: bool,
    /// Token for the admin API (`Authorization: Bearer ...` on `/api/admin/...`); at least
    /// 16 characters. Default: not set, and the admin API answers 404. Never logged.
    pub admin_token: Option<Secret>,
    /// How long a login token stays valid, in seconds. Default 2592000 (30 days).
    pub login_token_ttl_secs: u64,
    /// Where uploads are stored: a directory (default `<data_dir>/files`)...
    pub storage_dir: Option<PathBuf>,
    /// ...or an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), when set.
    pub s3: Option<S3Config>,
    /// Largest model upload (GLB), in bytes. Default 52428800 (50 MiB).
    pub max_model_bytes: usize,
    /// Largest media upload (screenshot, avatar, attachment), in bytes. Default 10485760.
    pub max_media_bytes: usize,
    /// How often the server's maintenance runs (materialized views, retention), in
    /// seconds. Default 3600.
    pub maintenance_interval_secs: u64,
    /// Events older than this many days are deleted by maintenance. Default 90; 0 keeps all.
    pub event_retention_days: u32,
    /// Ended sessions older than this many days are deleted by maintenance. Default 180;
    /// 0 keeps all.
    pub session_retention_days: u32,
}

/// An S3-compatible bucket for uploads. Credentials may also come from the usual
/// `AWS_*` environment variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Region (R2: `auto`). Default `us-east-1`.
    #[serde(default = "S3Config::default_region")]
    pub region: String,
    /// Endpoint for non-AWS services, e.g. `https://<account>.r2.cloudflarestorage.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key. Never logged.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Plain HTTP endpoints allowed (local MinIO). Default false.
    #[serde(default)]
    pub allow_http: bool,
}

impl S3Config {
    fn default_region() -> String {
        "us-east-1".into()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8700)),
            quic_enabled: true,
            quic_listen: SocketAddr::from(([127, 0, 0, 1], 8701)),
            quic_idle_timeout_ms: 30_000,
            webtransport_enabled: true,
            webtransport_listen: SocketAddr::from(([127, 0, 0, 1], 8702)),
            quic_max_streams: 1,
            tls_cert_path: None,
            tls_key_path: None,
            tick_rate_hz: 20,
            data_dir: PathBuf::from("data"),
            sqlite_path: None,
            database_url: None,
            redis_url: None,
            redis_prefix: "plaza:".into(),
            presence_ttl_secs: 30,
            migrate_on_start: true,
            pg_max_connections: 8,
            store_statement_timeout_ms: 10_000,
            store_lock_timeout_ms: 2_000,
            max_unwritten_age_ms: 5_000,
            pg_upsert: PgUpsert::Auto,
            flush_interval_ms: 100,
            max_batch_rows: 10_000,
            shutdown_flush_timeout_ms: 30_000,
            parallel_writes: 2,
            cluster_enabled: true,
            node_id: None,
            advertise_host: None,
            lease_ms: 6_000,
            max_sessions_per_node: 0,
            drain_on_shutdown: false,
            max_frame_bytes: 64 * 1024,
            max_props_bytes: 8 * 1024,
            max_chat_chars: 1000,
            max_name_chars: 64,
            chat_history: 50,
            max_objects_per_space: 100_000,
            max_temporary_spaces_per_user: 100,
            load_slice_objects: 1_000,
            max_people_per_space: 0,
            join_queue_per_space: 1_000,
            inbox_capacity: 65_536,
            outbound_queue_frames: 1024,
            write_timeout_ms: 10_000,
            ws_idle_timeout_ms: 60_000,
            max_connections: 10_000,
            max_connections_per_addr: 64,
            http_header_timeout_ms: 10_000,
            http_body_timeout_ms: 120_000,
            password_hash_concurrency: 2,
            password_hash_wait_ms: 2_000,
            upload_concurrency: 4,
            upload_wait_ms: 5_000,
            max_gltf_json_bytes: 4 * 1024 * 1024,
            max_gltf_json_values: 250_000,
            handshake_timeout_ms: 10_000,
            resume_grace_secs: 30,
            client_messages_per_sec: 120,
            client_message_burst: 240,
            message_rates: MessageRates::default(),
            connections_per_addr: Rate::new(20.0, 200),
            http_requests_per_addr: Rate::new(100.0, 200),
            cors_origins: Vec::new(),
            web_root: None,
            max_strikes: 20,
            strike_window_secs: 10,
            view_radius: None,
            view_budget_bytes: 16 * 1024,
            settle_after_ms: 200,
            max_signal_bytes: 16 * 1024,
            persistence_enabled: true,
            redis_enabled: true,
            uploads_enabled: true,
            screen_sharing_enabled: true,
            registration_enabled: true,
            admin_token: None,
            login_token_ttl_secs: 30 * 24 * 3600,
            storage_dir: None,
            s3: None,
            max_model_bytes: 50 * 1024 * 1024,
            max_media_bytes: 10 * 1024 * 1024,
            maintenance_interval_secs: 3600,
            event_retention_days: 90,
            session_retention_days: 180,
        }
    }
}

impl Config {
    /// Reads defaults, then `file` (or `plaza.toml` if it exists), then `PLAZA_*`
    /// variables, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("plaza.toml").exists() => {
                figment = figment.merge(Toml::file_exact("plaza.toml"))
            }
            None => {}
        }
        let config: Config = figment
            // PLAZA_LOG sets the log filter, not a config field.
            .merge(Env::prefixed("PLAZA_").ignore(&["log"]).split("__"))
            .extract()
            .map_err(|e| ConfigError::Read(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Largest frame that is still read (and refused with `too_large`); a longer one ends
    /// the connection, since skipping it would cost more than it is worth.
    pub(crate) fn hard_frame_bytes(&self) -> usize {
        self.max_frame_bytes * 4
    }

    /// The SQLite file in use.
    pub fn sqlite_file(&self) -> PathBuf {
        self.sqlite_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plaza.db"))
    }

    /// The directory uploads go to when no S3 bucket is set.
    pub fn storage_directory(&self) -> PathBuf {
        self.storage_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    /// Length of one tick.
    pub(crate) fn tick_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(1.0 / f64::from(self.tick_rate_hz))
    }

    /// The limits the world enforces.
    pub(crate) fn world_limits(&self) -> plaza_systems::Limits {
        plaza_systems::Limits {
            chat_history: self.chat_history,
            max_objects_per_space: self.max_objects_per_space,
            presence_refresh_ticks: (self.presence_ttl_secs / 3).max(1)
                * u64::from(self.tick_rate_hz),
            view_radius: self.view_radius,
            view_budget_bytes: self.view_budget_bytes,
            settle_ticks: (self.settle_after_ms * u64::from(self.tick_rate_hz))
                .div_ceil(1000)
                .max(1),
            load_slice_objects: self.load_slice_objects,
            max_people_per_space: self.max_people_per_space,
            join_queue_per_space: self.join_queue_per_space,
        }
    }

    /// How many refused messages a connection may send, edge and world refusals together.
    pub(crate) fn strike_policy(&self) -> plaza_systems::StrikePolicy {
        plaza_systems::StrikePolicy {
            max: self.max_strikes,
            window_ms: self.strike_window_secs.saturating_mul(1000),
        }
    }
}

/// How object upserts are sent to Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgUpsert {
    /// COPY for chunks of at least `PgUpsert::COPY_FROM_ROWS` (5000) rows, UNNEST below.
    Auto,
    /// `INSERT .. SELECT FROM UNNEST(arrays) ON CONFLICT DO UPDATE`.
    Unnest,
    /// Binary `COPY` into a temporary staging table, then one upsert from it.
    Copy,
}

impl PgUpsert {
    /// Chunk size from which `auto` uses COPY: measured, COPY wins at 10k rows and loses
    /// at 1k (its staging table costs a few ms per transaction).
    pub(crate) const COPY_FROM_ROWS: usize = 5_000;

    /// Whether a chunk of `rows` goes through COPY.
    pub(crate) fn uses_copy(self, rows: usize) -> bool {
        match self {
            Self::Auto => rows >= Self::COPY_FROM_ROWS,
            Self::Unnest => false,
            Self::Copy => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_print_their_credentials() {
        let url = SecretUrl::new("postgres://plaza:hunter2@db.internal:5432/plaza?sslmode=require");
        assert_eq!(url.redacted(), "postgres://db.internal:5432/plaza");
        let config = Config {
            database_url: Some(url),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults are valid");
    }

    #[test]
    fn tick_rate_out_of_range_is_a_clear_error() {
        for rate in [0, 241] {
            let config = Config {
                tick_rate_hz: rate,
                ..Config::default()
            };
            let error = config.validate().expect_err("out of range").to_string();
            assert!(
                error.contains("tick_rate_hz must be between 1 and 240"),
                "{error}"
            );
        }
    }

    #[test]
    fn cors_origins_must_be_origins() {
        for bad in [
            "app.example",
            "http://app.example/",
            "http://app.example/path",
            "http://",
        ] {
            let config = Config {
                cors_origins: vec![bad.to_owned()],
                ..Config::default()
            };
            let error = config.validate().expect_err(bad).to_string();
            assert!(error.contains("cors_origins"), "{error}");
        }
        let config = Config {
            cors_origins: vec!["*".into(), "https://[::1]:8443".into()],
            ..Config::default()
        };
        config
            .validate()
            .expect("* and a bracketed IPv6 origin are origins");
    }

    #[test]
    #[allow(
        clippy::result_large_err,
        reason = "figment::Jail's closure returns figment::Error"
    )]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("custom.toml", "tick_rate_hz = 30\nflush_interval_ms = 50")?;
            jail.set_env("PLAZA_FLUSH_INTERVAL_MS", "25");
            jail.set_env("PLAZA_MESSAGE_RATES__CHAT__PER_SEC", "0.5");
            jail.set_env("PLAZA_ADMIN_TOKEN", "a secret admin token");
            jail.set_env("PLAZA_CORS_ORIGINS", r#"["http://localhost:5173"]"#);
            let config = Config::load(Some(Path::new("custom.toml"))).expect("loads");
            assert_eq!(config.cors_origins, ["http://localhost:5173"]);
            assert_eq!((config.tick_rate_hz, config.flush_interval_ms), (30, 25));
            assert_eq!(
                config.message_rates.chat.per_sec, 0.5,
                "nested keys split on __"
            );
            assert!(!format!("{config:?}").contains("a secret admin token"));
            jail.set_env("PLAZA_TICK_RATE_HZ", "0");
            assert!(Config::load(Some(Path::new("custom.toml"))).is_err());
            assert!(matches!(
                Config::load(Some(Path::new("nope.toml"))),
                Err(ConfigError::Missing(_))
            ));
            Ok(())
        });
    }
}
