//! What would stop the rename that puts a finished result in place, found
//! before the work: a target that is a mount point (a file bound there), a
//! file in a sticky directory that belongs to someone else, a directory that
//! is append-only or immutable. Linux only; elsewhere nothing is found.

use std::path::Path;

/// Why a complete file could not be renamed to `target` (described by
/// `existing` where something is there already), or `None` where nothing is
/// known to stand in the way.
pub(super) fn refusal(target: &Path, existing: Option<&std::fs::Metadata>) -> Option<String> {
    let dir = super::directory_of(target);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        if let Some(why) = directory_flags(dir) {
            return Some(why);
        }
        let existing = existing?;
        if is_mount_point(target) {
            return Some(
                "is a mount point (a file bound there, as `docker run -v FILE:...` does): \
                 gpucalc writes a result beside its target and renames it into place, \
                 which a mount point refuses; write it elsewhere and copy it there"
                    .to_string(),
            );
        }
        let dir_meta = std::fs::metadata(dir).ok()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if sticky_refuses(dir_meta.mode(), dir_meta.uid(), existing.uid(), me) {
            return Some(format!(
                "belongs to another user and lies in a sticky directory ({}, as /tmp is), \
                 where only its owner may replace it",
                dir.display()
            ));
        }
    }
    let _ = (dir, existing);
    None
}

/// Whether a sticky directory (mode `dir_mode`, owned by `dir_uid`) keeps
/// user `me` from replacing a file of `file_uid` in it: only the file's or
/// the directory's owner may, or root.
fn sticky_refuses(dir_mode: u32, dir_uid: u32, file_uid: u32, me: u32) -> bool {
    const STICKY: u32 = 0o1000;
    dir_mode & STICKY != 0 && me != 0 && file_uid != me && dir_uid != me
}

/// Why no file in `dir` can be renamed into place: an append-only
/// (`chattr +a`: files may be created, none renamed or removed) or immutable
/// directory.
#[cfg(target_os = "linux")]
fn directory_flags(dir: &Path) -> Option<String> {
    use std::os::fd::AsRawFd;
    const FS_IMMUTABLE_FL: libc::c_long = 0x10;
    const FS_APPEND_FL: libc::c_long = 0x20;
    let file = std::fs::File::open(dir).ok()?;
    // The kernel writes an `int`; a zeroed `long` has room for it, and on the
    // little-endian machines gpucalc runs on the flags land in its low bits.
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes the inode's flags through a pointer to a
    // live local at least as large as what it writes; `file` stays open.
    let status = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if status != 0 {
        return None; // file systems without inode flags (tmpfs before 6.0, ...)
    }
    let what = if flags & FS_IMMUTABLE_FL != 0 {
        "immutable (chattr +i): nothing in it can be created, replaced or removed"
    } else if flags & FS_APPEND_FL != 0 {
        "append-only (chattr +a): files in it can be created but not renamed or removed"
    } else {
        return None;
    };
    Some(format!("its directory {} is {what}", dir.display()))
}

/// Whether `target` is the root of a mount (`statx`'s `STATX_ATTR_MOUNT_ROOT`,
/// Linux 5.8 and later; `false` where the kernel does not say).
#[cfg(target_os = "linux")]
fn is_mount_point(target: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(target.as_os_str().as_bytes()) else {
        return false;
    };
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `path` is NUL-terminated and `stx` is a statx for the call to fill.
    let status = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            0,
            libc::STATX_BASIC_STATS,
            stx.as_mut_ptr(),
        )
    };
    if status != 0 {
        return false;
    }
    // SAFETY: statx returned 0, so it filled `stx` (which started zeroed anyway).
    let stx = unsafe { stx.assume_init() };
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    stx.stx_attributes_mask & bit != 0 && stx.stx_attributes & bit != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_and_root_replace_files_in_sticky_directories() {
        let tmp = 0o1777;
        assert!(sticky_refuses(tmp, 0, 1000, 1001));
        assert!(!sticky_refuses(tmp, 0, 1000, 1000), "the file's owner");
        assert!(
            !sticky_refuses(tmp, 1001, 1000, 1001),
            "the directory's owner"
        );
        assert!(!sticky_refuses(tmp, 0, 1000, 0), "root");
        assert!(!sticky_refuses(0o777, 0, 1000, 1001), "not sticky");
    }

    /// A file bound onto another with `mount --bind`, where this process may
    /// (root with mount rights); otherwise the test says why it did nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_bound_over_the_target_is_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (dir.path().join("src.npy"), dir.path().join("x.npy"));
        std::fs::write(&source, b"a").unwrap();
        std::fs::write(&target, b"b").unwrap();
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(refusal(&target, Some(&meta)), None);
        let bound = std::process::Command::new("mount")
            .arg("--bind")
            .args([&source, &target])
            .output()
            .is_ok_and(|out| out.status.success());
        if !bound {
            eprintln!("skipped: cannot bind-mount a file here (not root?)");
            return;
        }
        let why = refusal(&target, Some(&meta));
        let _ = std::process::Command::new("umount").arg(&target).status();
        assert!(why.is_some_and(|why| why.contains("mount point")));
    }

    /// An append-only directory (`chattr +a`, root on ext4 and the like);
    /// otherwise the test says why it did nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_append_only_directory_is_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.npy");
        let chattr = |flag: &str| {
            std::process::Command::new("chattr")
                .arg(flag)
                .arg(dir.path())
                .output()
                .is_ok_and(|out| out.status.success())
        };
        if !chattr("+a") {
            eprintln!("skipped: chattr +a does not work here (not root, or no inode flags)");
            return;
        }
        let why = refusal(&target, None);
        assert!(chattr("-a"), "chattr -a");
        assert!(why.is_some_and(|why| why.contains("append-only")));
    }
}
