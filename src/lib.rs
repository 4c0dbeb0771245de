//! Plaza, a server for shared 3D spaces: an ECS world (`plaza-systems`) ticked at a fixed
//! rate on its own thread, clients over WebSocket speaking `plaza-net`'s protocol, and
//! world state persisted by a background writer (SQLite by default).
//!
//! Flow: transports decode frames and translate them once ([`bridge`]) into commands for
//! the tick thread ([`tick`]); each tick applies them, replicates what changed to
//! connections' bounded outbound queues ([`conn`]), and hands the tick's writes to the
//! store writer ([`store::writer`]).

pub mod api;
pub mod auth;
pub mod bridge;
pub mod config;
pub mod conn;
pub mod directory;
pub mod edge;
pub mod framing;
pub mod fuzz_targets;
pub mod gates;
pub mod http;
pub mod json_budget;
pub mod listener;
pub mod maintenance;
pub mod media;
pub mod metrics;
pub mod quic;
pub mod rate;
pub mod server;
pub mod session;
pub mod slots;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod tick;
pub mod tls;
pub mod transfer;
pub mod webtransport;
pub mod ws;

pub use config::Config;
pub use server::{Server, ServerError};
