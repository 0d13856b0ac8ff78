//! Validation of every value a client sends before it can reach a host backend.
//!
//! Each accepted value becomes a newtype whose only constructors live here, and
//! the host traits take those newtypes: a backend cannot be handed a raw
//! request string. The rules are stricter than kubernetes-csi/csi-proxy's
//! (spec §4.1 and §6.2): they also apply to the volume group and `IsSymlink`,
//! check root boundaries on a separator, count UTF-16 units, and refuse
//! control characters, device names and `.`/`..` components.

use std::fmt;

use crate::error::{Error, Result};

/// Windows `MAX_PATH`, counted in UTF-16 code units as Windows counts it.
pub const MAX_PATH: usize = 260;

/// Characters Windows forbids in a path component (besides control characters).
const FORBIDDEN_IN_COMPONENT: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*'];

/// Device names in every directory, with or without an extension (Microsoft's
/// "Naming Files, Paths, and Namespaces"): the superscript digits ¹ ² ³ count
/// as digits for COM and LPT, and so does 0.
const RESERVED_DEVICE_NAMES: &[&str] = &[
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "CONIN$",
    "CONOUT$",
    "COM0",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "COM\u{b9}",
    "COM\u{b2}",
    "COM\u{b3}",
    "LPT0",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "LPT\u{b9}",
    "LPT\u{b2}",
    "LPT\u{b3}",
];

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Printable form of untrusted input for error messages (control characters escaped).
pub fn quoted(s: &str) -> String {
    let mut short: String = s.chars().take(300).collect();
    if short.len() < s.len() {
        short.push('…');
    }
    escaped(&format!("{short:?}")).into_owned()
}

/// Characters that change how the text around them is shown: C0/C1
/// controls, line and paragraph separators, and the Unicode bidirectional
/// and invisible format controls (U+202E turns `gpj.exe` into `exe.jpg`).
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `s` with every control, bidi and invisible format character written as
/// `\u{..}`: what error messages and logs show of text a client chose (paths
/// may legally contain U+202E; the message must not render it).
pub fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_deceptive) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_deceptive(c) {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The directories under which clients may name paths (`--kubelet-path`, `--working-dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRoots {
    roots: Vec<HostPath>,
}

impl AllowedRoots {
    /// Validates each root as an absolute drive path (no root check applies to roots themselves).
    pub fn new<I, S>(roots: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for r in roots {
            let p = parse_drive_path("working_dir", r.as_ref())?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            return Err(Error::invalid(
                "working_dir",
                "at least one allowed root is required",
            ));
        }
        Ok(AllowedRoots { roots: out })
    }

    /// The roots, as given.
    pub fn roots(&self) -> &[HostPath] {
        &self.roots
    }

    /// Validates `raw` as a path inside one of the roots (a root itself is allowed).
    pub fn path(&self, field: &'static str, raw: &str) -> Result<HostPath> {
        let p = parse_drive_path(field, raw)?;
        if self.roots.iter().any(|r| p.is_within(r)) {
            Ok(p)
        } else {
            let list: Vec<&str> = self.roots.iter().map(HostPath::as_str).collect();
            Err(Error::invalid(
                field,
                format!(
                    "path {} is not within the allowed directories [{}]",
                    quoted(raw),
                    list.join(", ")
                ),
            ))
        }
    }
}

/// An absolute, normalized Windows path on a drive (`C:\a\b`), already checked
/// against the allowed roots where that applies.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPath(String);

impl HostPath {
    /// The path text (`C:\var\lib\kubelet`; no trailing separator except for a drive root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive comparison key (NTFS is case-insensitive for these purposes).
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Whether `self` equals `root` or lies below it, on a separator boundary.
    pub fn is_within(&self, root: &HostPath) -> bool {
        let (p, r) = (self.key(), root.key());
        if p == r {
            return true;
        }
        let r = r.trim_end_matches('\\');
        p.len() > r.len() && p.starts_with(r) && p.as_bytes()[r.len()] == b'\\'
    }

    /// The parent directory, or `None` for a drive root.
    pub fn parent(&self) -> Option<HostPath> {
        if self.0.len() <= 3 {
            return None;
        }
        let idx = self.0.rfind('\\')?;
        let parent = if idx == 2 {
            &self.0[..3]
        } else {
            &self.0[..idx]
        };
        Some(HostPath(parent.to_string()))
    }

    /// The drive letter, upper case.
    pub fn drive(&self) -> char {
        self.0.chars().next().unwrap_or('C').to_ascii_uppercase()
    }

    /// The drive root (`C:\`).
    pub fn drive_root(&self) -> HostPath {
        HostPath(format!("{}:\\", self.drive()))
    }

    /// The components below the drive root, in order.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0
            .get(3..)
            .unwrap_or_default()
            .split('\\')
            .filter(|c| !c.is_empty())
    }

    /// Joins one already-valid component name (used by host models, not by request input).
    pub fn join(&self, name: &str) -> Result<HostPath> {
        let joined = if self.0.ends_with('\\') {
            format!("{}{}", self.0, name)
        } else {
            format!("{}\\{}", self.0, name)
        };
        parse_drive_path("path", &joined)
    }
}

impl fmt::Debug for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an absolute drive path without any root check.
///
/// Accepted: `X:\` followed by components separated by single `\`. A trailing
/// `\` is dropped. Rejected: empty, too long, relative, UNC / device / `\\?\`
/// prefixes, `/`, `.` and `..` components, empty components, names ending in
/// a dot or space, reserved device names, control and wildcard characters.
pub fn parse_drive_path(field: &'static str, raw: &str) -> Result<HostPath> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "path is empty"));
    }
    let units = raw.encode_utf16().count();
    if units > MAX_PATH {
        return Err(Error::invalid(
            field,
            format!("path length {units} exceeds the maximum of {MAX_PATH} characters"),
        ));
    }
    if has_control(raw) {
        return Err(Error::invalid(
            field,
            format!("path {} contains control characters", quoted(raw)),
        ));
    }
    if raw.starts_with("\\\\") || raw.starts_with("//") {
        return Err(Error::invalid(
            field,
            format!("UNC and device paths are not accepted: {}", quoted(raw)),
        ));
    }
    let bytes = raw.as_bytes();
    if bytes.len() < 3 || !bytes[0].is_ascii_alphabetic() || bytes[1] != b':' || bytes[2] != b'\\' {
        return Err(Error::invalid(
            field,
            format!("not an absolute Windows path (X:\\...): {}", quoted(raw)),
        ));
    }
    let rest = raw[3..].trim_end_matches('\\');
    if raw[3..].ends_with("\\\\") {
        return Err(Error::invalid(
            field,
            format!("path has an empty component: {}", quoted(raw)),
        ));
    }
    let mut out = String::with_capacity(raw.len());
    out.push(bytes[0].to_ascii_uppercase() as char);
    out.push_str(":\\");
    if rest.is_empty() {
        return Ok(HostPath(out));
    }
    for (i, comp) in rest.split('\\').enumerate() {
        check_component(field, raw, comp)?;
        if i > 0 {
            out.push('\\');
        }
        out.push_str(comp);
    }
    Ok(HostPath(out))
}

fn check_component(field: &'static str, raw: &str, comp: &str) -> Result<()> {
    if comp.is_empty() {
        return Err(Error::invalid(
            field,
            format!("path has an empty component: {}", quoted(raw)),
        ));
    }
    if comp == "." || comp == ".." {
        return Err(Error::invalid(
            field,
            format!(
                "path contains a relative component '{comp}': {}",
                quoted(raw)
            ),
        ));
    }
    if let Some(c) = comp.chars().find(|c| FORBIDDEN_IN_COMPONENT.contains(c)) {
        return Err(Error::invalid(
            field,
            format!("path contains invalid character {c:?}: {}", quoted(raw)),
        ));
    }
    if comp.ends_with('.') || comp.ends_with(' ') {
        // Win32 silently strips these, so the name would not mean what it says.
        return Err(Error::invalid(
            field,
            format!(
                "path component {comp:?} ends with a dot or space: {}",
                quoted(raw)
            ),
        ));
    }
    let stem = comp.split('.').next().unwrap_or(comp).trim_end();
    if RESERVED_DEVICE_NAMES
        .iter()
        .any(|d| d.eq_ignore_ascii_case(stem))
    {
        return Err(Error::invalid(
            field,
            format!(
                "path component {comp:?} is a reserved device name: {}",
                quoted(raw)
            ),
        ));
    }
    Ok(())
}

/// A volume identifier of the form `\\?\Volume{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}\`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VolumeId(String);

impl VolumeId {
    /// Validates a volume ID; the trailing `\` is optional on input and always present after.
    pub fn parse(field: &'static str, raw: &str) -> Result<VolumeId> {
        if raw.is_empty() {
            return Err(Error::invalid(field, "volume id is empty"));
        }
        let body = raw
            .strip_prefix("\\\\?\\Volume{")
            .and_then(|r| r.strip_suffix('\\').or(Some(r)))
            .and_then(|r| r.strip_suffix('}'));
        match body {
            Some(guid) if is_guid(guid) => Ok(VolumeId(format!(
                "\\\\?\\Volume{{{}}}\\",
                guid.to_ascii_lowercase()
            ))),
            _ => Err(Error::invalid(
                field,
                format!(
                    "volume id {} is not of the form \\\\?\\Volume{{GUID}}\\",
                    quoted(raw)
                ),
            )),
        }
    }

    /// Builds a volume ID from a GUID (host models and backends).
    pub fn from_guid(guid: &str) -> Result<VolumeId> {
        VolumeId::parse("volume_id", &format!("\\\\?\\Volume{{{guid}}}\\"))
    }

    /// The ID text, `\\?\Volume{...}\`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A value that must never be printed (SMB password, CHAP secret).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret, refusing NUL (it would truncate the value on the Win32 side).
    pub fn new(field: &'static str, raw: String) -> Result<Secret> {
        if raw.contains('\0') {
            return Err(Error::invalid(field, "contains a NUL character"));
        }
        if raw.len() > 1024 {
            return Err(Error::invalid(field, "is longer than 1024 bytes"));
        }
        Ok(Secret(raw))
    }

    /// The secret value, for handing to the host API only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// A user name for SMB or CHAP: printable, no control characters, at most 256 characters.
pub fn user_name(field: &'static str, raw: &str) -> Result<String> {
    if raw.chars().count() > 256 {
        return Err(Error::invalid(field, "is longer than 256 characters"));
    }
    if has_control(raw) {
        return Err(Error::invalid(
            field,
            format!("{} contains control characters", quoted(raw)),
        ));
    }
    Ok(raw.to_string())
}

/// An SMB remote path: the share root `\\host\share` and the full path below it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SmbPath {
    root: String,
    full: String,
}

impl SmbPath {
    /// Parses `\\host\share[\sub...]`, accepting `/` as separator like upstream.
    ///
    /// The host must be a DNS name or an IPv4 address; components must not
    /// contain control characters or any of `+ [ ] " / : ; | < > , ? * =`
    /// (the rule stated in the upstream proto), nor be `.` or `..`. A `$` is
    /// allowed only at the end of the share name (hidden shares such as `data$`).
    pub fn parse(field: &'static str, raw: &str) -> Result<SmbPath> {
        let norm = raw.replace('/', "\\");
        if norm.is_empty() {
            return Err(Error::invalid(field, "remote path is empty"));
        }
        if norm.encode_utf16().count() > MAX_PATH {
            return Err(Error::invalid(
                field,
                "remote path is longer than 260 characters",
            ));
        }
        if has_control(&norm) {
            return Err(Error::invalid(
                field,
                format!("remote path {} contains control characters", quoted(raw)),
            ));
        }
        let Some(rest) = norm.strip_prefix("\\\\") else {
            return Err(Error::invalid(
                field,
                format!(
                    "remote path {} is not of the form \\\\host\\share",
                    quoted(raw)
                ),
            ));
        };
        let rest = rest.trim_end_matches('\\');
        let comps: Vec<&str> = rest.split('\\').collect();
        if comps.len() < 2 || comps.iter().any(|c| c.is_empty()) {
            return Err(Error::invalid(
                field,
                format!(
                    "remote path {} is not of the form \\\\host\\share",
                    quoted(raw)
                ),
            ));
        }
        if comps[0] == "?" || comps[0] == "." {
            return Err(Error::invalid(
                field,
                format!("device paths are not SMB shares: {}", quoted(raw)),
            ));
        }
        host_name(field, comps[0])?;
        for (i, c) in comps[1..].iter().enumerate() {
            let c: &str = if i == 0 {
                c.strip_suffix('$').unwrap_or(c)
            } else {
                c
            };
            if c.is_empty() || c == "." || c == ".." {
                return Err(Error::invalid(
                    field,
                    format!("remote path {} has an invalid component", quoted(raw)),
                ));
            }
            // A backtick is PowerShell's escape character in wildcard patterns.
            if let Some(bad) = c.chars().find(|ch| "+[]\"/:;|<>,?*=$`".contains(*ch)) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "remote path {} contains invalid character {bad:?}",
                        quoted(raw)
                    ),
                ));
            }
        }
        Ok(SmbPath {
            root: format!("\\\\{}\\{}", comps[0], comps[1]).to_lowercase(),
            full: format!("\\\\{}", comps.join("\\")),
        })
    }

    /// `\\host\share`, lower case: what the global mapping is created for.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The whole path as given (normalized separators), used as link target.
    pub fn full(&self) -> &str {
        &self.full
    }

    /// The server part, lower case.
    pub fn host(&self) -> &str {
        self.root[2..].split('\\').next().unwrap_or_default()
    }

    /// The share name, lower case.
    pub fn share(&self) -> &str {
        self.root[2..].split('\\').nth(1).unwrap_or_default()
    }

    /// An administrative share: a drive (`C$`), `ADMIN$` or `IPC$`.
    pub fn is_admin_share(&self) -> bool {
        let s = self.share();
        let drive = s.len() == 2 && s.as_bytes()[0].is_ascii_alphabetic() && s.ends_with('$');
        drive || s == "admin$" || s == "ipc$"
    }

    /// The server as an IP address, in any form Windows' resolver accepts:
    /// IPv6 (also `*.ipv6-literal.net`), and IPv4 with 1 to 4 parts in
    /// decimal, hex (`0x`) or octal (leading `0`), as `inet_aton` reads them.
    pub fn host_ip(&self) -> Option<std::net::IpAddr> {
        let h = self.host();
        if let Ok(ip) = h.parse::<std::net::IpAddr>() {
            return Some(ip);
        }
        if let Some(lit) = h.strip_suffix(".ipv6-literal.net") {
            let v6 = lit.replace('-', ":");
            let v6 = v6.split('s').next().unwrap_or_default();
            return v6.parse::<std::net::Ipv6Addr>().ok().map(Into::into);
        }
        ipv4_any_form(h).map(Into::into)
    }

    /// The server is this machine's loopback: `localhost`, 127/8, 0.0.0.0, `::1`, `::`
    /// or an IPv4-mapped loopback, in any spelling.
    pub fn is_loopback(&self) -> bool {
        let h = self.host();
        if h == "localhost" || h.ends_with(".localhost") {
            return true;
        }
        match self.host_ip() {
            Some(std::net::IpAddr::V4(v4)) => v4.is_loopback() || v4.octets()[0] == 0,
            Some(std::net::IpAddr::V6(v6)) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6
                        .to_ipv4_mapped()
                        .is_some_and(|v4| v4.is_loopback() || v4.octets()[0] == 0)
            }
            None => false,
        }
    }
}

/// Reads an IPv4 address as `inet_aton` does: `a`, `a.b`, `a.b.c` or
/// `a.b.c.d`, each part decimal, `0x` hex or `0` octal; the last part fills
/// the remaining bytes. `None` when it is not such an address.
pub fn ipv4_any_form(s: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let n = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        nums.push(n);
    }
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (4 - head.len())) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, &n) in head.iter().enumerate() {
        v |= n << (8 * (3 - i));
    }
    v |= last;
    u32::try_from(v).ok().map(std::net::Ipv4Addr::from)
}

/// A DNS host name or IPv4/IPv6 literal.
pub fn host_name(field: &'static str, raw: &str) -> Result<String> {
    if raw.parse::<std::net::IpAddr>().is_ok() {
        return Ok(raw.to_string());
    }
    let ok = !raw.is_empty()
        && raw.len() <= 253
        && raw.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Error::invalid(
            field,
            format!("{} is not a valid host name or IP address", quoted(raw)),
        ))
    }
}

/// An iSCSI target portal: address and port (0 on the wire means 3260).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Portal {
    address: String,
    port: u16,
}

impl Portal {
    /// Default iSCSI port.
    pub const DEFAULT_PORT: u16 = 3260;

    /// Validates an address and a port, refusing ports that do not fit in 16 bits.
    pub fn new(address: &str, port: u32) -> Result<Portal> {
        let address = host_name("target_portal.target_address", address)?;
        let port = match port {
            0 => Portal::DEFAULT_PORT,
            p => u16::try_from(p).map_err(|_| {
                Error::invalid(
                    "target_portal.target_port",
                    format!("port {p} is above 65535"),
                )
            })?,
        };
        Ok(Portal { address, port })
    }

    /// The address (host name or IP literal).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// An iSCSI qualified name (`iqn.`, `eui.` or `naa.` form, RFC 3720/3980).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Iqn(String);

impl Iqn {
    /// Validates the name's format and character set.
    pub fn parse(field: &'static str, raw: &str) -> Result<Iqn> {
        let bad = |why: &str| Err(Error::invalid(field, format!("{} {why}", quoted(raw))));
        if raw.is_empty() {
            return Err(Error::invalid(field, "iqn is empty"));
        }
        if raw.len() > 223 {
            return bad("is longer than 223 bytes");
        }
        let lower = raw.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("iqn.") {
            // iqn.yyyy-mm.reversed.domain[:unique]
            let date_ok = rest.len() > 8
                && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && rest.as_bytes()[4] == b'-'
                && rest.as_bytes()[5..7].iter().all(u8::is_ascii_digit)
                && rest.as_bytes()[7] == b'.';
            if !date_ok {
                return bad("is not of the form iqn.yyyy-mm.naming-authority[:name]");
            }
            if !lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
            {
                return bad("contains characters other than a-z, 0-9, '.', '-' and ':'");
            }
            return Ok(Iqn(raw.to_string()));
        }
        for (prefix, len) in [("eui.", 16usize), ("naa.", 16), ("naa.", 32)] {
            let hex = lower.strip_prefix(prefix).unwrap_or_default();
            if hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(Iqn(raw.to_string()));
            }
        }
        bad("is not an iqn., eui. or naa. name")
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Windows service name: letters, digits, `_ . - $` and inner spaces, at most 256 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ServiceName(String);

impl ServiceName {
    /// Validates a service name.
    pub fn parse(field: &'static str, raw: &str) -> Result<ServiceName> {
        let ok = !raw.is_empty()
            && raw.len() <= 256
            && !raw.starts_with(' ')
            && !raw.ends_with(' ')
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-$ ".contains(&b));
        if ok {
            Ok(ServiceName(raw.to_string()))
        } else if raw.is_empty() {
            Err(Error::invalid(field, "service name is empty"))
        } else {
            Err(Error::invalid(
                field,
                format!(
                    "{} is not a valid service name (letters, digits, '_', '.', '-', '$', inner spaces)",
                    quoted(raw)
                ),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive key (the SCM ignores case).
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    fn roots() -> AllowedRoots {
        AllowedRoots::new([r"C:\var\lib\kubelet"]).unwrap()
    }

    #[test]
    fn upstream_mkdir_cases() {
        // kubernetes-csi/csi-proxy pkg/server/filesystem/server_test.go, working dir C:\var\lib\kubelet.
        let r = roots();
        for ok in [
            r"C:\var\lib\kubelet\pods\pod1\volumes\vol1",
            r"C:\var\lib\kubelet\plugins\csi-plugin\csi.sock",
            r"c:\var\lib\kubelet\plugins",
        ] {
            assert!(r.path("path", ok).is_ok(), "{ok}");
        }
        for bad in [
            r"C:\foo\bar",
            r"C:\var\lib\kubelet\pods\pod1:\volumes",
            r"C:/var/lib/kubelet/pods",
            r"C:\var\lib\kubelet\pods\*",
            r"C:\var\lib\kubelet\pods\?",
            r"C:\var\lib\kubelet\pods\|",
            r"C:\var\lib\kubelet\pods\..\..\..\foo",
            r"\\server\share\var\lib\kubelet",
            r"var\lib\kubelet\pods",
        ] {
            assert!(r.path("path", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_normalized_and_roots_checked_on_a_boundary() {
        let r = roots();
        assert_eq!(
            r.path("p", r"c:\var\lib\kubelet\pods\").unwrap().as_str(),
            r"C:\var\lib\kubelet\pods"
        );
        assert!(r.path("p", r"C:\var\lib\kubelet").is_ok());
        let e = r.path("p", r"C:\var\lib\kubeletx").unwrap_err();
        assert!(e.to_string().starts_with("invalid p: path"), "{e}");
        assert_eq!(parse_drive_path("p", r"D:\").unwrap().as_str(), r"D:\");
        let p = parse_drive_path("p", r"C:\a\b").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), r"C:\a");
        assert_eq!(p.parent().unwrap().parent().unwrap().as_str(), r"C:\");
        assert!(p.parent().unwrap().parent().unwrap().parent().is_none());
        // 260 UTF-16 units, not bytes: 'é' is 2 bytes but one unit.
        let long = format!(r"C:\var\lib\kubelet\{}", "é".repeat(241));
        assert_eq!(long.encode_utf16().count(), 260);
        assert!(r.path("p", &long).is_ok());
        assert!(r.path("p", &format!("{long}é")).is_err());
        // Only `.` and `..` themselves are relative: a name that starts with dots is a name
        // (found by the fuzz target, whose check had looked for the text `\..`).
        let dotted = r.path("p", r"C:\var\lib\kubelet\..si\.x").unwrap();
        assert_eq!(dotted.as_str(), r"C:\var\lib\kubelet\..si\.x");
        assert!(dotted.is_within(&r.path("p", r"C:\var\lib\kubelet").unwrap()));
        assert!(r.path("p", r"C:\var\lib\kubelet\..\x").is_err());
        assert!(r.path("p", r"C:\var\lib\kubelet\x..").is_err());
    }

    #[test]
    fn volume_ids() {
        let v = VolumeId::parse("v", r"\\?\Volume{0A1B2C3D-0000-4000-8000-000000000001}").unwrap();
        assert_eq!(
            v.as_str(),
            r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000001}\"
        );
        for bad in [
            "-1",
            r"\\?\Volume{}\",
            r"\\.\Volume{0a1b2c3d-0000-4000-8000-000000000001}\",
            "Volume{x}",
        ] {
            assert!(VolumeId::parse("v", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn smb_root_mapping_path() {
        // upstream TestGetRootMappingPath
        assert!(SmbPath::parse("r", "").is_err());
        assert!(SmbPath::parse("r", "hostname").is_err());
        for p in [
            r"\\hostname\path",
            r"\\hostname\path\",
            r"\\hostname\path\subpath",
            "//hostname/path/subpath",
        ] {
            assert_eq!(
                SmbPath::parse("r", p).unwrap().root(),
                r"\\hostname\path",
                "{p}"
            );
        }
        assert_eq!(
            SmbPath::parse("r", r"\\Host\Data$\A").unwrap().root(),
            r"\\host\data$"
        );
        assert_eq!(
            SmbPath::parse("r", r"\\Host\Data$\A").unwrap().full(),
            r"\\Host\Data$\A"
        );
        assert!(SmbPath::parse("r", r"\\10.0.0.1\s").is_ok());
    }

    #[test]
    fn portals_iqns_services() {
        assert_eq!(Portal::new("10.0.0.1", 0).unwrap().port(), 3260);
        assert_eq!(Portal::new("::1", 3261).unwrap().port(), 3261);
        assert!(Portal::new("10.0.0.1", 65536).is_err());
        assert!(Iqn::parse("i", "iqn.1991-05.com.microsoft:host-1").is_ok());
        assert!(Iqn::parse("i", "eui.02004567A425678D").is_ok());
        assert!(Iqn::parse("i", "naa.52004567BA64678D").is_ok());
        assert!(ServiceName::parse("n", "MSiSCSI").is_ok());
        assert!(ServiceName::parse("n", "MSSQL$INSTANCE").is_ok());
        assert!(ServiceName::parse("n", "a/b").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("p", "hunter2".into()).unwrap();
        assert_eq!(format!("{s:?}"), "\"<redacted>\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
