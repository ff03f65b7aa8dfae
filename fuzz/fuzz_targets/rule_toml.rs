#![no_main]
//! See `seqhound::fuzzing::rule_toml`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| seqhound::fuzzing::rule_toml(data));
