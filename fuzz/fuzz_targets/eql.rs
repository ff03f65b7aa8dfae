#![no_main]
//! See `seqhound::fuzzing::eql`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| seqhound::fuzzing::eql(data));
