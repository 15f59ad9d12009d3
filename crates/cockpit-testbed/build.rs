//! Compiles `proto/` with protox (pure Rust: no `protoc` needed) into the
//! server side of the agent and retrieval services.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let file = format!("{proto_root}/cockpit/agent/v1/agent.proto");
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([&file], [proto_root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
