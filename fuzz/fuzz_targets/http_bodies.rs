//! Fuzz target `http_bodies`: its body is `plaza::fuzz_targets::http_bodies`, which the test suite replays.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plaza::fuzz_targets::http_bodies(data));
