#![no_main]
//! See `seqhound::fuzzing::config`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| seqhound::fuzzing::config(data));
