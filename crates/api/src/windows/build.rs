//! Windows builds: the Windows Server build table and the host/image compatibility rules
//! (process isolation: exact build below 20348, previous LTSC from 20348 on; Hyper-V
//! isolation: host build ≥ image build).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::WindowsError;

/// A Windows version truncated to `major.minor.build` (the revision never matters for
/// matching from 1809 on, and the node label has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowsBuild {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
}

impl WindowsBuild {
    pub const fn new(major: u32, minor: u32, build: u32) -> Self {
        Self {
            major,
            minor,
            build,
        }
    }

    /// A Windows 10.0 build number.
    pub const fn ten(build: u32) -> Self {
        Self::new(10, 0, build)
    }

    /// Parses `10.0.17763`, `10.0.17763.1234` (revision dropped), or a release name from
    /// the build table (`2019`, `ltsc2022`, `1809`, ...).
    pub fn parse(s: &str) -> Result<Self, WindowsError> {
        let t = s.trim();
        if let Some(r) = release_by_name(t) {
            return Ok(r.build);
        }
        let parts: Vec<&str> = t.split('.').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(WindowsError::InvalidBuild(s.to_owned()));
        }
        let mut nums = [0u32; 4];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(WindowsError::InvalidBuild(s.to_owned()));
            }
            nums[i] = p
                .parse()
                .map_err(|_| WindowsError::InvalidBuild(s.to_owned()))?;
        }
        Ok(Self::new(nums[0], nums[1], nums[2]))
    }

    /// The release of the build table with this build, if known.
    pub fn release(&self) -> Option<&'static WindowsRelease> {
        RELEASES.iter().find(|r| r.build == *self)
    }

    /// Short human name: `10.0.17763 (Windows Server 2019)`.
    pub fn describe(&self) -> String {
        match self.release() {
            Some(r) => format!("{self} ({})", r.name),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for WindowsBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

impl FromStr for WindowsBuild {
    type Err = WindowsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for WindowsBuild {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WindowsBuild {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Servicing channel of a Windows release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Long-Term Servicing Channel.
    Ltsc,
    /// Semi-Annual / Annual Channel (all end-of-life except 23H2).
    Sac,
    /// A client release (Windows 11), listed for completeness.
    Client,
}

/// One row of the build table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowsRelease {
    pub name: &'static str,
    /// Short name used in generated resource names (`2019`, `1809`, ...).
    pub short: &'static str,
    /// Names accepted for this release besides the build (`ltsc2019`, `1809`, ...).
    pub aliases: &'static [&'static str],
    pub channel: Channel,
    pub build: WindowsBuild,
}

/// The Windows Server build table (containerd `platform_windows_compat.go`, hcsshim
/// `osversion`).
pub const RELEASES: &[WindowsRelease] = &[
    WindowsRelease {
        name: "Windows Server 2016",
        short: "2016",
        aliases: &["ltsc2016", "1607", "rs1"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(14393),
    },
    WindowsRelease {
        name: "Windows Server 1709",
        short: "1709",
        aliases: &["rs3"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(16299),
    },
    WindowsRelease {
        name: "Windows Server 1803",
        short: "1803",
        aliases: &["rs4"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(17134),
    },
    WindowsRelease {
        name: "Windows Server 2019",
        short: "2019",
        aliases: &["ltsc2019", "1809", "rs5"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(17763),
    },
    WindowsRelease {
        name: "Windows Server 1903",
        short: "1903",
        aliases: &["19h1"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(18362),
    },
    WindowsRelease {
        name: "Windows Server 1909",
        short: "1909",
        aliases: &["19h2"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(18363),
    },
    WindowsRelease {
        name: "Windows Server 2004",
        short: "2004",
        aliases: &["20h1"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(19041),
    },
    WindowsRelease {
        name: "Windows Server 20H2",
        short: "20h2",
        aliases: &[],
        channel: Channel::Sac,
        build: WindowsBuild::ten(19042),
    },
    WindowsRelease {
        name: "Windows Server 2022",
        short: "2022",
        aliases: &["ltsc2022", "21h2"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(20348),
    },
    WindowsRelease {
        name: "Windows 11 22H2",
        short: "22h2",
        aliases: &[],
        channel: Channel::Client,
        build: WindowsBuild::ten(22621),
    },
    WindowsRelease {
        name: "Windows Server 23H2",
        short: "23h2",
        aliases: &[],
        channel: Channel::Sac,
        build: WindowsBuild::ten(25398),
    },
    WindowsRelease {
        name: "Windows Server 2025",
        short: "2025",
        aliases: &["ltsc2025", "24h2"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(26100),
    },
];

/// LTSC builds that newer hosts keep running under process isolation (containerd
/// `compatLTSCReleases`).
const COMPAT_LTSC: &[u32] = &[20348, 26100];

/// Finds a release by its short name or alias (`2019`, `ltsc2019`, `1809`), case-insensitive.
pub fn release_by_name(name: &str) -> Option<&'static WindowsRelease> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("windows server ").unwrap_or(&n);
    RELEASES
        .iter()
        .find(|r| r.short == n || r.aliases.contains(&n))
}

/// The Windows Server builds a cluster may run (the server rows of the table).
pub fn server_builds() -> impl Iterator<Item = WindowsBuild> {
    RELEASES
        .iter()
        .filter(|r| r.channel != Channel::Client)
        .map(|r| r.build)
}

/// How a Windows container is isolated from its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    Process,
    #[serde(rename = "hyperv")]
    HyperV,
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isolation::Process => "process",
            Isolation::HyperV => "hyperv",
        })
    }
}

/// May a container image built for `image` run on a host of build `host`?
///
/// Process isolation: major and minor equal; below 20348 the build must match exactly;
/// from 20348 the image may be anything from the host's previous LTSC up to the host.
/// Hyper-V isolation: the image must not be newer than the host.
pub fn compatible(isolation: Isolation, host: WindowsBuild, image: WindowsBuild) -> bool {
    if host.major != image.major || host.minor != image.minor {
        return false;
    }
    match isolation {
        Isolation::HyperV => image.build <= host.build,
        Isolation::Process => {
            if host.build < COMPAT_LTSC[0] {
                return image.build == host.build;
            }
            // The newest LTSC strictly older than the host, or the host's own LTSC floor.
            let floor = COMPAT_LTSC
                .iter()
                .copied()
                .filter(|&b| b < host.build)
                .max()
                .unwrap_or(COMPAT_LTSC[0]);
            floor <= image.build && image.build <= host.build
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(n: u32) -> WindowsBuild {
        WindowsBuild::ten(n)
    }

    #[test]
    fn parses_builds() {
        assert_eq!(WindowsBuild::parse("10.0.17763").unwrap(), b(17763));
        assert_eq!(WindowsBuild::parse("10.0.20348.2227").unwrap(), b(20348));
        assert_eq!(WindowsBuild::parse("ltsc2025").unwrap(), b(26100));
        assert_eq!(WindowsBuild::parse("2019").unwrap(), b(17763));
        assert_eq!(WindowsBuild::parse("1809").unwrap(), b(17763));
        for bad in ["", "10.0", "10.0.x", "10.0.1.2.3", "10..17763", "-1.0.1"] {
            assert!(WindowsBuild::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(b(17763).to_string(), "10.0.17763");
        assert_eq!(b(17763).describe(), "10.0.17763 (Windows Server 2019)");
        assert!(b(17763) < b(20348));
    }

    #[test]
    fn process_isolation_rule() {
        let table = [
            (17763, 17763, true),
            (17763, 14393, false),
            (20348, 17763, false),
            (20348, 20348, true),
            (26100, 20348, true),
            (26100, 26100, true),
            (26100, 17763, false),
            (20348, 26100, false),
            (26200, 20348, false),
            (26200, 26100, true),
            (25398, 20348, true),
            (17763, 18362, false),
        ];
        for (host, image, want) in table {
            assert_eq!(
                compatible(Isolation::Process, b(host), b(image)),
                want,
                "host {host} image {image}"
            );
        }
        assert!(!compatible(
            Isolation::Process,
            WindowsBuild::new(6, 3, 17763),
            b(17763)
        ));
    }

    #[test]
    fn hyperv_rule() {
        assert!(compatible(Isolation::HyperV, b(20348), b(17763)));
        assert!(compatible(Isolation::HyperV, b(26100), b(14393)));
        assert!(!compatible(Isolation::HyperV, b(17763), b(20348)));
    }
}
