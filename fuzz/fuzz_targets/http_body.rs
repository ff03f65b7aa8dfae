#![no_main]
//! See `seqhound::fuzzing::http_body`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| seqhound::fuzzing::http_body(data));
