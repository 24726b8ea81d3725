//! Files written whole or not at all: data goes to a temporary file beside the
//! target, which replaces the target only once it is complete and on disk.
//!
//! Temporary files remove themselves when dropped; a process that exits
//! without unwinding (a second Ctrl-C) goes through [`end_unless`], so no
//! hidden `.gpucalc-*.tmp` file is left holding a half-written result.

mod replace;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

pub(crate) fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Whether a result file has replaced (or become) its target in this
/// process ([`publish`]): from then on the command is finishing its report,
/// and an interruption would claim a run stopped that in fact delivered.
static PUBLISHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The paths of the temporary files not yet published or dropped.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// For a signal handler: decides, under the lock that [`publish`] renames
/// under, whether the process ends. `let_pass` is told whether a result file
/// is in place (never a rename half done) and says whether to let the signal
/// pass; otherwise every temporary file still being written is removed and
/// `end` (an exit that skips destructors) is called with the lock still
/// held, so no result can land between the decision and the exit.
pub(crate) fn end_unless(let_pass: impl FnOnce(bool) -> bool, end: impl FnOnce()) {
    let mut list = unfinished();
    if let_pass(PUBLISHED.load(std::sync::atomic::Ordering::SeqCst)) {
        return;
    }
    remove_where(&mut list, |_| true);
    end();
    drop(list); // only if `end` came back, which an exit does not
}

/// Removes the listed temporary files whose path satisfies `which`.
fn remove_where(list: &mut Vec<PathBuf>, which: impl Fn(&Path) -> bool) {
    list.retain(|path| {
        let remove = which(path);
        if remove {
            let _ = std::fs::remove_file(path);
        }
        !remove
    });
}

/// A temporary file listed in [`UNFINISHED`] until it is published or dropped.
pub(crate) struct TempFile(Option<tempfile::NamedTempFile>);

impl TempFile {
    /// The file itself, for `publish`, which takes it off the list.
    fn into_inner(mut self) -> tempfile::NamedTempFile {
        self.0.take().expect("a TempFile holds its file until this")
    }
}

impl Deref for TempFile {
    type Target = tempfile::NamedTempFile;
    fn deref(&self) -> &tempfile::NamedTempFile {
        self.0
            .as_ref()
            .expect("a TempFile holds its file until into_inner")
    }
}

impl DerefMut for TempFile {
    fn deref_mut(&mut self) -> &mut tempfile::NamedTempFile {
        self.0
            .as_mut()
            .expect("a TempFile holds its file until into_inner")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(temp) = self.0.take() {
            // Deleted and unlisted under the lock: a hard exit in between
            // cannot leave the file behind.
            let mut list = unfinished();
            let path = temp.path().to_path_buf();
            drop(temp);
            list.retain(|p| *p != path);
        }
    }
}

/// Where a write to `path` lands: `path` itself or, where it is a symbolic
/// link, the file the link leads to, as for `numpy.save` or a shell's `>`:
/// the link stays a link and its target gets the new contents.
fn landing(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    // Links to links, as far as the kernel follows them (ELOOP beyond).
    for _ in 0..40 {
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let Some(to) = is_link.then(|| std::fs::read_link(&path).ok()).flatten() else {
            break;
        };
        // A relative link is relative to its own directory; `join` keeps an absolute one.
        path = path
            .parent()
            .map_or_else(|| to.clone(), |dir| dir.join(&to));
    }
    path
}

/// Whether writes to `a` and `b` would land on one file: the same name in the
/// same directory, however spelled (`x.json`, `./x.json`, a link to it), or
/// one file under two names (hard links).
pub(crate) fn same_landing(a: &Path, b: &Path) -> bool {
    let (a, b) = (landing(a), landing(b));
    let place = |p: &Path| {
        Some((
            std::fs::canonicalize(directory_of(p)).ok()?,
            p.file_name()?.to_owned(),
        ))
    };
    if let (Some(x), Some(y)) = (place(&a), place(&b)) {
        if x == y {
            return true;
        }
    }
    #[cfg(unix)]
    if let (Ok(x), Ok(y)) = (std::fs::metadata(&a), std::fs::metadata(&b)) {
        return same_file(&x, &y);
    }
    a == b
}

/// Whether `x` and `y` describe one file (its device and inode).
#[cfg(unix)]
fn same_file(x: &std::fs::Metadata, y: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (x.dev(), x.ino()) == (y.dev(), y.ino())
}

/// The directory a new file at `path` goes in.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file beside where `path` lands (so the final rename stays on
/// one file system). Errors name `path` and its directory, not the temporary file.
pub(crate) fn temp_beside(path: &Path, suffix: &str) -> Result<TempFile> {
    let target = landing(path);
    let dir = directory_of(&target);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".gpucalc-").suffix(suffix);
    // Created 0666 less the umask, as other programs' new files are (0644 as
    // a rule): a new result is already as the user's umask wants it.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    // Created and listed under the lock: a hard exit in between (the signal
    // handler waits for the lock) cannot leave the file behind.
    let mut list = unfinished();
    let temp = builder.tempfile_in(dir).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound if !dir.is_dir() => {
                format!("directory {} does not exist", dir.display())
            }
            // Some file systems (/proc, /sys) answer NotFound for a new file
            // in a directory that does exist.
            std::io::ErrorKind::NotFound => format!(
                "cannot create a file in {}: its file system takes no new files",
                dir.display()
            ),
            kind => format!(
                "cannot create a file in {}: {}",
                dir.display(),
                std::io::Error::from(kind)
            ),
        };
        io_error(path, std::io::Error::new(e.kind(), why))
    })?;
    list.push(temp.path().to_path_buf());
    Ok(TempFile(Some(temp)))
}

/// Fails now, before any work, where a result of `bytes` bytes could not be
/// written to `path`: a missing or read-only directory (found by creating a
/// temporary file there and removing it), or anything [`check_target`] finds.
pub(crate) fn check_writable(path: &Path, bytes: u64) -> Result<()> {
    check_target(path, bytes)?;
    drop(temp_beside(path, ".tmp")?);
    Ok(())
}

/// Fails where a result of `bytes` bytes could not replace what is at `path`
/// (for a writer that holds its temporary file already): a directory there
/// (or a path ending in `/`), a file this process may not write (one that
/// `numpy.save` could not replace either), the file this process's standard
/// output or error is redirected to, something that is not a regular
/// file (a device such as `/dev/null`, a FIFO, a socket: the rename that
/// publishes a result would put a file in its place), a loop of links, what
/// would stop that rename ([`replace::refusal`]: a mount point, another
/// user's file in a sticky directory, an append-only directory), or too
/// little free space on its file system.
pub(crate) fn check_target(path: &Path, bytes: u64) -> Result<()> {
    let target = landing(path);
    let last = target.as_os_str().as_encoded_bytes().last();
    if last.is_some_and(|&b| std::path::is_separator(char::from(b))) {
        return Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "a path ending in / names a directory, not a file",
            ),
        ));
    }
    let existing = match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => {
            return Err(io_error(path, std::io::ErrorKind::IsADirectory.into()));
        }
        Ok(m) if m.is_file() && is_standard_stream(&m) => {
            return Err(io_error(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "is where this process's standard output or error goes \
                     (`> FILE`, `2> FILE`): the result would replace what is written \
                     there; name another file",
                ),
            ));
        }
        // Opened for writing, not truncated: only the permission is tested.
        Ok(m) if m.is_file() => {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| io_error(path, e))?;
            Some(m)
        }
        Ok(m) => {
            return Err(io_error(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{}{}, not a regular file: gpucalc writes a result beside its \
                         target and renames it into place, which would replace it",
                        if target == path {
                            String::new()
                        } else {
                            format!("leads to {}, ", target.display())
                        },
                        file_kind(&m.file_type())
                    ),
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        // A loop of symbolic links (ELOOP), a path through a file, ...
        Err(e) => return Err(io_error(path, e)),
    };
    if let Some(why) = replace::refusal(&target, existing.as_ref()) {
        let kind = std::io::ErrorKind::PermissionDenied;
        return Err(io_error(path, std::io::Error::new(kind, why)));
    }
    match free_bytes(directory_of(&target)) {
        Some(free) if free < bytes => Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!(
                    "needs {:.2} GB but its file system has {:.2} GB free",
                    bytes as f64 * 1e-9,
                    free as f64 * 1e-9
                ),
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether `target` (a path's metadata) is the file, pipe or terminal this
/// process's standard output or error is (`/dev/stdout`, `/proc/self/fd/2`,
/// or the file stdout is redirected to): a result renamed over it would take
/// the report's place, and a pipe or terminal cannot take a renamed file.
pub(crate) fn is_standard_stream(target: &std::fs::Metadata) -> bool {
    use std::os::fd::AsFd;
    let stream = |fd: std::os::fd::BorrowedFd<'_>| {
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        file.metadata().ok()
    };
    [
        stream(std::io::stdout().as_fd()),
        stream(std::io::stderr().as_fd()),
    ]
    .iter()
    .flatten()
    .any(|stream| same_file(stream, target))
}

/// "a character device", "a FIFO", ...: what a file that is neither a
/// regular file nor a directory is.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    let _ = kind;
    "a special file"
}

/// Bytes an unprivileged process may still write on `dir`'s file system;
/// `None` where that cannot be told.
fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is NUL-terminated and `stat` is a statvfs for the call to fill.
        if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: statvfs returned 0, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        // Some file systems (FUSE, procfs) report no blocks at all: unknown.
        if stat.f_blocks == 0 {
            return None;
        }
        #[allow(clippy::useless_conversion)] // the field types differ between platforms
        Some(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Moves a complete temporary file into place, where `path` lands (through a
/// symbolic link, its target). A file it replaces keeps its mode; a new one
/// has the mode it was created with (see [`temp_beside`]).
pub(crate) fn publish(temp: TempFile, path: &Path) -> Result<()> {
    let target = landing(path);
    #[cfg(unix)]
    if let Ok(old) = std::fs::metadata(&target) {
        use std::os::unix::fs::PermissionsExt;
        let mode = old.permissions().mode() & 0o7777;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(path, e))?;
    }
    temp.as_file().sync_all().map_err(|e| io_error(path, e))?;
    // Renamed and unlisted under the lock: once renamed, the path is the
    // user's file, and a hard exit cannot come between the two. A failed
    // rename drops (deletes) the temporary file, under the lock too.
    let mut list = unfinished();
    let temp = temp.into_inner();
    let temp_path = temp.path().to_path_buf();
    let persisted = temp.persist(&target);
    list.retain(|p| *p != temp_path);
    if persisted.is_ok() {
        PUBLISHED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    persisted.map(drop).map_err(|e| io_error(path, e.error))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    #[test]
    fn unfinished_files_are_listed_until_published_or_dropped_and_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let listed = |p: &Path| unfinished().iter().any(|q| q == p);
        let published = temp_beside(&dir.path().join("a.npy"), ".tmp").unwrap();
        let dropped = temp_beside(&dir.path().join("b.npy"), ".tmp").unwrap();
        let killed = temp_beside(&dir.path().join("c.npy"), ".tmp").unwrap();
        let paths = [&published, &dropped, &killed].map(|t| t.path().to_path_buf());
        assert!(paths.iter().all(|p| listed(p) && p.exists()));
        publish(published, &dir.path().join("a.npy")).unwrap();
        drop(dropped);
        assert!(!listed(&paths[0]) && !listed(&paths[1]) && !paths[1].exists());
        assert!(dir.path().join("a.npy").exists());
        // A hard exit: destructors will not run, so the list is emptied first
        // (here only this test's entries: other tests run alongside).
        std::mem::forget(killed);
        remove_where(&mut unfinished(), |p| p.starts_with(dir.path()));
        assert!(!paths[2].exists());
        assert!(
            dir.path().join("a.npy").exists(),
            "published files are not touched"
        );
    }

    #[test]
    fn new_files_are_readable_by_others_and_replacements_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let mut temp = temp_beside(&path, ".tmp").unwrap();
        temp.write_all(b"one").unwrap();
        publish(temp, &path).unwrap();
        // 0666 less the umask: 0644 under the usual 022 (tests/cli.rs runs
        // the binary under 077). Others can read it unless the umask says no.
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o600, 0o600, "the owner reads and writes: {mode:o}");
        assert_eq!(mode & 0o111, 0, "nothing is executable: {mode:o}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut temp = temp_beside(&path, ".tmp").unwrap();
        temp.write_all(b"two").unwrap();
        publish(temp, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn a_symbolic_link_keeps_pointing_at_the_file_it_names_which_gets_the_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/t.npy");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink("real/t.npy", &link).unwrap();
        let hop = dir.path().join("hop.npy");
        std::os::unix::fs::symlink(&link, &hop).unwrap();
        let mut temp = temp_beside(&hop, ".tmp").unwrap();
        assert_eq!(temp.path().parent().unwrap(), dir.path().join("real"));
        temp.write_all(b"new").unwrap();
        publish(temp, &hop).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        for l in [&link, &hop] {
            assert!(std::fs::symlink_metadata(l)
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }

    #[test]
    fn two_spellings_of_one_file_are_the_same_landing() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.json");
        let dotted = dir.path().join(".").join("x.json");
        assert!(same_landing(&x, &dotted), "before the file exists");
        std::fs::write(&x, "{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("x.json", &link).unwrap();
        let hard = dir.path().join("hard.json");
        std::fs::hard_link(&x, &hard).unwrap();
        assert!(same_landing(&x, &dotted) && same_landing(&link, &x) && same_landing(&x, &hard));
        assert!(!same_landing(&x, &dir.path().join("y.json")));
    }

    #[test]
    fn outputs_that_cannot_be_written_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let message = |path: &Path, bytes| check_writable(path, bytes).unwrap_err().to_string();
        std::fs::create_dir(dir.path().join("d.npy")).unwrap();
        assert!(message(&dir.path().join("d.npy"), 0).ends_with("is a directory"));
        let missing = dir.path().join("nodir/x.npy");
        assert!(
            message(&missing, 0).ends_with("nodir does not exist"),
            "{}",
            message(&missing, 0)
        );
        #[cfg(target_os = "linux")]
        {
            // /proc exists but refuses new files with NotFound.
            let m = message(Path::new("/proc/x.npy"), 0);
            assert_eq!(
                m,
                "/proc/x.npy: cannot create a file in /proc: its file system takes no new files"
            );
        }
        let slash = dir.path().join("new.npy/");
        assert!(message(&slash, 0).ends_with("a path ending in / names a directory, not a file"));
        // Renaming a result over /dev/null (or a FIFO) would replace it with a file.
        let null = Path::new("/dev/null");
        assert!(
            message(null, 0).ends_with("a character device, not a regular file: gpucalc writes a result beside its target and renames it into place, which would replace it"),
            "{}",
            message(null, 0)
        );
        let link = dir.path().join("null.npy");
        std::os::unix::fs::symlink(null, &link).unwrap();
        assert!(message(&link, 0).contains("leads to /dev/null, a character device"));
        let fifo = dir.path().join("f.npy");
        let c_fifo = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
        assert!(message(&fifo, 0).contains("a FIFO (named pipe), not a regular file"));
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        std::fs::remove_file(&fifo).unwrap();
        std::fs::remove_file(&link).unwrap();
        let fine = dir.path().join("x.npy");
        check_writable(&fine, 1000).unwrap();
        assert!(!fine.exists(), "the check leaves nothing behind");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(
            message(&fine, u64::MAX).contains("GB free"),
            "{}",
            message(&fine, u64::MAX)
        );
    }
}
