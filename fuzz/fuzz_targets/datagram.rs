//! Fuzz target `datagram`: its body is `plaza::fuzz_targets::datagram`, which the test suite replays.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plaza::fuzz_targets::datagram(data));
