//! The row-major [`Matrix`] that `matmul` takes and returns, and its seeded
//! random fill.

use crate::backend::cpu;
use crate::dtype::{Float, FloatVec};
use crate::error::{Error, Result};
use crate::philox::{stream_word, uniform_f64};

/// A row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` elements, row after row.
    pub data: FloatVec,
}

impl Matrix {
    /// A matrix from row-major data; the length must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: FloatVec) -> Result<Matrix> {
        let len = rows
            .checked_mul(cols)
            .ok_or_else(|| too_large(rows, cols))?;
        if data.len() != len {
            return Err(Error::InvalidArgument(format!(
                "a {rows}x{cols} matrix needs {len} elements, got {}",
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix of uniform values in [-1, 1) from the Philox stream for `seed`
    /// (element `i` from stream words `2i`, `2i+1`), the same on every machine.
    pub fn random(rows: usize, cols: usize, float: Float, seed: u64) -> Result<Matrix> {
        let len = rows
            .checked_mul(cols)
            .ok_or_else(|| too_large(rows, cols))?;
        let value = |i: usize| {
            let i = i as u64;
            2.0 * uniform_f64(stream_word(seed, 2 * i), stream_word(seed, 2 * i + 1)) - 1.0
        };
        let what = format!("a {rows}x{cols} {float} matrix");
        let data = match float {
            Float::F32 => FloatVec::F32(cpu::host_vec_from(len, &what, |i| value(i) as f32)?),
            Float::F64 => FloatVec::F64(cpu::host_vec_from(len, &what, value)?),
        };
        Matrix::new(rows, cols, data)
    }

    /// Element (i, j) widened to f64.
    ///
    /// # Panics
    ///
    /// Where `i` is not below `rows` or `j` not below `cols`, as indexing
    /// a slice out of range does (rather than reading another element).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.rows && j < self.cols,
            "element ({i}, {j}) of a {}x{} matrix",
            self.rows,
            self.cols
        );
        self.data.get_f64(i * self.cols + j)
    }
}

pub(super) fn too_large(rows: usize, cols: usize) -> Error {
    Error::InvalidArgument(format!(
        "a {rows}x{cols} matrix has more elements than this machine can address"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_matrix_past_the_hosts_memory_is_an_error_not_an_abort() {
        for float in [Float::F32, Float::F64] {
            let err = Matrix::random(1 << 24, 1 << 24, float, 1).unwrap_err();
            assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
        }
        assert!(Matrix::random(usize::MAX, 2, Float::F32, 1).is_err());
    }

    #[test]
    #[should_panic(expected = "element (0, 3) of a 2x3 matrix")]
    fn an_element_past_the_last_column_is_not_one_of_the_next_row() {
        let a = Matrix::random(2, 3, Float::F32, 1).unwrap();
        assert_eq!(a.get(1, 2), a.data.get_f64(5));
        a.get(0, 3);
    }
}
