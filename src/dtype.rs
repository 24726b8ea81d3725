//! Element types the workloads run in, and host arrays of them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::Error;

/// A floating-point element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Float {
    /// 32-bit IEEE 754.
    F32,
    /// 64-bit IEEE 754.
    #[default]
    F64,
}

impl Float {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }

    /// `f32` or `f64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Float::F32 => "f32",
            Float::F64 => "f64",
        }
    }

    /// The type's smallest positive normal value, as an `f64`.
    pub const fn min_positive(self) -> f64 {
        match self {
            Float::F32 => f32::MIN_POSITIVE as f64,
            Float::F64 => f64::MIN_POSITIVE,
        }
    }

    /// The type's largest finite value, as an `f64`.
    pub const fn max(self) -> f64 {
        match self {
            Float::F32 => f32::MAX as f64,
            Float::F64 => f64::MAX,
        }
    }

    /// The type's machine epsilon, as an `f64`.
    pub const fn epsilon(self) -> f64 {
        match self {
            Float::F32 => f32::EPSILON as f64,
            Float::F64 => f64::EPSILON,
        }
    }
}

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Float {
    type Err = Error;
    fn from_str(s: &str) -> Result<Float, Error> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float" | "float32" | "single" => Ok(Float::F32),
            "f64" | "double" | "float64" => Ok(Float::F64),
            _ => Err(Error::InvalidArgument(format!(
                "unknown float type `{s}`: expected f32 or f64"
            ))),
        }
    }
}

/// The arithmetic the CPU kernels need from `f32` and `f64`.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::iter::Sum
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// A host array of either float type.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatVec {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
}

impl FloatVec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FloatVec::F32(v) => v.len(),
            FloatVec::F64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn float(&self) -> Float {
        match self {
            FloatVec::F32(_) => Float::F32,
            FloatVec::F64(_) => Float::F64,
        }
    }

    /// Element `i`, widened to `f64`.
    ///
    /// # Panics
    ///
    /// Where `i` is not below the array's length.
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            FloatVec::F32(v) => f64::from(v[i]),
            FloatVec::F64(v) => v[i],
        }
    }

    /// The elements, if they are `f32`.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            FloatVec::F32(v) => Some(v),
            FloatVec::F64(_) => None,
        }
    }

    /// The elements, if they are `f64`.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match self {
            FloatVec::F64(v) => Some(v),
            FloatVec::F32(_) => None,
        }
    }

    /// A zeroed array of `len` elements of `float`: an output for
    /// [`crate::map::map`]. Where the host cannot hold it this aborts, as
    /// `vec!` does; [`FloatVec::try_zeros`] returns an error instead.
    pub fn zeros(float: Float, len: usize) -> FloatVec {
        match float {
            Float::F32 => FloatVec::F32(vec![0.0; len]),
            Float::F64 => FloatVec::F64(vec![0.0; len]),
        }
    }

    /// [`FloatVec::zeros`], or an [`Error::OutOfMemory`] where the host
    /// cannot hold the array.
    pub fn try_zeros(float: Float, len: usize) -> Result<FloatVec, Error> {
        use crate::backend::cpu::host_vec;
        let what = format!("an array of {len} {float} elements");
        Ok(match float {
            Float::F32 => FloatVec::F32(host_vec(len, 0.0, &what)?),
            Float::F64 => FloatVec::F64(host_vec(len, 0.0, &what)?),
        })
    }
}

impl From<Vec<f32>> for FloatVec {
    fn from(v: Vec<f32>) -> FloatVec {
        FloatVec::F32(v)
    }
}

impl From<Vec<f64>> for FloatVec {
    fn from(v: Vec<f64>) -> FloatVec {
        FloatVec::F64(v)
    }
}

impl From<&[f32]> for FloatVec {
    fn from(v: &[f32]) -> FloatVec {
        FloatVec::F32(v.to_vec())
    }
}

impl From<&[f64]> for FloatVec {
    fn from(v: &[f64]) -> FloatVec {
        FloatVec::F64(v.to_vec())
    }
}

/// A borrowed array of either float type: the input of [`crate::map::map_floats`].
///
/// Made with `into()` from a slice, an array, a `Vec` or a [`FloatVec`], so
/// data already in the caller's memory is used where it lies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FloatSlice<'a> {
    /// `f32` elements.
    F32(&'a [f32]),
    /// `f64` elements.
    F64(&'a [f64]),
}

/// A mutably borrowed array of either float type: the output of [`crate::map::map_floats`].
///
/// Made with `into()` from a mutable slice, array, `Vec` or [`FloatVec`].
#[derive(Debug, PartialEq)]
pub enum FloatSliceMut<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `f64` elements.
    F64(&'a mut [f64]),
}

impl FloatSlice<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FloatSlice::F32(v) => v.len(),
            FloatSlice::F64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn float(&self) -> Float {
        match self {
            FloatSlice::F32(_) => Float::F32,
            FloatSlice::F64(_) => Float::F64,
        }
    }
}

impl FloatSliceMut<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FloatSliceMut::F32(v) => v.len(),
            FloatSliceMut::F64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn float(&self) -> Float {
        match self {
            FloatSliceMut::F32(_) => Float::F32,
            FloatSliceMut::F64(_) => Float::F64,
        }
    }
}

/// `f32` or `f64`: the element types [`crate::map::map`] takes as slices.
pub trait FloatElement: Copy + Send + Sync + sealed::Sealed {}

impl FloatElement for f32 {}
impl FloatElement for f64 {}

mod sealed {
    use super::{FloatSlice, FloatSliceMut};

    /// Keeps [`super::FloatElement`] to `f32` and `f64`, and pairs their slices.
    pub trait Sealed: Sized {
        /// The two slices, as the type-erased pair `map_floats` takes.
        fn pair<'i, 'o>(x: &'i [Self], y: &'o mut [Self]) -> (FloatSlice<'i>, FloatSliceMut<'o>);
    }

    impl Sealed for f32 {
        fn pair<'i, 'o>(x: &'i [f32], y: &'o mut [f32]) -> (FloatSlice<'i>, FloatSliceMut<'o>) {
            (FloatSlice::F32(x), FloatSliceMut::F32(y))
        }
    }

    impl Sealed for f64 {
        fn pair<'i, 'o>(x: &'i [f64], y: &'o mut [f64]) -> (FloatSlice<'i>, FloatSliceMut<'o>) {
            (FloatSlice::F64(x), FloatSliceMut::F64(y))
        }
    }
}

/// `From` impls making `FloatSlice` and `FloatSliceMut` from every way a caller
/// holds floats of type `$t` (variant `$v`).
macro_rules! float_slice_from {
    ($($t:ty => $v:ident),*) => {$(
        impl<'a> From<&'a [$t]> for FloatSlice<'a> {
            fn from(v: &'a [$t]) -> FloatSlice<'a> {
                FloatSlice::$v(v)
            }
        }
        impl<'a> From<&'a Vec<$t>> for FloatSlice<'a> {
            fn from(v: &'a Vec<$t>) -> FloatSlice<'a> {
                FloatSlice::$v(v)
            }
        }
        impl<'a, const N: usize> From<&'a [$t; N]> for FloatSlice<'a> {
            fn from(v: &'a [$t; N]) -> FloatSlice<'a> {
                FloatSlice::$v(v)
            }
        }
        impl<'a> From<&'a mut [$t]> for FloatSliceMut<'a> {
            fn from(v: &'a mut [$t]) -> FloatSliceMut<'a> {
                FloatSliceMut::$v(v)
            }
        }
        impl<'a> From<&'a mut Vec<$t>> for FloatSliceMut<'a> {
            fn from(v: &'a mut Vec<$t>) -> FloatSliceMut<'a> {
                FloatSliceMut::$v(v)
            }
        }
        impl<'a, const N: usize> From<&'a mut [$t; N]> for FloatSliceMut<'a> {
            fn from(v: &'a mut [$t; N]) -> FloatSliceMut<'a> {
                FloatSliceMut::$v(v)
            }
        }
    )*};
}

float_slice_from!(f32 => F32, f64 => F64);

impl<'a> From<&'a FloatVec> for FloatSlice<'a> {
    fn from(v: &'a FloatVec) -> FloatSlice<'a> {
        match v {
            FloatVec::F32(v) => FloatSlice::F32(v),
            FloatVec::F64(v) => FloatSlice::F64(v),
        }
    }
}

impl<'a> From<&'a mut FloatVec> for FloatSliceMut<'a> {
    fn from(v: &'a mut FloatVec) -> FloatSliceMut<'a> {
        match v {
            FloatVec::F32(v) => FloatSliceMut::F32(v),
            FloatVec::F64(v) => FloatSliceMut::F64(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_zeros_refuses_what_the_host_cannot_hold() {
        assert_eq!(
            FloatVec::try_zeros(Float::F32, 3).unwrap().as_f32(),
            Some(&[0.0f32; 3][..])
        );
        let err = FloatVec::try_zeros(Float::F64, usize::MAX / 8).unwrap_err();
        assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
    }
}
