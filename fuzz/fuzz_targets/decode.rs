#![no_main]
//! See `seqhound::fuzzing::decode`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| seqhound::fuzzing::decode(data));
