//! Prints what an image runs as, read with winkube's registry client:
//! `cargo run -p winkube-registry --example image_config -- REF [--insecure HOST]`.
//! One `key=value` line each for os, architecture, user, entrypoint and cmd (the
//! lists as JSON), for scripts such as `deploy/image-check.sh` to compare.

use std::time::Duration;

use winkube_registry::{ClientOptions, ImageReference, RegistryClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let reference = args
        .next()
        .ok_or("usage: image_config REF [--insecure HOST]...")?;
    let mut insecure = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--insecure" => insecure.push(args.next().ok_or("--insecure needs a HOST")?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let client = RegistryClient::new(ClientOptions {
        timeout: Duration::from_secs(10),
        insecure_registries: insecure,
        ..ClientOptions::default()
    })?;
    let r = ImageReference::parse(&reference).map_err(|e| format!("{reference}: {e}"))?;
    let c = client.config(&r, None).await?;
    println!("digest={}", c.digest);
    println!("os={}", c.platform.os);
    println!("architecture={}", c.platform.architecture);
    println!("user={}", c.user);
    println!("entrypoint={}", serde_json::to_string(&c.entrypoint)?);
    println!("cmd={}", serde_json::to_string(&c.cmd)?);
    Ok(())
}
