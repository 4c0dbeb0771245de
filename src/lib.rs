//! Plaza, a server for shared 3D spaces: an ECS world (`plaza-systems`) ticked at a fixed
//! rate on its own thread, clients over QUIC, WebTransport and WebSocket speaking
//! `plaza-net`'s protocol, and world state persisted by a background writer (SQLite by
//! default, PostgreSQL and Redis when configured).
//!
//! Flow: transports ([`edge`]) decode frames and translate them once (`edge::bridge`) into
//! commands for the tick thread (`host`); each tick applies them, fans what changed out to
//! connections' bounded outbound queues, and hands the tick's writes to the store writer
//! ([`store::writer`]). Around it: the HTTP API (`http`), uploads (`uploads`), and
//! housekeeping and export/import ([`ops`]).
//!
//! The modules, from what faces the outside in, then the leaves everything may use:
//!
//! | module | holds |
//! |---|---|
//! | [`edge`] | connections: the session core, hello, the wire ⇄ world bridge, rate limits, slots, live sessions, the transports |
//! | `host` | the world's thread: the tick loop, fan-out, the space loader, the directory of loaded spaces |
//! | [`cluster`] | many nodes on one PostgreSQL: heartbeats, space ownership (leases, fencing), placement of joins |
//! | [`http`] | routes, the accept loop, health, metrics, the JSON API, work gates |
//! | [`uploads`] | what an upload may be, where files are stored, taking an upload in |
//! | [`ops`] | maintenance inside the server, export and import |
//! | [`store`] | SQLite, PostgreSQL, Redis, pending writes, the writer task |
//! | [`server`] | the composition root: starts and stops all of the above |
//! | [`config`], [`telemetry`], [`clock`], `digest`, [`tls`], [`auth`], `text` | leaves |
//!
//! The public surface, one line each; everything else is `pub(crate)`:
//! - [`Config`]: the configuration, its loading and validation ([`config`]: `Rate`, `Secret`,
//!   `SecretUrl`, `PgUpsert`, `ConfigError`).
//! - [`Server`], [`ServerError`]: start and stop a whole server.
//! - [`edge::Edge`]: what [`Server::edge`] shows tests (counters, gates, the store).
//! - [`edge::bridge`]: `command_from_wire`, `check_name`, `event_to_wire`, `encode` (in a `Dialect`), for
//!   benchmarks and the property test of what the edge accepts.
//! - [`store`]: the stores, their queries and the writer ([`store::writer`]), for the CLI,
//!   tests and benchmarks that write and read them directly.
//! - [`telemetry`]: the writer's, tick's and transports' counters.
//! - [`cluster`]: `Cluster` (this node's membership), for tests that look at ownership.
//! - [`ops::transfer`]: export and import of spaces (`plaza export`, `plaza import`).
//! - [`uploads::media`]: sample GLB files for tests.
//! - [`auth`]: password hashes and token digests, for tests of what is stored.
//! - [`clock`]: the time now, `now_ms`.
//! - [`tls`]: why a certificate cannot be used (`TlsError`).
//! - [`http::gates`]: the work gates (`Gate`), whose occupancy tests watch.
//! - [`fuzz_targets`]: the fuzz targets' bodies, replayed by the test suite.

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub(crate) mod digest;
pub mod edge;
pub mod fuzz_targets;
pub(crate) mod host;
pub mod http;
pub mod ops;
pub mod server;
pub mod store;
pub mod telemetry;
pub(crate) mod text;
pub mod tls;
pub mod uploads;

pub use config::Config;
pub use server::{Server, ServerError};
