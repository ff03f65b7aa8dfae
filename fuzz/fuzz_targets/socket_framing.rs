#![no_main]
//! See `seqhound::fuzzing::socket_framing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| seqhound::fuzzing::socket_framing(data));
