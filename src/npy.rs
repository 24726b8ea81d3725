//! `.npy` files through the `npyz` crate: written whole or not at all, read with
//! clear errors for what gpucalc cannot take.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use crate::error::{Error, Result};

use crate::atomic_file::{io_error, publish, temp_beside};

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
    /// Starts an array of `shape` (C order) at `path`.
    pub fn create(path: &Path, shape: &[u64]) -> Result<NpyOut<T>> {
        let temp = temp_beside(path, ".npy.tmp")?;
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

/// Reads an `.npy` file of element type `T` (`f32` or `f64`). Fortran-order
/// arrays are refused with a message saying how to convert them.
pub fn read_npy<T: npyz::Deserialize>(path: &Path) -> Result<NpyArray<T>> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| io_error(path, e))?;
    if npy.order() == npyz::Order::Fortran && npy.shape().len() > 1 {
        return Err(Error::InvalidArgument(format!(
            "{}: Fortran-order array; save it with numpy.ascontiguousarray(x) first",
            path.display()
        )));
    }
    let shape = npy.shape().to_vec();
    let dtype = npy.dtype().descr();
    let data = npy.into_vec::<T>().map_err(|e| {
        Error::InvalidArgument(format!(
            "{}: cannot read dtype {dtype} as {} ({e})",
            path.display(),
            std::any::type_name::<T>()
        ))
    })?;
    Ok(NpyArray { shape, data })
}

/// Reads an `.npy` file of `f32` or `f64` elements (little-endian), whichever it holds.
pub fn read_npy_float(path: &Path) -> Result<(Vec<u64>, crate::dtype::FloatVec)> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| io_error(path, e))?;
    let descr = npy.dtype().descr();
    let descr = descr.trim_matches('\'');
    match descr {
        "<f4" => {
            let a = read_npy::<f32>(path)?;
            Ok((a.shape, crate::dtype::FloatVec::F32(a.data)))
        }
        "<f8" => {
            let a = read_npy::<f64>(path)?;
            Ok((a.shape, crate::dtype::FloatVec::F64(a.data)))
        }
        other => Err(Error::InvalidArgument(format!(
            "{}: dtype {other} is not float32 or float64; convert with x.astype(numpy.float64)",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
