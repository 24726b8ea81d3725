//! `rng`: random numbers from the Philox stream, as NumPy arrays or raw bytes.
//!
//! Element `k` of a request with offset `K` is element `K + k` of the
//! distribution's sequence, so pieces generated with different offsets
//! concatenate to the whole. Per element:
//!
//! - `raw` (u32): stream word `k`.
//! - `uniform` f32: word `k` as `(w >> 8) * 2^-24`.
//! - `uniform` f64: words `2k, 2k+1` as `(((w0 << 32) | w1) >> 11) * 2^-53`.
//! - `normal`: Box–Muller on the uniform pair `(u1, u2)` = uniform elements
//!   `2p, 2p+1` of the same type, `p = k / 2`: `r = sqrt(-2 ln(1 - u1))`,
//!   `t = 2 pi u2`, element `2p` is `r cos t` and `2p+1` is `r sin t`,
//!   computed in the element type.
//!
//! `raw` and `uniform` are bit-identical on every backend. `normal` uses each
//! device's `log`, `sqrt`, `sin` and `cos`, so backends agree within a bound
//! of [`NORMAL_ULP_BOUND`] instead: the test suite holds every backend to that
//! many ulps of the larger magnitude; the check `rng` runs on its output
//! ([`rng_matches_reference`]) to that many ε·max(|x|, 1), a little looser.
//!
//! [`rng_generate`] and [`rng_fill`] produce arrays in memory; [`rng_write`]
//! streams a sequence of any length in chunks into a `.npy` file or a byte
//! stream, checked, with progress and cancellation (what `gpucalc rng -o` runs).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::device::Device;
use crate::dtype::FloatVec;
use crate::error::{Error, Result};
use crate::philox::{uniform_f32, uniform_f64};
pub use crate::workloads::rng_out::{rng_write, RngReport, RngSink};

/// How far a backend's `normal` values may be from the CPU reference: the
/// test suite allows this many ulps of the larger magnitude; `rng`'s own check
/// ([`rng_matches_reference`]) this many ε·max(|x|, 1) (16 to 32 ulps for
/// |x| ≥ 1, and an absolute 16ε below, where `r cos t` near zero inherits the
/// absolute error of `cos`), so that no device's `cos` makes a right run fail.
pub const NORMAL_ULP_BOUND: u32 = 16;

/// The distribution drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    /// Uniform on `[0, 1)`.
    #[default]
    Uniform,
    /// Standard normal, by Box–Muller.
    Normal,
    /// The raw Philox stream words.
    Raw,
}

/// The element type of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RngType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 32-bit unsigned integer (raw words only).
    U32,
}

impl RngType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            RngType::F32 | RngType::U32 => 4,
            RngType::F64 => 8,
        }
    }

    /// Elements each Philox block (4 words) yields.
    pub(crate) const fn per_block(self, dist: Dist) -> u64 {
        match (dist, self) {
            (_, RngType::F64) => 2,
            _ => 4,
        }
    }
}

impl FromStr for Dist {
    type Err = Error;
    fn from_str(s: &str) -> Result<Dist, Error> {
        match s.to_ascii_lowercase().as_str() {
            "uniform" => Ok(Dist::Uniform),
            "normal" | "gaussian" => Ok(Dist::Normal),
            "raw" => Ok(Dist::Raw),
            _ => Err(Error::InvalidArgument(format!(
                "unknown distribution `{s}`: expected uniform, normal or raw"
            ))),
        }
    }
}

impl FromStr for RngType {
    type Err = Error;
    fn from_str(s: &str) -> Result<RngType, Error> {
        // Any case, as Float and MapFn parse, and NumPy's names too.
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(RngType::F32),
            "f64" | "float64" => Ok(RngType::F64),
            "u32" | "uint32" => Ok(RngType::U32),
            _ => Err(Error::InvalidArgument(format!(
                "unknown dtype `{s}`: expected f32, f64 or u32"
            ))),
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dist::Uniform => "uniform",
            Dist::Normal => "normal",
            Dist::Raw => "raw",
        })
    }
}

impl fmt::Display for RngType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RngType::F32 => "f32",
            RngType::F64 => "f64",
            RngType::U32 => "u32",
        })
    }
}

/// What to draw: a distribution, an element type and the stream's seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RngSpec {
    /// The distribution.
    pub dist: Dist,
    /// The element type.
    pub dtype: RngType,
    /// The seed of the Philox stream.
    pub seed: u64,
}

impl RngSpec {
    /// A validated spec: `raw` needs `u32`; `uniform` and `normal` need a float type.
    pub fn new(dist: Dist, dtype: RngType, seed: u64) -> Result<RngSpec> {
        match (dist, dtype) {
            (Dist::Raw, RngType::U32)
            | (Dist::Uniform | Dist::Normal, RngType::F32 | RngType::F64) => {
                Ok(RngSpec { dist, dtype, seed })
            }
            (Dist::Raw, _) => Err(Error::InvalidArgument(
                "--dist raw gives u32 words: use --dtype u32".into(),
            )),
            (_, RngType::U32) => Err(Error::InvalidArgument(format!(
                "--dist {dist} gives floats: use --dtype f32 or f64 (u32 is for --dist raw)"
            ))),
        }
    }

    /// The element type a distribution gives by default: u32 for raw, else f64.
    pub fn default_dtype(dist: Dist) -> RngType {
        match dist {
            Dist::Raw => RngType::U32,
            _ => RngType::F64,
        }
    }
}

/// A mutable host slice of one of the element types.
#[derive(Debug)]
pub enum RngSlice<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `f64` elements.
    F64(&'a mut [f64]),
    /// `u32` elements.
    U32(&'a mut [u32]),
}

impl RngSlice<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            RngSlice::F32(s) => s.len(),
            RngSlice::F64(s) => s.len(),
            RngSlice::U32(s) => s.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> RngType {
        match self {
            RngSlice::F32(_) => RngType::F32,
            RngSlice::F64(_) => RngType::F64,
            RngSlice::U32(_) => RngType::U32,
        }
    }
}

/// An owned host array of one of the element types.
#[derive(Debug, Clone, PartialEq)]
pub enum RngVec {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `u32` elements.
    U32(Vec<u32>),
}

impl RngVec {
    /// `n` zeros of `dtype`. Where the host cannot hold them this aborts, as
    /// `vec!` does; [`RngVec::try_zeros`] returns an error instead.
    pub fn zeros(dtype: RngType, n: usize) -> RngVec {
        match dtype {
            RngType::F32 => RngVec::F32(vec![0.0; n]),
            RngType::F64 => RngVec::F64(vec![0.0; n]),
            RngType::U32 => RngVec::U32(vec![0; n]),
        }
    }

    /// `n` zeros of `dtype`, or an [`Error::OutOfMemory`] where the host
    /// cannot hold them, instead of the abort [`RngVec::zeros`] gives then.
    pub fn try_zeros(dtype: RngType, n: usize) -> Result<RngVec> {
        let what = format!("{n} {dtype} numbers");
        Ok(match dtype {
            RngType::F32 => RngVec::F32(crate::backend::cpu::host_vec(n, 0.0, &what)?),
            RngType::F64 => RngVec::F64(crate::backend::cpu::host_vec(n, 0.0, &what)?),
            RngType::U32 => RngVec::U32(crate::backend::cpu::host_vec(n, 0, &what)?),
        })
    }

    /// The whole array as a mutable slice.
    pub fn as_slice_mut(&mut self) -> RngSlice<'_> {
        match self {
            RngVec::F32(v) => RngSlice::F32(v),
            RngVec::F64(v) => RngSlice::F64(v),
            RngVec::U32(v) => RngSlice::U32(v),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            RngVec::F32(v) => v.len(),
            RngVec::F64(v) => v.len(),
            RngVec::U32(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` widened to `f64` (exactly).
    ///
    /// # Panics
    ///
    /// Where `i` is not below [`RngVec::len`].
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            RngVec::F32(v) => f64::from(v[i]),
            RngVec::F64(v) => v[i],
            RngVec::U32(v) => f64::from(v[i]),
        }
    }

    /// The first `n` elements' little-endian bytes, as NumPy stores them.
    ///
    /// # Panics
    ///
    /// Where `n` is more than [`RngVec::len`].
    pub fn le_bytes(&self, n: usize) -> Vec<u8> {
        self.le_bytes_view(n).into_owned()
    }

    /// [`RngVec::le_bytes`], borrowed where the host is little-endian (the
    /// elements' bytes are then already in that order).
    pub(crate) fn le_bytes_view(&self, n: usize) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        if cfg!(target_endian = "little") {
            return Cow::Borrowed(match self {
                RngVec::F32(v) => bytemuck::cast_slice(&v[..n]),
                RngVec::F64(v) => bytemuck::cast_slice(&v[..n]),
                RngVec::U32(v) => bytemuck::cast_slice(&v[..n]),
            });
        }
        Cow::Owned(match self {
            RngVec::F32(v) => v[..n].iter().flat_map(|x| x.to_le_bytes()).collect(),
            RngVec::F64(v) => v[..n].iter().flat_map(|x| x.to_le_bytes()).collect(),
            RngVec::U32(v) => v[..n].iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }
}

/// Floating-point numbers as the input of [`map`](crate::map::map) or a
/// [`Matrix`](crate::matmul::Matrix), without a copy; raw `u32` words are
/// refused (and handed back in the error).
///
/// ```
/// use gpucalc::map::{map_floats, MapFn};
/// use gpucalc::rng::{rng_generate, Dist, RngSpec, RngType};
/// use gpucalc::{Device, DeviceSpec, FloatVec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let spec = RngSpec::new(Dist::Uniform, RngType::F64, 1)?;
/// let x = FloatVec::try_from(rng_generate(&device, &spec, 0, 1000)?).expect("f64");
/// let mut y = FloatVec::zeros(x.float(), x.len());
/// map_floats(&device, MapFn::Exp, &x, &mut y, true)?;
/// # Ok::<(), gpucalc::Error>(())
/// ```
impl TryFrom<RngVec> for FloatVec {
    type Error = RngVec;

    fn try_from(numbers: RngVec) -> std::result::Result<FloatVec, RngVec> {
        match numbers {
            RngVec::F32(v) => Ok(FloatVec::F32(v)),
            RngVec::F64(v) => Ok(FloatVec::F64(v)),
            words @ RngVec::U32(_) => Err(words),
        }
    }
}

/// Fills `out` with elements `first .. first + out.len()` of `spec`'s sequence on `device`.
///
/// ```
/// use gpucalc::rng::{rng_fill, Dist, RngSlice, RngSpec, RngType};
/// use gpucalc::{Device, DeviceSpec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let spec = RngSpec::new(Dist::Uniform, RngType::F32, 42)?;
/// let mut whole = vec![0f32; 100];
/// rng_fill(&device, &spec, 0, RngSlice::F32(&mut whole))?;
/// // Any split concatenates to the whole.
/// let mut tail = vec![0f32; 30];
/// rng_fill(&device, &spec, 70, RngSlice::F32(&mut tail))?;
/// assert_eq!(&whole[70..], &tail[..]);
/// # Ok::<(), gpucalc::Error>(())
/// ```
pub fn rng_fill(device: &Device, spec: &RngSpec, first: u64, out: RngSlice<'_>) -> Result<()> {
    let spec = RngSpec::new(spec.dist, spec.dtype, spec.seed)?;
    if out.dtype() != spec.dtype {
        return Err(Error::InvalidArgument(format!(
            "rng_fill: a {} slice for {} elements",
            out.dtype(),
            spec.dtype
        )));
    }
    check_range(&spec, first, out.len())?;
    if out.is_empty() {
        return Ok(());
    }
    device.backend().rng_fill(&spec, first, out)
}

/// Refuses elements `first .. first + len` where they run past [`max_elements`].
fn check_range(spec: &RngSpec, first: u64, len: usize) -> Result<()> {
    let end = first
        .checked_add(len as u64)
        .filter(|&e| e <= max_elements(spec));
    match end {
        Some(_) => Ok(()),
        None => Err(Error::InvalidArgument(format!(
            "elements {first} .. {first} + {len} lie past the end of the stream (2^64 words)"
        ))),
    }
}

/// How many elements of `spec`'s sequence gpucalc generates: the stream's
/// 2^64 words make 2^63 f64 elements (two words each), and 2^64 of the others,
/// of which the first 2^64 − 1 are reachable, since element ranges end at a
/// `u64` (the last raw word needs `--offset` 2^64 − 1 and one element).
pub fn max_elements(spec: &RngSpec) -> u64 {
    (1u64 << 62).saturating_mul(spec.dtype.per_block(spec.dist))
}

/// Generates elements `first .. first + n` of `spec`'s sequence into a new array.
pub fn rng_generate(device: &Device, spec: &RngSpec, first: u64, n: usize) -> Result<RngVec> {
    // A range past the stream is the clearer error, before any allocation.
    check_range(spec, first, n)?;
    let mut out = RngVec::try_zeros(spec.dtype, n)?;
    rng_fill(device, spec, first, out.as_slice_mut())?;
    Ok(out)
}

/// Box–Muller in `f32`: the pair of normals from uniforms `(u1, u2)`.
#[inline]
pub fn box_muller_f32(u1: f32, u2: f32) -> (f32, f32) {
    let r = (-2.0f32 * (1.0f32 - u1).ln()).sqrt();
    let t = std::f32::consts::TAU * u2;
    (r * t.cos(), r * t.sin())
}

/// Box–Muller in `f64`: the pair of normals from uniforms `(u1, u2)`.
#[inline]
pub fn box_muller_f64(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0f64 * (1.0f64 - u1).ln()).sqrt();
    let t = std::f64::consts::TAU * u2;
    (r * t.cos(), r * t.sin())
}

/// The elements one Philox block yields, by the rules in the module docs.
#[inline(always)]
pub(crate) fn block_u32(w: [u32; 4]) -> [u32; 4] {
    w
}

/// Uniform f32 elements of one block.
#[inline(always)]
pub(crate) fn block_uniform_f32(w: [u32; 4]) -> [f32; 4] {
    w.map(uniform_f32)
}

/// Uniform f64 elements of one block.
#[inline(always)]
pub(crate) fn block_uniform_f64(w: [u32; 4]) -> [f64; 2] {
    [uniform_f64(w[0], w[1]), uniform_f64(w[2], w[3])]
}

/// Element `index` of the sequence `spec` describes, computed one at a time
/// from the stream words and the formulas of the module docs, written out here
/// again rather than shared with the fast paths, so a slip in either shows up
/// in the tests. Integers and f32 values are returned widened to f64 (exactly).
pub fn rng_reference(spec: &RngSpec, index: u64) -> f64 {
    let word = |i: u64| crate::philox::stream_word(spec.seed, i);
    let unit_f32 = |w: u32| (w >> 8) as f32 / 16_777_216.0;
    let unit_f64 = |w0: u32, w1: u32| {
        (((u64::from(w0) << 32) | u64::from(w1)) >> 11) as f64 / 9_007_199_254_740_992.0
    };
    let pair = index / 2;
    match (spec.dist, spec.dtype) {
        (Dist::Raw, _) => f64::from(word(index)),
        (Dist::Uniform, RngType::F64) => unit_f64(word(2 * index), word(2 * index + 1)),
        (Dist::Uniform, _) => f64::from(unit_f32(word(index))),
        (Dist::Normal, RngType::F64) => {
            let u1 = unit_f64(word(4 * pair), word(4 * pair + 1));
            let u2 = unit_f64(word(4 * pair + 2), word(4 * pair + 3));
            let r = (-2.0 * (1.0 - u1).ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            if index.is_multiple_of(2) {
                r * t.cos()
            } else {
                r * t.sin()
            }
        }
        (Dist::Normal, _) => {
            let (u1, u2) = (unit_f32(word(2 * pair)), unit_f32(word(2 * pair + 1)));
            let r = (-2.0f32 * (1.0 - u1).ln()).sqrt();
            let t = 2.0 * std::f32::consts::PI * u2;
            f64::from(if index.is_multiple_of(2) {
                r * t.cos()
            } else {
                r * t.sin()
            })
        }
    }
}

/// Whether `got` is right for element `index` of `spec`'s sequence, by
/// [`rng_reference`]: bit for bit for `raw` and `uniform`; for `normal`, within
/// [`NORMAL_ULP_BOUND`] ulps of the element type, of the larger of the value's
/// magnitude and 1 (near zero, `r cos t` inherits the absolute error of `cos`).
pub fn rng_matches_reference(spec: &RngSpec, index: u64, got: f64) -> bool {
    let want = rng_reference(spec, index);
    match spec.dist {
        Dist::Raw | Dist::Uniform => got.to_bits() == want.to_bits(),
        Dist::Normal => {
            let eps = match spec.dtype {
                RngType::F64 => f64::EPSILON,
                _ => f64::from(f32::EPSILON),
            };
            (got - want).abs() <= f64::from(NORMAL_ULP_BOUND) * eps * want.abs().max(1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::philox::stream_word;

    #[test]
    fn floats_convert_to_a_float_vec_and_words_are_handed_back() {
        let floats = FloatVec::try_from(RngVec::F32(vec![0.5, 0.25])).unwrap();
        assert_eq!(floats.as_f32(), Some(&[0.5f32, 0.25][..]));
        assert_eq!(
            FloatVec::try_from(RngVec::U32(vec![7])),
            Err(RngVec::U32(vec![7]))
        );
    }

    #[test]
    fn le_bytes_are_each_elements_little_endian_bytes_in_order() {
        let words = RngVec::U32(vec![0x0403_0201, 0x0807_0605, 9]);
        assert_eq!(le_bytes_owned(&words), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(words.le_bytes(2), [1, 2, 3, 4, 5, 6, 7, 8]);
        let floats = RngVec::F64(vec![1.5, -0.0, 3.25]);
        assert_eq!(&*floats.le_bytes_view(3), &le_bytes_owned(&floats)[..]);
        let floats = RngVec::F32(vec![0.1, 2.0]);
        assert_eq!(&*floats.le_bytes_view(2), &le_bytes_owned(&floats)[..]);
    }

    /// The first two elements' bytes, by `to_le_bytes`, or all three's for f64.
    fn le_bytes_owned(values: &RngVec) -> Vec<u8> {
        match values {
            RngVec::U32(v) => v[..2].iter().flat_map(|x| x.to_le_bytes()).collect(),
            RngVec::F32(v) => v[..2].iter().flat_map(|x| x.to_le_bytes()).collect(),
            RngVec::F64(v) => v[..3].iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn a_request_past_the_hosts_memory_is_an_error_not_an_abort() {
        let cpu = Device::select(&crate::DeviceSpec::Cpu).unwrap();
        let spec = RngSpec::new(Dist::Normal, RngType::F64, 1).unwrap();
        let err = rng_generate(&cpu, &spec, 0, 1 << 40).unwrap_err();
        assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
        // Past the stream's 2^63 f64s: that, not the memory, is the error.
        let err = rng_generate(&cpu, &spec, 0, usize::MAX).unwrap_err();
        assert!(
            err.to_string().contains("past the end of the stream"),
            "{err}"
        );
    }

    #[test]
    fn element_layout_follows_the_docs() {
        let seed = 77;
        let raw = RngSpec::new(Dist::Raw, RngType::U32, seed).unwrap();
        let u32s = RngSpec::new(Dist::Uniform, RngType::F32, seed).unwrap();
        let u64s = RngSpec::new(Dist::Uniform, RngType::F64, seed).unwrap();
        for k in 0..40u64 {
            assert_eq!(rng_reference(&raw, k), f64::from(stream_word(seed, k)));
            assert_eq!(
                rng_reference(&u32s, k),
                f64::from(uniform_f32(stream_word(seed, k)))
            );
            let (w0, w1) = (stream_word(seed, 2 * k), stream_word(seed, 2 * k + 1));
            assert_eq!(rng_reference(&u64s, k), uniform_f64(w0, w1));
        }
        let n64 = RngSpec::new(Dist::Normal, RngType::F64, seed).unwrap();
        let (a, b) = box_muller_f64(rng_reference(&u64s, 6), rng_reference(&u64s, 7));
        assert_eq!((rng_reference(&n64, 6), rng_reference(&n64, 7)), (a, b));
    }

    #[test]
    fn the_reference_check_is_exact_for_uniform_and_bounded_for_normal() {
        let uniform = RngSpec::new(Dist::Uniform, RngType::F32, 9).unwrap();
        let normal32 = RngSpec::new(Dist::Normal, RngType::F32, 9).unwrap();
        let normal64 = RngSpec::new(Dist::Normal, RngType::F64, 9).unwrap();
        for k in 0..64u64 {
            let u = rng_reference(&uniform, k);
            assert!(rng_matches_reference(&uniform, k, u));
            // One f32 ulp off is wrong for a bit-exact stream.
            let next = f64::from(f32::from_bits((u as f32).to_bits() + 1));
            assert!(!rng_matches_reference(&uniform, k, next));
            for (spec, eps) in [
                (normal32, f64::from(f32::EPSILON)),
                (normal64, f64::EPSILON),
            ] {
                let x = rng_reference(&spec, k);
                let bound = f64::from(NORMAL_ULP_BOUND) * eps * x.abs().max(1.0);
                assert!(rng_matches_reference(&spec, k, x + 0.9 * bound));
                assert!(!rng_matches_reference(&spec, k, x + 1.1 * bound));
            }
        }
    }

    #[test]
    fn invalid_combinations_are_refused() {
        assert!(RngSpec::new(Dist::Raw, RngType::F32, 0).is_err());
        assert!(RngSpec::new(Dist::Normal, RngType::U32, 0).is_err());
        assert!("poisson".parse::<Dist>().is_err());
        assert!("f16".parse::<RngType>().is_err());
    }

    #[test]
    fn names_parse_in_any_case() {
        assert_eq!("Normal".parse::<Dist>().unwrap(), Dist::Normal);
        assert_eq!("F32".parse::<RngType>().unwrap(), RngType::F32);
        assert_eq!("UInt32".parse::<RngType>().unwrap(), RngType::U32);
    }

    #[test]
    fn normal_moments_are_standard() {
        let spec = RngSpec::new(Dist::Normal, RngType::F64, 1).unwrap();
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|k| rng_reference(&spec, k)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }
}
