//! The few Win32 calls the Windows backend makes directly, for the frequent
//! read-only queries (volume stats, volume names, mount points): no process
//! is spawned for them. The only `unsafe` code of the crate; each call passes
//! NUL-terminated buffers that outlive it and checks the result.
#![allow(unsafe_code)] // Win32 FFI; see the SAFETY notes

use std::io;

use windows_sys::Win32::Storage::FileSystem::{
    GetDiskFreeSpaceExW, GetVolumeInformationW, GetVolumeNameForVolumeMountPointW,
    GetVolumePathNamesForVolumeNameW,
};

const ERROR_MORE_DATA: i32 = 234;
const ERROR_UNRECOGNIZED_VOLUME: i32 = 1005;

/// `s` as a NUL-terminated UTF-16 string.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Splits a `REG_MULTI_SZ`-style buffer (strings ended by NUL, the list by an empty one).
pub fn split_multi_sz(buf: &[u16]) -> Vec<String> {
    buf.split(|&c| c == 0)
        .take_while(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

/// Total and free bytes of the volume whose root (`X:\` or `\\?\Volume{..}\`) is `root`.
pub fn disk_space(root: &str) -> io::Result<(u64, u64)> {
    let w = wide(root);
    let (mut avail, mut total, mut free) = (0u64, 0u64, 0u64);
    // SAFETY: `w` is NUL-terminated and alive for the call; the three out
    // pointers are valid, distinct u64s.
    let ok = unsafe { GetDiskFreeSpaceExW(w.as_ptr(), &mut avail, &mut total, &mut free) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((total, free))
}

/// The file system of the volume at `root` (`NTFS`, `ReFS`, ...); `None` when
/// the volume has none Windows recognises (RAW, never formatted).
pub fn file_system(root: &str) -> io::Result<Option<String>> {
    let w = wide(root);
    let mut fs = [0u16; 64];
    // SAFETY: `w` is NUL-terminated; `fs` holds the 64 units passed as its
    // length; the other out parameters are optional and passed as null.
    let ok = unsafe {
        GetVolumeInformationW(
            w.as_ptr(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            fs.as_mut_ptr(),
            64,
        )
    };
    if ok == 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(ERROR_UNRECOGNIZED_VOLUME) {
            return Ok(None);
        }
        return Err(e);
    }
    let name = split_multi_sz(&fs).into_iter().next().unwrap_or_default();
    Ok((!name.is_empty() && name != "RAW").then_some(name))
}

/// `\\?\Volume{GUID}\` of the volume mounted at `mount_point` (`C:\`, `C:\mnt\x\`).
pub fn volume_name(mount_point: &str) -> io::Result<String> {
    let w = wide(mount_point);
    // "\\?\Volume{GUID}\" is 49 characters plus NUL; MSDN asks for 50.
    let mut buf = [0u16; 64];
    // SAFETY: `w` is NUL-terminated; `buf` holds the 64 units we pass as its length.
    let ok = unsafe { GetVolumeNameForVolumeMountPointW(w.as_ptr(), buf.as_mut_ptr(), 64) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(split_multi_sz(&buf).into_iter().next().unwrap_or_default())
}

/// Every path the volume is mounted at: drive roots and folders, each ending in `\`.
pub fn volume_paths(volume: &str) -> io::Result<Vec<String>> {
    let w = wide(volume);
    let mut len: u32 = 256;
    loop {
        let mut buf = vec![0u16; len as usize];
        let mut needed: u32 = 0;
        // SAFETY: `w` is NUL-terminated; `buf` holds `len` units; `needed` is a valid u32.
        let ok = unsafe {
            GetVolumePathNamesForVolumeNameW(w.as_ptr(), buf.as_mut_ptr(), len, &mut needed)
        };
        if ok != 0 {
            return Ok(split_multi_sz(&buf));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(ERROR_MORE_DATA) || needed <= len {
            return Err(e);
        }
        len = needed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_sz_lists_end_at_the_empty_string() {
        let buf: Vec<u16> = "C:\\\0C:\\mnt\\x\\\0\0garbage".encode_utf16().collect();
        assert_eq!(split_multi_sz(&buf), ["C:\\", "C:\\mnt\\x\\"]);
        assert!(split_multi_sz(&[0, 0]).is_empty());
    }

    #[test]
    fn the_system_drive_has_a_volume_name_and_space() {
        // Runs under Wine too: its C: is a real directory with a volume GUID.
        let name = volume_name("C:\\").expect("volume of C:");
        assert!(name.starts_with("\\\\?\\Volume{"), "{name}");
        let (total, free) = disk_space("C:\\").expect("space of C:");
        assert!(total > 0 && free <= total);
        assert!(file_system("C:\\").expect("file system of C:").is_some());
    }
}
