//! Files written whole or not at all: data goes to a temporary file beside the
//! target, which replaces the target only once it is complete and on disk.
//!
//! Temporary files remove themselves when dropped; a process that exits
//! without unwinding (a second Ctrl-C) calls [`remove_unfinished`] first, so no
//! hidden `.gpucalc-*.tmp` file is left holding a half-written result.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The paths of the temporary files not yet published or dropped.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes every temporary file still being written. For exits that skip
/// destructors; the files' owners must not write to them afterwards.
pub(crate) fn remove_unfinished() {
    remove_unfinished_where(|_| true);
}

/// Removes the listed temporary files whose path satisfies `which`.
fn remove_unfinished_where(which: impl Fn(&Path) -> bool) {
    unfinished().retain(|path| {
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

/// A temporary file in `path`'s directory (so the final rename stays on one file system).
pub(crate) fn temp_beside(path: &Path, suffix: &str) -> Result<TempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".gpucalc-")
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(|e| io_error(path, e))?;
    unfinished().push(temp.path().to_path_buf());
    Ok(TempFile(Some(temp)))
}

/// Moves a complete temporary file into place. It takes the mode of the file
/// it replaces, or 0644 (temporary files are created 0600, which would hide
/// results from the rest of a lab group).
pub(crate) fn publish(temp: TempFile, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
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
    let persisted = temp.persist(path);
    list.retain(|p| *p != temp_path);
    persisted.map(drop).map_err(|e| io_error(path, e.error))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

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
        remove_unfinished_where(|p| p.starts_with(dir.path()));
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
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
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
}
