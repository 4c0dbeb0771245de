//! Fuzz target `codec_json`: its body is `plaza::fuzz_targets::codec_json`, which the test suite replays.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plaza::fuzz_targets::codec_json(data));
