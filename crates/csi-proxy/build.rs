//! Generates the prost/tonic code for every served group/version from `proto/`.
//!
//! `protox` parses the .proto files in pure Rust, so a build needs no `protoc`
//! on the machine. Each group/version is generated into its own directory
//! because several groups share one proto package (`v1`, `v1alpha1`, ...):
//! keeping them apart gives one Rust module per group and version.

use std::error::Error;
use std::path::PathBuf;

/// Every group/version served by kubernetes-csi/csi-proxy master (23 pipes).
const APIS: &[(&str, &[&str])] = &[
    ("disk", &["v1alpha1", "v1beta1", "v1beta2", "v1beta3", "v1"]),
    (
        "filesystem",
        &["v1alpha1", "v1beta1", "v1beta2", "v1", "v2alpha1"],
    ),
    (
        "volume",
        &[
            "v1alpha1", "v1beta1", "v1beta2", "v1beta3", "v1", "v2alpha1",
        ],
    ),
    ("smb", &["v1alpha1", "v1beta1", "v1beta2", "v1"]),
    ("iscsi", &["v1alpha1", "v1alpha2"]),
    ("system", &["v1alpha1"]),
];

fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");
    // Every served method, so per-call metrics label only methods that exist
    // (the request path is the client's: an unknown one must not add a series).
    let mut methods = String::from(
        "/// (group, version, gRPC service, method) of every served method.\n\
         pub const METHODS: &[(&str, &str, &str, &str)] = &[\n",
    );
    for (group, versions) in APIS {
        for version in *versions {
            let file = format!("{group}/{version}/api.proto");
            println!("cargo:rerun-if-changed=proto/{file}");
            let fds = protox::compile([file.as_str()], ["proto"])?;
            for f in fds.file.iter().filter(|f| f.name() == file) {
                for service in &f.service {
                    for method in &service.method {
                        methods.push_str(&format!(
                            "    ({group:?}, {version:?}, \"{}.{}\", {:?}),\n",
                            f.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
            let dir = out.join(group);
            std::fs::create_dir_all(&dir)?;
            tonic_prost_build::configure()
                .build_server(true)
                .build_client(true)
                // Deterministic map order, so encoded responses are reproducible.
                .btree_map(".")
                .emit_rerun_if_changed(false)
                .out_dir(&dir)
                .compile_fds(fds)?;
        }
    }
    methods.push_str("];\n");
    std::fs::write(out.join("methods.rs"), methods)?;
    Ok(())
}
