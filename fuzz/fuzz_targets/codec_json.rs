#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plaza::fuzz_targets::codec_json(data));
