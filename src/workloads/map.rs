//! `map`: an elementwise function over an array, the seeds' `pool.map(sqrt, xs)`.
//!
//! Each backend uses its own math library, so results are checked against the
//! CPU path within a per-function ulp bound ([`MapFn::ulp_bound`]): the
//! OpenCL specification's accuracy for the function plus one ulp for the CPU's
//! (its own vectorised `exp`, `log`, `sin` and `cos`, within an ulp of the
//! exact value). `abs` and `square` are exact everywhere.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::Serialize;

use crate::backend::cpu::map::Kernel;
use crate::backend::cpu::vmath::{self, single};
use crate::device::Device;
use crate::dtype::{FloatElement, FloatSlice, FloatSliceMut};
use crate::error::{Error, Result};

/// The functions `map` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapFn {
    /// Square root.
    Sqrt,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Log,
    /// Sine (radians).
    Sin,
    /// Cosine (radians).
    Cos,
    /// Absolute value.
    Abs,
    /// `x * x`.
    Square,
    /// `1 / x`.
    Reciprocal,
}

impl MapFn {
    /// Every function, in a stable order.
    pub const ALL: [MapFn; 8] = [
        MapFn::Sqrt,
        MapFn::Exp,
        MapFn::Log,
        MapFn::Sin,
        MapFn::Cos,
        MapFn::Abs,
        MapFn::Square,
        MapFn::Reciprocal,
    ];

    /// The name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            MapFn::Sqrt => "sqrt",
            MapFn::Exp => "exp",
            MapFn::Log => "log",
            MapFn::Sin => "sin",
            MapFn::Cos => "cos",
            MapFn::Abs => "abs",
            MapFn::Square => "square",
            MapFn::Reciprocal => "reciprocal",
        }
    }

    /// How far a backend's result may lie from the CPU's, in ulps.
    pub const fn ulp_bound(self) -> u64 {
        match self {
            MapFn::Abs | MapFn::Square => 0,
            MapFn::Sqrt | MapFn::Exp | MapFn::Log | MapFn::Reciprocal => 4,
            MapFn::Sin | MapFn::Cos => 5,
        }
    }

    /// Index passed to the GPU kernels (`GC_MAP_*` in kernels/common/map.h).
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Applies the function in `f64`, bit for bit as the CPU path does:
    /// `exp`, `log`, `sin` and `cos` within an ulp of the exact value, the
    /// rest exact or correctly rounded.
    #[inline]
    pub fn apply_f64(self, x: f64) -> f64 {
        match self {
            MapFn::Sqrt => x.sqrt(),
            MapFn::Exp => vmath::exp(x),
            MapFn::Log => vmath::ln(x),
            MapFn::Sin => vmath::sin(x),
            MapFn::Cos => vmath::cos(x),
            MapFn::Abs => x.abs(),
            MapFn::Square => x * x,
            MapFn::Reciprocal => 1.0 / x,
        }
    }

    /// Applies the function in `f32`, bit for bit as the CPU path does:
    /// `exp`, `log`, `sin` and `cos` evaluated in `f64` and rounded once (the
    /// correctly rounded `f32` bar rare inputs near a tie, an ulp off at
    /// most), the rest in `f32`.
    #[inline]
    pub fn apply_f32(self, x: f32) -> f32 {
        match self {
            MapFn::Sqrt => x.sqrt(),
            MapFn::Exp => single::exp(x),
            MapFn::Log => single::ln(x),
            MapFn::Sin => single::sin(x),
            MapFn::Cos => single::cos(x),
            MapFn::Abs => x.abs(),
            MapFn::Square => x * x,
            MapFn::Reciprocal => 1.0 / x,
        }
    }
}

impl fmt::Display for MapFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MapFn {
    type Err = Error;
    fn from_str(s: &str) -> Result<MapFn> {
        let lower = s.to_ascii_lowercase();
        MapFn::ALL
            .into_iter()
            .find(|f| {
                f.name() == lower
                    || (lower == "ln" && *f == MapFn::Log)
                    || (lower == "rcp" && *f == MapFn::Reciprocal)
            })
            .ok_or_else(|| {
                let names: Vec<&str> = MapFn::ALL.iter().map(|f| f.name()).collect();
                Error::InvalidArgument(format!(
                    "unknown function `{s}`: expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Seconds a backend spent on a `map`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MapTiming {
    /// Time in the kernels alone (device-resident data).
    pub kernel_s: f64,
}

/// The outcome of a `map`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MapResult {
    /// The function.
    pub function: MapFn,
    /// Elements mapped.
    pub elements: usize,
    /// Bytes read plus bytes written.
    pub bytes: u64,
    /// Seconds in the kernels.
    pub kernel_s: f64,
    /// Seconds for the whole call, transfers included.
    pub total_s: f64,
    /// `bytes / kernel_s`.
    pub kernel_bandwidth: f64,
    /// Largest difference from the CPU path, in ulps (`None`: not checked).
    pub max_ulp: Option<u64>,
    /// The function's bound.
    pub ulp_bound: u64,
    /// Whether the check passed (`None`: not checked).
    pub verified: Option<bool>,
}

/// An input and an output of the same type and length, as a backend's `map` takes them.
pub(crate) enum MapIo<'a> {
    /// `f32` elements.
    F32(&'a [f32], &'a mut [f32]),
    /// `f64` elements.
    F64(&'a [f64], &'a mut [f64]),
}

impl MapIo<'_> {
    /// The same pair, borrowed again for a backend, so it can be checked after.
    fn reborrow(&mut self) -> MapIo<'_> {
        match self {
            MapIo::F32(x, y) => MapIo::F32(x, y),
            MapIo::F64(x, y) => MapIo::F64(x, y),
        }
    }
}

/// Applies `function` to every element of `input` on `device`, writing
/// `output`, a slice of the same length and type (`f32` or `f64`), wherever
/// the two lie: `Vec`s, arrays, parts of either. Where `verify` is set, every
/// element is checked against the CPU's result ([`MapFn::apply_f64`],
/// [`MapFn::apply_f32`]) within [`MapFn::ulp_bound`]. For arrays whose type
/// is known only at run time (a [`FloatVec`](crate::FloatVec) read from a
/// file), [`map_floats`] does the same.
///
/// ```
/// use gpucalc::map::{map, MapFn};
/// use gpucalc::{Device, DeviceSpec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let xs: Vec<f32> = (0..100).map(|i| i as f32).collect();
/// let mut ys = vec![0.0; xs.len()]; // f32, as xs
/// let result = map(&device, MapFn::Sqrt, &xs, &mut ys, true)?;
/// assert_eq!(ys[81], 9.0);
/// assert_eq!(result.verified, Some(true));
///
/// // Part of an array into an array.
/// let xs = [1.0, 4.0, 9.0, 16.0];
/// let mut ys = [0.0; 2];
/// map(&device, MapFn::Sqrt, &xs[2..], &mut ys, false)?;
/// assert_eq!(ys, [3.0, 4.0]);
/// # Ok::<(), gpucalc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidArgument`] where the lengths differ; the backend's errors
/// (an OpenCL device without fp64 for `f64`, a GPU out of memory, a failed launch).
pub fn map<T: FloatElement>(
    device: &Device,
    function: MapFn,
    input: &[T],
    output: &mut [T],
    verify: bool,
) -> Result<MapResult> {
    let (input, output) = T::pair(input, output);
    map_floats(device, function, input, output, verify)
}

/// [`map`] for arrays whose element type is known at run time: [`FloatVec`](crate::FloatVec)s
/// or [`FloatSlice`]s, given by reference.
///
/// ```
/// use gpucalc::map::{map_floats, MapFn};
/// use gpucalc::{Device, DeviceSpec, FloatVec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let input = FloatVec::from(vec![1.0f64, 4.0, 9.0]);
/// let mut output = FloatVec::zeros(input.float(), input.len());
/// map_floats(&device, MapFn::Sqrt, &input, &mut output, true)?;
/// assert_eq!(output.as_f64(), Some(&[1.0, 2.0, 3.0][..]));
/// # Ok::<(), gpucalc::Error>(())
/// ```
///
/// # Errors
///
/// As [`map`], and [`Error::InvalidArgument`] where the types differ.
pub fn map_floats<'i, 'o>(
    device: &Device,
    function: MapFn,
    input: impl Into<FloatSlice<'i>>,
    output: impl Into<FloatSliceMut<'o>>,
    verify: bool,
) -> Result<MapResult> {
    let (input, mut output) = (input.into(), output.into());
    let mut io = match (input, &mut output) {
        (FloatSlice::F32(x), FloatSliceMut::F32(y)) if x.len() == y.len() => MapIo::F32(x, y),
        (FloatSlice::F64(x), FloatSliceMut::F64(y)) if x.len() == y.len() => MapIo::F64(x, y),
        (_, y) => {
            return Err(Error::InvalidArgument(format!(
                "map: output is {} x {}, input is {} x {}",
                y.len(),
                y.float(),
                input.len(),
                input.float()
            )))
        }
    };
    let start = Instant::now();
    let timing = device.backend().map(function, io.reborrow())?;
    let total_s = start.elapsed().as_secs_f64();
    let bytes = 2 * (input.len() * input.float().size()) as u64;
    let max_ulp = verify.then(|| max_ulp_from_cpu(function, &io));
    Ok(MapResult {
        function,
        elements: input.len(),
        bytes,
        kernel_s: timing.kernel_s,
        total_s,
        kernel_bandwidth: bytes as f64 / timing.kernel_s.max(1e-12),
        max_ulp,
        ulp_bound: function.ulp_bound(),
        verified: max_ulp.map(|u| u <= function.ulp_bound()),
    })
}

/// Distance in ulps between two floats of the same type, given as ordered bit
/// patterns; equal values, two NaNs, or two equal infinities are 0 apart.
fn ulps_between(a_bits: i64, b_bits: i64) -> u64 {
    a_bits.abs_diff(b_bits)
}

/// Maps a float's bits onto a line where adjacent floats are adjacent integers.
fn ordered64(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    if bits < 0 {
        i64::MIN - bits
    } else {
        bits
    }
}

fn ordered32(x: f32) -> i64 {
    let bits = x.to_bits() as i32;
    i64::from(if bits < 0 { i32::MIN - bits } else { bits })
}

/// The largest ulp distance between the output and the CPU's result.
fn max_ulp_from_cpu(function: MapFn, io: &MapIo<'_>) -> u64 {
    use crate::backend::cpu::map::{kernel_f32, kernel_f64};
    match io {
        MapIo::F32(x, y) => max_ulp(
            x,
            y,
            kernel_f32(function),
            |v| function.apply_f32(v),
            f32::is_nan,
            ordered32,
        ),
        MapIo::F64(x, y) => max_ulp(
            x,
            y,
            kernel_f64(function),
            |v| function.apply_f64(v),
            f64::is_nan,
            ordered64,
        ),
    }
}

/// Of [`max_ulp`]'s pieces, one in this many takes its reference from
/// `apply` element by element rather than from the CPU kernel: the check
/// still means something on the CPU device, whose output is the kernel's.
const SCALAR_EVERY: usize = 16;

/// The largest distance between the CPU's result and `y`, on `ordered`'s
/// line; both NaN counts as equal, one NaN as infinitely far. The reference
/// is `kernel` (bit for bit `apply`, which `tests/map.rs` checks), filled
/// into a buffer on each task's stack so the loops vectorise, and `apply`
/// itself for one piece in [`SCALAR_EVERY`].
fn max_ulp<T: Copy + Default + Send + Sync>(
    x: &[T],
    y: &[T],
    kernel: Kernel<T>,
    apply: impl Fn(T) -> T + Sync,
    is_nan: impl Fn(T) -> bool + Sync,
    ordered: impl Fn(T) -> i64 + Sync,
) -> u64 {
    use rayon::prelude::*;
    const PIECE: usize = 2048;
    x.par_chunks(PIECE)
        .zip(y.par_chunks(PIECE))
        .enumerate()
        .map(|(piece, (x, y))| {
            let mut want = [T::default(); PIECE];
            let want = &mut want[..x.len()];
            if piece % SCALAR_EVERY == 0 {
                for (w, &x) in want.iter_mut().zip(x) {
                    *w = apply(x);
                }
            } else {
                kernel(x, want);
            }
            want.iter()
                .zip(y)
                .map(|(&want, &y)| match (is_nan(want), is_nan(y)) {
                    (true, true) => 0,
                    (false, false) => ulps_between(ordered(want), ordered(y)),
                    _ => u64::MAX,
                })
                .max()
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_distance_counts_adjacent_floats() {
        assert_eq!(
            ulps_between(ordered64(1.0), ordered64(1.0 + f64::EPSILON)),
            1
        );
        assert_eq!(ulps_between(ordered64(-0.0), ordered64(0.0)), 0);
        assert_eq!(
            ulps_between(ordered32(-f32::MIN_POSITIVE), ordered32(f32::MIN_POSITIVE)),
            2 * (1 << 23)
        );
        assert_eq!(
            ulps_between(ordered32(f32::INFINITY), ordered32(f32::INFINITY)),
            0
        );
    }

    #[test]
    fn names_parse_and_wrong_ones_list_the_choices() {
        for f in MapFn::ALL {
            assert_eq!(f.name().parse::<MapFn>().unwrap(), f);
        }
        let err = "tan".parse::<MapFn>().unwrap_err().to_string();
        assert!(err.contains("sqrt") && err.contains("reciprocal"));
    }

    #[test]
    fn a_wrong_value_fails_the_check_in_kernel_and_scalar_pieces() {
        let x: Vec<f64> = (0..40_000).map(|i| f64::from(i) * 0.01).collect();
        let right: Vec<f64> = x.iter().map(|&v| MapFn::Exp.apply_f64(v)).collect();
        let mut y = right.clone();
        assert_eq!(max_ulp_from_cpu(MapFn::Exp, &MapIo::F64(&x, &mut y)), 0);
        // Piece 1 (a kernel piece) and piece 16 (a scalar one), 2048 elements each.
        for i in [3_000, SCALAR_EVERY * 2048 + 5] {
            let mut y = right.clone();
            y[i] = f64::from_bits(y[i].to_bits() + 9);
            assert_eq!(
                max_ulp_from_cpu(MapFn::Exp, &MapIo::F64(&x, &mut y)),
                9,
                "{i}"
            );
        }
    }

    #[test]
    fn a_wrong_value_fails_the_check() {
        let x = [4.0f32, 9.0];
        let mut y = [2.0f32, 3.0001];
        assert!(max_ulp_from_cpu(MapFn::Sqrt, &MapIo::F32(&x, &mut y)) > 4);
        let mut y = [2.0f32, f32::NAN];
        assert_eq!(
            max_ulp_from_cpu(MapFn::Sqrt, &MapIo::F32(&x, &mut y)),
            u64::MAX
        );
    }
}
