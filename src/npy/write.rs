//! Writing `.npy` files whole or not at all: npyz writes the header, and the
//! elements go out as the bytes they already are where the host's byte order
//! is the file's (npyz's element-by-element writer elsewhere).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use npyz::{AutoSerialize, TypeWrite, WriterBuilder};

use super::same_bytes_as_host;
use crate::atomic_file::{check_target, io_error, publish, temp_beside, TempFile};
use crate::error::{Error, Result};

/// An `.npy` file being written: the data goes to a temporary file beside the
/// target, which replaces the target only on [`NpyOut::commit`]. Dropped
/// without a commit, the temporary file is removed and the target untouched.
pub struct NpyOut<T: AutoSerialize> {
    path: PathBuf,
    // Before `temp`: fields drop in order, so a dropped writer's buffer is
    // flushed (or given up) before the temporary file is removed.
    file: BufWriter<File>,
    temp: TempFile,
    /// npyz's writer of one element, where the file's bytes are not the host's.
    convert: Option<<T as npyz::Serialize>::TypeWriter>,
    remaining: u64,
}

impl<T: AutoSerialize + bytemuck::Pod> NpyOut<T> {
    /// Starts an array of `shape` (C order) at `path`. Fails at once, before
    /// any data, where the file could not be written whole: a directory or a
    /// file this process may not write at `path`, a missing directory, or too
    /// little free space for the array.
    pub fn create(path: &Path, shape: &[u64]) -> Result<NpyOut<T>> {
        let elements = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .unwrap_or(u64::MAX);
        // Checked first: where the rename could never succeed (an append-only
        // directory), even an empty temporary file could not be removed.
        check_target(path, file_bytes(elements, std::mem::size_of::<T>()))?;
        let temp = temp_beside(path, ".npy.tmp")?;
        let handle = temp.as_file().try_clone().map_err(|e| io_error(path, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, handle);
        file.write_all(&header::<T>(shape).map_err(|e| io_error(path, e))?)
            .map_err(|e| io_error(path, e))?;
        let dtype = T::default_dtype();
        let convert = if same_bytes_as_host::<T>(&dtype) {
            None
        } else {
            Some(
                T::writer(&dtype)
                    .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?,
            )
        };
        Ok(NpyOut {
            path: path.to_path_buf(),
            temp,
            file,
            convert,
            remaining: elements,
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
        let written = match &self.convert {
            None => self.file.write_all(bytemuck::cast_slice(values)),
            Some(convert) => values
                .iter()
                .try_for_each(|v| convert.write_one(&mut self.file, v)),
        };
        written.map_err(|e| io_error(&self.path, e))?;
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
        self.file
            .into_inner()
            .map_err(|e| io_error(&path, e.into_error()))?;
        publish(self.temp, &path)
    }
}

/// The header npyz writes for an array of `shape` of `T`'s default dtype, C order.
pub(super) fn header<T: AutoSerialize>(shape: &[u64]) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let writer: npyz::NpyWriter<T, _> = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes)
        .begin_nd()?;
    // npyz writes the whole header in `begin_nd`. The elements follow it in the
    // file, not through this writer: its drop finds none of the shape's
    // elements, and the error that gives is dropped with it (writing nothing).
    drop(writer);
    Ok(bytes)
}

/// About the bytes of an `.npy` file of `elements` elements of `size` bytes:
/// the data and a header of 128 bytes (what npyz writes for a few dimensions).
pub(crate) fn file_bytes(elements: u64, size: usize) -> u64 {
    elements.saturating_mul(size as u64).saturating_add(128)
}

/// Writes a whole array to `path`, atomically.
pub fn write_npy<T: AutoSerialize + bytemuck::Pod>(
    path: &Path,
    shape: &[u64],
    data: &[T],
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes npyz writes for the whole array, element by element.
    fn npyz_bytes<T: AutoSerialize>(shape: &[u64], data: &[T]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut writer: npyz::NpyWriter<T, _> = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut bytes)
            .begin_nd()
            .unwrap();
        for v in data {
            writer.push(v).unwrap();
        }
        writer.finish().unwrap();
        bytes
    }

    #[test]
    fn files_hold_exactly_what_npyz_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let f64s = [1.5f64, -0.0, f64::NAN, f64::INFINITY, 1e-310, 7.0];
        write_npy(&path, &[2, 3], &f64s).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), npyz_bytes(&[2, 3], &f64s));
        let f32s = [0.1f32, -3.0, f32::MIN_POSITIVE];
        write_npy(&path, &[3], &f32s).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), npyz_bytes(&[3], &f32s));
        let u32s = [0u32, 1, 0xdead_beef];
        write_npy(&path, &[3, 1], &u32s).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), npyz_bytes(&[3, 1], &u32s));
        write_npy::<f64>(&path, &[0], &[]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), npyz_bytes::<f64>(&[0], &[]));
    }

    #[test]
    fn the_element_by_element_path_writes_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let (fast, slow) = (dir.path().join("fast.npy"), dir.path().join("slow.npy"));
        let data: Vec<f64> = (0..1000).map(|i| f64::from(i).sqrt()).collect();
        write_npy(&fast, &[1000], &data).unwrap();
        let mut out = NpyOut::<f64>::create(&slow, &[1000]).unwrap();
        assert_eq!(out.convert.is_none(), cfg!(target_endian = "little"));
        // What a host of the other byte order does.
        out.convert = Some(<f64 as npyz::Serialize>::writer(&f64::default_dtype()).unwrap());
        out.push(&data[..10]).unwrap();
        out.push(&data[10..]).unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&fast).unwrap(), std::fs::read(&slow).unwrap());
    }
}
