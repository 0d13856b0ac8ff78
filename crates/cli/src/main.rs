//! The `winkube` command.
use clap::Parser;

/// winkube: Windows containers as first-class citizens of Kubernetes.
#[derive(Parser)]
#[command(name = "winkube", version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
