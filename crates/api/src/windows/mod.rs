//! Windows facts that several parts of winkube share. Pure data, no I/O.
//!
//! - well-known node labels and the (configurable) Windows taint;
//! - the Windows Server build table and the host/image compatibility rules
//!   (process isolation: exact build below 20348, previous LTSC from 20348 on;
//!   Hyper-V isolation: host build ≥ image build);
//! - container image references (docker.io defaults) and image platforms as a registry
//!   reports them;
//! - RuntimeClass generation for process and Hyper-V isolation per build.

mod build;
mod image;
mod runtime_class;
mod taint;

pub use build::{
    Channel, Isolation, RELEASES, WindowsBuild, WindowsRelease, compatible, release_by_name,
    server_builds,
};
pub use image::{DOCKER_HUB, ImagePlatform, ImagePlatforms, ImageReference};
pub use runtime_class::{
    RuntimeClassOptions, build_slug, generate_runtime_classes, runtime_class_isolation,
    runtime_class_name,
};
pub use taint::Taint;

/// Node label set by the kubelet on every node: `windows` or `linux`.
pub const LABEL_OS: &str = "kubernetes.io/os";
/// Node label set by the kubelet: `amd64`, `arm64`, ...
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
/// Node label set by the kubelet on Windows nodes: `major.minor.build`, no revision.
pub const LABEL_WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
/// Label winkube puts on the RuntimeClasses it generates: `process` or `hyperv`.
pub const LABEL_ISOLATION: &str = "windows.winkube.io/isolation";
/// Annotation on generated RuntimeClasses: the Windows build the class is for.
pub const ANNOTATION_BUILD: &str = "windows.winkube.io/build";

pub const OS_WINDOWS: &str = "windows";
pub const OS_LINUX: &str = "linux";

/// containerd's default Windows handler (process isolation).
pub const DEFAULT_PROCESS_HANDLER: &str = "runhcs-wcow-process";
/// containerd's built-in Hyper-V handler (containerd 1.7+). Sites often use one per guest
/// build instead (`runhcs-wcow-hypervisor-17763`): the handler is configurable.
pub const DEFAULT_HYPERV_HANDLER: &str = "runhcs-wcow-hypervisor";

/// Errors of the Windows data helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowsError {
    #[error(
        "invalid Windows build {0:?}: expected major.minor.build such as 10.0.17763 (or a release name such as 2019, ltsc2022)"
    )]
    InvalidBuild(String),
    #[error(
        "invalid taint {0:?}: expected key=value:Effect or key:Effect with effect NoSchedule, PreferNoSchedule or NoExecute"
    )]
    InvalidTaint(String),
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidImageReference { reference: String, reason: String },
    #[error("invalid handler template {0:?}: {1}")]
    InvalidHandler(String, String),
}
