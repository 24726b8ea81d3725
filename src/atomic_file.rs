//! Files written whole or not at all: data goes to a temporary file beside the
//! target, which replaces the target only once it is complete and on disk.

use std::path::Path;

use crate::error::{Error, Result};

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A temporary file in `path`'s directory (so the final rename stays on one file system).
pub(crate) fn temp_beside(path: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".gpucalc-")
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(|e| io_error(path, e))
}

/// Moves a complete temporary file into place. It takes the mode of the file
/// it replaces, or 0644 (temporary files are created 0600, which would hide
/// results from the rest of a lab group).
pub(crate) fn publish(temp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(path, e))?;
    }
    temp.as_file().sync_all().map_err(|e| io_error(path, e))?;
    temp.persist(path).map_err(|e| io_error(path, e.error))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

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
