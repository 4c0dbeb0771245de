//! Integration tests: a real server on real sockets and real files.

mod bad_input;
mod building;
mod restart;
mod support;
