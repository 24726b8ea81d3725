//! `.npy` files through the `npyz` crate: written whole or not at all, read with
//! clear errors for what gpucalc cannot take.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use crate::error::{Error, Result};

use crate::atomic_file::{check_target, io_error, publish, temp_beside};

/// An `.npy` file being written: the data goes to a temporary file beside the
/// target, which replaces the target only on [`NpyOut::commit`]. Dropped
/// without a commit, the temporary file is removed and the target untouched.
pub struct NpyOut<T: npyz::AutoSerialize> {
    path: PathBuf,
    temp: crate::atomic_file::TempFile,
    writer: npyz::NpyWriter<T, BufWriter<File>>,
    remaining: u64,
}

impl<T: npyz::AutoSerialize> NpyOut<T> {
    /// Starts an array of `shape` (C order) at `path`. Fails at once, before
    /// any data, where the file could not be written whole: a directory or a
    /// file this process may not write at `path`, a missing directory, or too
    /// little free space for the array.
    pub fn create(path: &Path, shape: &[u64]) -> Result<NpyOut<T>> {
        let elements = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .unwrap_or(u64::MAX);
        let temp = temp_beside(path, ".npy.tmp")?;
        check_target(path, file_bytes(elements, std::mem::size_of::<T>()))?;
        let handle = temp.as_file().try_clone().map_err(|e| io_error(path, e))?;
        let writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(BufWriter::with_capacity(1 << 20, handle))
            .begin_nd()
            .map_err(|e| io_error(path, e))?;
        Ok(NpyOut {
            path: path.to_path_buf(),
            temp,
            writer,
            remaining: shape.iter().product(),
        })
    }

    /// Appends elements in C order.
    pub fn push(&mut self, values: &[T]) -> Result<()> {
        if values.len() as u64 > self.remaining {
            return Err(Error::InvalidArgument(format!(
                "{}: more elements than the array's shape holds",
                self.path.display()
            )));
        }
        for v in values {
            self.writer.push(v).map_err(|e| io_error(&self.path, e))?;
        }
        self.remaining -= values.len() as u64;
        Ok(())
    }

    /// Finishes the file and moves it into place.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        if self.remaining != 0 {
            return Err(Error::InvalidArgument(format!(
                "{}: {} elements missing; the file was not written",
                path.display(),
                self.remaining
            )));
        }
        self.writer.finish().map_err(|e| io_error(&path, e))?;
        publish(self.temp, &path)
    }
}

/// About the bytes of an `.npy` file of `elements` elements of `size` bytes:
/// the data and a header of 128 bytes (what npyz writes for a few dimensions).
pub(crate) fn file_bytes(elements: u64, size: usize) -> u64 {
    elements.saturating_mul(size as u64).saturating_add(128)
}

/// Writes a whole array to `path`, atomically.
pub fn write_npy<T: npyz::AutoSerialize>(path: &Path, shape: &[u64], data: &[T]) -> Result<()> {
    let mut out = NpyOut::create(path, shape)?;
    out.push(data)?;
    out.commit()
}

/// Writes a float array of either type to `path`, atomically.
pub fn write_npy_float(path: &Path, shape: &[u64], data: &crate::dtype::FloatVec) -> Result<()> {
    match data {
        crate::dtype::FloatVec::F32(v) => write_npy(path, shape, v),
        crate::dtype::FloatVec::F64(v) => write_npy(path, shape, v),
    }
}

/// An array read from an `.npy` file: its shape and C-order elements.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<T> {
    /// The shape, as NumPy has it.
    pub shape: Vec<u64>,
    /// The elements in C (row-major) order.
    pub data: Vec<T>,
}

/// A problem with a file's contents, as an [`Error::Io`] naming the file.
fn bad_file(path: &Path, message: String) -> Error {
    io_error(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    )
}

/// Opens an `.npy` file for npyz after checking its header's shape: npyz
/// multiplies the dimensions unchecked (a panic in debug builds, a wrapped
/// count in release, and then an array read short of its shape), so a shape
/// of more than 2^64 elements is refused here first.
fn open(path: &Path) -> Result<npyz::NpyFile<BufReader<File>>> {
    use std::io::{Read, Seek};
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut head = Vec::with_capacity(12);
    (&mut file)
        .take(12)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, e))?;
    if head.len() == 12 && head.starts_with(b"\x93NUMPY") {
        let (length, start) = match head[6] {
            1 => (u64::from(u16::from_le_bytes([head[8], head[9]])), 10),
            _ => (
                u64::from(u32::from_le_bytes([head[8], head[9], head[10], head[11]])),
                12,
            ),
        };
        let mut text = head[start..].to_vec();
        (&mut file)
            .take(length.saturating_sub((head.len() - start) as u64))
            .read_to_end(&mut text)
            .map_err(|e| io_error(path, e))?;
        if let Some(shape) = header_shape(&String::from_utf8_lossy(&text)) {
            if shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .is_none()
            {
                return Err(bad_file(
                    path,
                    format!("the header's shape {shape:?} has 2^64 elements or more"),
                ));
            }
        }
    }
    // npyz reads the same handle from the start: one open, one file.
    file.rewind().map_err(|e| io_error(path, e))?;
    npyz::NpyFile::new(BufReader::new(file)).map_err(|e| io_error(path, e))
}

/// The `'shape': (a, b, ...)` of an `.npy` header dict, where it parses (npyz
/// reports the headers that do not).
fn header_shape(header: &str) -> Option<Vec<u64>> {
    let after = &header[header.find("'shape'")? + "'shape'".len()..];
    let tuple = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('(')?;
    let tuple = &tuple[..tuple.find(')')?];
    tuple
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse().ok())
        .collect()
}

/// Reads an `.npy` file of element type `T` (`f32` or `f64`, either byte
/// order). Fortran-order arrays are refused with a message saying how to
/// convert them; so is any content npyz cannot read as `T`. Every problem
/// with the file is an [`Error::Io`] naming it.
pub fn read_npy<T: npyz::Deserialize>(path: &Path) -> Result<NpyArray<T>> {
    read_opened(path, open(path)?)
}

/// [`read_npy`] of a file already opened.
fn read_opened<T: npyz::Deserialize>(
    path: &Path,
    npy: npyz::NpyFile<BufReader<File>>,
) -> Result<NpyArray<T>> {
    if npy.order() == npyz::Order::Fortran && npy.shape().len() > 1 {
        return Err(bad_file(
            path,
            "Fortran-order array; save it with numpy.ascontiguousarray(x) first".to_string(),
        ));
    }
    let shape = npy.shape().to_vec();
    let dtype = npy.dtype().descr();
    let data = npy.into_vec::<T>().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!(
                "the file ends before the {} elements its header promises (truncated?)",
                shape.iter().product::<u64>()
            )
        } else {
            format!(
                "cannot read dtype {dtype} as {} ({e})",
                std::any::type_name::<T>()
            )
        };
        bad_file(path, why)
    })?;
    Ok(NpyArray { shape, data })
}

/// Reads an `.npy` file of `f32` or `f64` elements (either byte order), whichever it holds.
pub fn read_npy_float(path: &Path) -> Result<(Vec<u64>, crate::dtype::FloatVec)> {
    let npy = open(path)?;
    let descr = npy.dtype().descr();
    match descr.trim_matches('\'') {
        "<f4" | ">f4" | "=f4" => {
            let a = read_opened::<f32>(path, npy)?;
            Ok((a.shape, crate::dtype::FloatVec::F32(a.data)))
        }
        "<f8" | ">f8" | "=f8" => {
            let a = read_opened::<f64>(path, npy)?;
            Ok((a.shape, crate::dtype::FloatVec::F64(a.data)))
        }
        // A record dtype's descr is a list, which npyz writes with a trailing ", ".
        other => Err(bad_file(
            path,
            format!(
                "dtype {} is not float32 or float64; convert with x.astype(numpy.float64)",
                other.replace(", ]", "]")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_file_is_called_that() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[10], &[0.5f64; 10]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 12]).unwrap();
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("the file ends before the 10 elements its header promises (truncated?)"),
            "{err}"
        );
    }

    #[test]
    fn round_trip_and_atomicity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[2, 3], &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let back = read_npy::<f64>(&path).unwrap();
        assert_eq!(back.shape, vec![2, 3]);
        assert_eq!(back.data[5], 6.0);

        // An abandoned write leaves the old file as it was, and no temp files.
        let mut out = NpyOut::<f64>::create(&path, &[4]).unwrap();
        out.push(&[9.0]).unwrap();
        drop(out);
        assert_eq!(read_npy::<f64>(&path).unwrap(), back);
        // A short write is refused at commit.
        let mut out = NpyOut::<f64>::create(&path, &[4]).unwrap();
        out.push(&[9.0]).unwrap();
        assert!(out.commit().is_err());
        assert_eq!(read_npy::<f64>(&path).unwrap(), back);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn wrong_dtype_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.npy");
        write_npy(&path, &[2], &[1u32, 2]).unwrap();
        let err = read_npy::<f64>(&path).unwrap_err().to_string();
        assert!(err.contains("cannot read dtype"), "{err}");
    }
}
