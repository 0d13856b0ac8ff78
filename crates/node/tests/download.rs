//! Binaries from the release site (a local HTTP server here) or a directory, verified
//! against their published `.sha256`: a mismatch stages nothing.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;
use winkube_node::Error;
use winkube_node::artifacts::{BinarySource, Downloader, expected_artifacts, stage};
use winkube_node::version::KubernetesVersion;

fn v() -> KubernetesVersion {
    KubernetesVersion::parse("v1.31.2").unwrap()
}

const DIR: &str = "/release/v1.31.2/bin/windows/amd64";

fn publish(site: &Site) {
    for n in ["kubelet.exe", "kubeadm.exe"] {
        let b = binary(n);
        site.put(&format!("{DIR}/{n}"), &b);
        site.put(&format!("{DIR}/{n}.sha256"), sha(&b).as_bytes());
    }
}

#[tokio::test]
async fn downloads_are_verified_and_only_checksums_are_fetched_to_plan() {
    let site = Site::default();
    publish(&site);
    let base = site.serve().await;
    let d = Downloader::new(Duration::from_secs(10)).unwrap();
    let source = BinarySource::Download {
        base: base.clone(),
        timeout: Duration::from_secs(10),
    };
    let arts = expected_artifacts(&source, v(), Some(&d)).await.unwrap();
    assert_eq!(arts.len(), 2);
    assert_eq!(arts[0].sha256, sha(&binary("kubelet.exe")));
    assert_eq!(
        arts[0].source,
        format!("{base}/v1.31.2/bin/windows/amd64/kubelet.exe")
    );
    // Planning fetched the checksums only.
    assert_eq!(site.hits(&format!("{DIR}/kubelet.exe")), 0);
    assert_eq!(site.hits(&format!("{DIR}/kubelet.exe.sha256")), 1);

    let staging = tempfile::tempdir().unwrap();
    let dest = staging.path().join("kubelet.exe");
    stage(&arts[0], &dest, Some(&d)).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), binary("kubelet.exe"));
}

#[tokio::test]
async fn a_checksum_mismatch_stages_nothing() {
    let site = Site::default();
    publish(&site);
    // The binary served is not the one the checksum was published for.
    site.put(&format!("{DIR}/kubeadm.exe"), b"MZ tampered");
    let base = site.serve().await;
    let d = Downloader::new(Duration::from_secs(10)).unwrap();
    let source = BinarySource::Download {
        base,
        timeout: Duration::from_secs(10),
    };
    let arts = expected_artifacts(&source, v(), Some(&d)).await.unwrap();
    let staging = tempfile::tempdir().unwrap();
    let dest = staging.path().join("kubeadm.exe");
    let e = stage(&arts[1], &dest, Some(&d)).await.unwrap_err();
    assert!(matches!(e, Error::ChecksumMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("kubeadm.exe") && msg.contains(&sha(b"MZ tampered")),
        "{msg}"
    );
    assert!(msg.contains("nothing was installed"), "{msg}");
    assert!(!dest.exists(), "the bad download was left behind");
}

#[tokio::test]
async fn redirects_are_followed_and_errors_name_the_url() {
    let site = Site::default();
    publish(&site);
    // The release site redirects to its CDN.
    let b = binary("kubelet.exe");
    site.put("/cdn/kubelet.exe", &b);
    site.redirect(&format!("{DIR}/kubelet.exe"), "/cdn/kubelet.exe");
    let base = site.serve().await;
    let d = Downloader::new(Duration::from_secs(10)).unwrap();
    let source = BinarySource::Download {
        base: base.clone(),
        timeout: Duration::from_secs(10),
    };
    let arts = expected_artifacts(&source, v(), Some(&d)).await.unwrap();
    let staging = tempfile::tempdir().unwrap();
    stage(&arts[0], &staging.path().join("k"), Some(&d))
        .await
        .unwrap();
    assert_eq!(site.hits("/cdn/kubelet.exe"), 1);

    // An unpublished version: 404 on its checksum, named.
    let other = KubernetesVersion::parse("v1.30.0").unwrap();
    let e = expected_artifacts(&source, other, Some(&d))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("v1.30.0/bin/windows/amd64/kubelet.exe.sha256") && e.contains("404"),
        "{e}"
    );

    // A checksum file that is not one.
    site.put(
        &format!("{DIR}/kubelet.exe.sha256"),
        b"<html>maintenance</html>",
    );
    let e = expected_artifacts(&source, v(), Some(&d))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kubelet.exe.sha256") && e.contains("64 hex digits"),
        "{e}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_except_to_loopback() {
    let d = Downloader::new(Duration::from_secs(5)).unwrap();
    let source = BinarySource::Download {
        base: "http://mirror.example.com/release".into(),
        timeout: Duration::from_secs(5),
    };
    let e = expected_artifacts(&source, v(), Some(&d))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not https"), "{e}");
}

#[tokio::test]
async fn a_directory_is_checked_against_its_sha256_files() {
    let dir = tempfile::tempdir().unwrap();
    binaries_dir(dir.path());
    let source = BinarySource::Dir(dir.path().to_path_buf());
    let arts = expected_artifacts(&source, v(), None).await.unwrap();
    assert_eq!(arts[1].sha256, sha(&binary("kubeadm.exe")));

    std::fs::write(dir.path().join("kubeadm.exe"), b"MZ other").unwrap();
    let e = expected_artifacts(&source, v(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("checksum mismatch") && e.contains("kubeadm.exe"),
        "{e}"
    );

    std::fs::remove_file(dir.path().join("kubelet.exe.sha256")).unwrap();
    let e = expected_artifacts(&source, v(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read") && e.contains("kubelet.exe.sha256"),
        "{e}"
    );

    let missing = BinarySource::Dir(dir.path().join("nope"));
    let e = expected_artifacts(&missing, v(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
}
