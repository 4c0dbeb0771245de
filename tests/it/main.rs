//! Integration tests: a real server on real sockets and real files, against real
//! PostgreSQL and Redis.

mod accounts;
mod bad_input;
mod browser;
mod building;
mod interest;
mod load;
mod outage;
mod postgres;
mod product_pg;
mod quic;
mod redis;
mod restart;
mod services;
mod sharing;
mod support;
mod telemetry;
mod uploads;
mod webtransport;
