//! Fuzz target `codec_postcard`: its body is `plaza::fuzz_targets::codec_postcard`, which the test suite replays.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plaza::fuzz_targets::codec_postcard(data));
