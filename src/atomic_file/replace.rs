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
        if sticky_refuses(dir_meta.mode(), dir_meta.uid(), existing.uid(), me, || {
            may_override_sticky(existing.uid(), existing.gid())
        }) {
            return Some(format!(
                "belongs to another user and lies in a sticky directory ({}, as /tmp is), \
                 where only its owner may replace it",
                shown(dir).display()
            ));
        }
    }
    let _ = (dir, existing);
    None
}

/// `dir` as a message shows it: its full path where it resolves (`.` and
/// `..` say little in a message).
#[cfg(target_os = "linux")]
fn shown(dir: &Path) -> std::borrow::Cow<'_, Path> {
    std::fs::canonicalize(dir).map_or(dir.into(), Into::into)
}

/// Whether a sticky directory (mode `dir_mode`, owned by `dir_uid`) keeps
/// user `me` from replacing a file of `file_uid` in it: only the file's or
/// the directory's owner may, or a process `privileged` says may override.
fn sticky_refuses(
    dir_mode: u32,
    dir_uid: u32,
    file_uid: u32,
    me: u32,
    privileged: impl FnOnce() -> bool,
) -> bool {
    const STICKY: u32 = 0o1000;
    dir_mode & STICKY != 0 && file_uid != me && dir_uid != me && !privileged()
}

/// Whether this process may replace a file of `uid`:`gid` in a sticky
/// directory that neither it nor the file belongs to: it holds `CAP_FOWNER`
/// (root has it, unless dropped, as containers often do) and both ids are
/// mapped into its user namespace, as the kernel asks. Where `/proc` does not
/// say, it may: a refusal that is wrong would stop a job that works.
#[cfg(target_os = "linux")]
fn may_override_sticky(uid: u32, gid: u32) -> bool {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let mapped = |map: &str, id: u32| read(map).is_none_or(|map| id_is_mapped(&map, id));
    read("/proc/self/status").is_none_or(|status| has_cap_fowner(&status))
        && mapped("/proc/self/uid_map", uid)
        && mapped("/proc/self/gid_map", gid)
}

/// Whether a `/proc/self/status` text gives CAP_FOWNER among the effective
/// capabilities (yes where it does not say).
fn has_cap_fowner(status: &str) -> bool {
    const CAP_FOWNER: u32 = 3;
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_none_or(|caps| caps & (1 << CAP_FOWNER) != 0)
}

/// Whether `id`, as this process sees it, lies in a range of `id_map`
/// (`/proc/self/uid_map`: lines of inside, outside and count). The kernel
/// shows an owner outside the map as the overflow id, 65534; where a range
/// holds 65534 as well (rootless containers' subordinate ranges do), such an
/// owner looks mapped and the rename may still fail after the work, as it
/// did before this check: a refusal that is wrong would stop a job that works.
fn id_is_mapped(id_map: &str, id: u32) -> bool {
    id_map.lines().any(|line| {
        let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
        match (fields.next().flatten(), fields.nth(1).flatten()) {
            (Some(inside), Some(count)) => (inside..inside + count).contains(&u64::from(id)),
            _ => false,
        }
    })
}

/// Why no file in `dir` can be renamed into place: an append-only
/// (`chattr +a`: files may be created, none renamed or removed) or immutable
/// directory.
#[cfg(target_os = "linux")]
fn directory_flags(dir: &Path) -> Option<String> {
    use std::os::fd::AsRawFd;
    const FS_IMMUTABLE_FL: libc::c_int = 0x10;
    const FS_APPEND_FL: libc::c_int = 0x20;
    let file = std::fs::File::open(dir).ok()?;
    // The ioctl is declared with a `long *`, but every file system writes an
    // `int` through it (as chattr and the kernel's compat layer assume).
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes the inode's flags, an `int`, through a
    // pointer to a live local `int`; `file` stays open.
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
    Some(format!("its directory {} is {what}", shown(dir).display()))
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
    fn ids_outside_the_namespace_maps_are_unmapped() {
        let init = "         0          0 4294967295\n";
        assert!(id_is_mapped(init, 0) && id_is_mapped(init, 65534));
        // A namespace that maps only its root: an owner shown as 65534 is
        // one outside the map.
        assert!(id_is_mapped("0 1000 1\n", 0));
        assert!(!id_is_mapped("0 1000 1\n", 65534));
        // A rootless container: its 0 is the host's 1000, 1.. a subordinate
        // range, which holds 65534 too: then 65534 cannot be told from an
        // owner outside the map, and is not refused.
        let rootless = "0 1000 1\n1 100000 65536\n";
        assert!(id_is_mapped(rootless, 0));
        assert!(id_is_mapped(rootless, 65534));
        assert!(id_is_mapped(rootless, 65536));
        assert!(!id_is_mapped(rootless, 65537));
        assert!(!id_is_mapped("", 0));
    }

    #[test]
    fn cap_fowner_is_read_from_the_effective_set() {
        let status = |caps: &str| format!("Name:\tgpucalc\nCapInh:\t0\nCapEff:\t{caps}\n");
        assert!(has_cap_fowner(&status("000001ffffffffff")), "root");
        assert!(
            !has_cap_fowner(&status("000001fffefffff7")),
            "less CAP_FOWNER"
        );
        assert!(
            has_cap_fowner(&status("0000000000000008")),
            "only CAP_FOWNER"
        );
        assert!(!has_cap_fowner(&status("0000000000000000")), "a user");
        assert!(has_cap_fowner("Name:\tx\n"), "not said: not refused");
    }

    #[test]
    fn only_owners_and_the_privileged_replace_files_in_sticky_directories() {
        let tmp = 0o1777;
        let no = || false;
        assert!(sticky_refuses(tmp, 0, 1000, 1001, no));
        assert!(!sticky_refuses(tmp, 0, 1000, 1000, no), "the file's owner");
        assert!(
            !sticky_refuses(tmp, 1001, 1000, 1001, no),
            "the directory's owner"
        );
        assert!(!sticky_refuses(tmp, 1001, 1000, 0, || true), "CAP_FOWNER");
        assert!(
            sticky_refuses(tmp, 1001, 1000, 0, no),
            "root without CAP_FOWNER"
        );
        assert!(!sticky_refuses(0o777, 0, 1000, 1001, no), "not sticky");
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
