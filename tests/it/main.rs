//! Integration tests: a real server on real sockets and real files, against real
//! PostgreSQL and Redis.

mod bad_input;
mod browser;
mod building;
mod interest;
mod load;
mod outage;
mod postgres;
mod quic;
mod redis;
mod restart;
mod services;
mod support;
mod telemetry;
mod webtransport;
