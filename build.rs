//! Generates the gRPC code of Vector's native protocol from `proto/` with a pure-Rust
//! protobuf compiler, so no `protoc` is needed on the build machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/vector.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // Sorted keys, as Vector serializes them.
        .btree_map(".")
        .codec_path("crate::source::vector::StrictCodec")
        .compile_fds(fds)?;
    Ok(())
}
