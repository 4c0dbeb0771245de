//! Integration tests: a real server on real sockets and real files, against real
//! PostgreSQL and Redis.

mod abuse;
mod accounts;
mod bad_input;
mod browser;
mod building;
mod chaos;
mod cluster;
mod cluster_sessions;
mod fuzz_corpus;
mod guests;
mod interest;
mod limits;
mod maintenance;
mod outage;
mod poison;
mod postgres;
mod product_pg;
mod protocol;
mod quic;
mod redis;
mod restart;
mod resume;
mod services;
mod sharing;
mod slots;
mod space_deletion;
mod stall;
mod storable;
mod support;
mod telemetry;
mod transfer;
mod uploads;
mod web_api;
mod webtransport;
