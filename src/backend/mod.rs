//! The compute backends behind one crate-private trait: CPU (rayon), CUDA, OpenCL.
//!
//! Each backend folder exports the same names: a device type with `open`, and
//! `list()` for `gpucalc devices`. A backend compiled out exports a stub whose
//! device type cannot be constructed and whose `open`/`list` return
//! [`Error::BackendDisabled`].

pub(crate) mod cpu;
pub(crate) mod cuda;
pub(crate) mod opencl;

use crate::device::DeviceInfo;
use crate::dtype::{Float, FloatVec};
use crate::error::{Error, Result};
use crate::workloads::map::{MapFn, MapIo, MapTiming};
use crate::workloads::matmul::KernelTime;
use crate::workloads::rng::{RngSlice, RngSpec};
use crate::workloads::stream::StreamRaw;
use crate::workloads::transfer::{Direction, HostMemory};

/// What a backend's `matmul` did: the timed runs and what computed C.
#[derive(Debug, Clone)]
pub(crate) struct MatmulRuns {
    /// Seconds of each timed run.
    pub(crate) times: Vec<f64>,
    /// The kernel (and its tiles) or library that computed C.
    pub(crate) kernel: String,
    /// The candidates timed to choose it, fastest first (may be empty).
    pub(crate) tried: Vec<KernelTime>,
}

/// What every backend implements; workloads call these and nothing else.
pub(crate) trait Backend: Send + Sync {
    /// The device's description, as `gpucalc devices` shows it.
    fn info(&self) -> &DeviceInfo;

    /// How many `pi` samples one [`Backend::pi_hits`] call should take so that a
    /// call lasts tens of milliseconds (keeps progress and Ctrl-C responsive). Even.
    fn pi_chunk(&self) -> u64;

    /// Hits among samples `first .. first + count` of the stream for `seed`,
    /// by the hit rule of [`crate::workloads::pi`]. `first` is even; `first + count <= 2^63`.
    fn pi_hits(&self, seed: u64, first: u64, count: u64) -> Result<u64>;

    /// BabelStream's loop over three arrays of `n` elements, `times` iterations,
    /// every kernel call timed on the device and synchronised.
    fn stream(&self, float: Float, n: usize, times: usize) -> Result<StreamRaw> {
        let _ = (float, n, times);
        Err(self.unsupported("stream"))
    }

    /// Elements `first .. first + out.len()` of `spec`'s sequence (validated:
    /// the slice has the spec's type, the range lies inside the stream).
    fn rng_fill(&self, spec: &RngSpec, first: u64, out: RngSlice<'_>) -> Result<()> {
        let _ = (spec, first, out);
        Err(self.unsupported("rng"))
    }

    /// Seconds of each of `reps` generations of `n` elements of `spec` into
    /// device memory (no copy to the host), after one warm-up.
    fn rng_device_times(&self, spec: &RngSpec, n: usize, reps: usize) -> Result<Vec<f64>> {
        let _ = (spec, n, reps);
        Err(self.unsupported("rng into device memory"))
    }

    /// `output[i] = function(input[i])`; inputs larger than device memory go
    /// through in chunks.
    fn map(&self, function: MapFn, io: MapIo<'_>) -> Result<MapTiming> {
        let _ = (function, io);
        Err(self.unsupported("map"))
    }

    /// The host memory kinds `transfer` can measure here.
    fn host_memory_kinds(&self) -> Vec<HostMemory> {
        vec![HostMemory::Pageable]
    }

    /// Seconds for each of `reps` copies of `bytes` bytes, synchronised.
    fn transfer(
        &self,
        direction: Direction,
        memory: HostMemory,
        bytes: usize,
        reps: usize,
    ) -> Result<Vec<f64>> {
        let _ = (direction, memory, bytes, reps);
        Err(self.unsupported("transfer"))
    }

    /// C = A·B (row-major; A is m×k, B is k×n; validated sizes and types):
    /// one untimed warm-up run, then `reps` timed runs; returns their seconds
    /// and what computed C. A backend with several kernels may first time
    /// each (CUDA: see [`MatmulRuns::tried`]) unless `kernel` names one
    /// (else an error: [`Backend::no_kernel_choice`]). C's values on entry
    /// (NaN, from the caller) are what the chosen kernel's runs start from, on
    /// the device too, so an element it never writes fails verification.
    fn matmul(
        &self,
        a: &FloatVec,
        b: &FloatVec,
        c: &mut FloatVec,
        (m, n, k): (usize, usize, usize),
        reps: usize,
        kernel: Option<&str>,
    ) -> Result<MatmulRuns> {
        let _ = (a, b, c, m, n, k, reps, kernel);
        Err(self.unsupported("matmul"))
    }

    /// The error for a kernel named to a backend that has one way to do a
    /// workload (`how`), or `Ok` when none was named.
    fn no_kernel_choice(&self, kernel: Option<&str>, how: &str) -> Result<()> {
        match kernel {
            None => Ok(()),
            Some(name) => Err(Error::InvalidArgument(format!(
                "there is no kernel {name:?} to choose on {}: it computes with {how} \
                 (kernel names are for CUDA devices)",
                self.info().spec
            ))),
        }
    }

    /// The error for a workload this backend does not implement yet.
    fn unsupported(&self, workload: &str) -> Error {
        Error::Unsupported {
            backend: self.info().backend,
            workload: workload.to_string(),
        }
    }
}

/// The largest M, N or K the GEMM body of kernels/common/gemm.h takes, on
/// CUDA and OpenCL alike: it indexes rows and columns in 32 bits, and below
/// 2^31 a tile's last row or column cannot wrap around.
#[cfg(any(feature = "cuda", feature = "opencl", test))]
pub(crate) const GEMM_MAX_DIMENSION: usize = i32::MAX as usize;

/// Refuses a product on `backend` with a dimension past [`GEMM_MAX_DIMENSION`].
#[cfg(any(feature = "cuda", feature = "opencl", test))]
pub(crate) fn check_gemm_dimensions(
    backend: crate::error::BackendKind,
    (m, n, k): (usize, usize, usize),
) -> Result<()> {
    match [("M", m), ("N", n), ("K", k)]
        .into_iter()
        .find(|&(_, value)| value > GEMM_MAX_DIMENSION)
    {
        None => Ok(()),
        Some((name, value)) => Err(Error::InvalidArgument(format!(
            "matmul on {} takes dimensions up to {GEMM_MAX_DIMENSION}; {name} is {value}",
            backend.display_name()
        ))),
    }
}

/// A type with no values: the payload of a compiled-out backend's device type.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // only used by whichever backends are compiled out
pub(crate) enum Never {}

/// Defines the stand-in for a backend compiled out of this build: a device type
/// that cannot be constructed, whose `open` and `list` say which feature to enable.
#[allow(unused_macros)] // unused when every backend is compiled in
macro_rules! disabled_backend {
    ($device:ident, $kind:ident) => {
        /// A device of a backend this build does not have: no value of this type can exist.
        #[derive(Debug)]
        pub struct $device($crate::backend::Never);

        impl $device {
            /// Always fails: the backend is not compiled in.
            pub(crate) fn open(_index: usize) -> $crate::error::Result<$device> {
                Err($crate::error::Error::BackendDisabled(
                    $crate::error::BackendKind::$kind,
                ))
            }
        }

        /// Always fails: the backend is not compiled in.
        pub(crate) fn list() -> $crate::error::Result<Vec<$crate::device::DeviceInfo>> {
            Err($crate::error::Error::BackendDisabled(
                $crate::error::BackendKind::$kind,
            ))
        }

        impl $crate::backend::Backend for $device {
            fn info(&self) -> &$crate::device::DeviceInfo {
                match self.0 {}
            }
            fn pi_chunk(&self) -> u64 {
                match self.0 {}
            }
            fn pi_hits(&self, _: u64, _: u64, _: u64) -> $crate::error::Result<u64> {
                match self.0 {}
            }
        }
    };
}
#[allow(unused_imports)] // unused when every backend is compiled in
pub(crate) use disabled_backend;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BackendKind;

    #[test]
    fn gemm_dimensions_past_32_bits_are_refused_by_name() {
        let max = GEMM_MAX_DIMENSION;
        assert!(check_gemm_dimensions(BackendKind::Cuda, (max, max, max)).is_ok());
        let err = check_gemm_dimensions(BackendKind::Cuda, (1, 1, max + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "matmul on CUDA takes dimensions up to 2147483647; K is 2147483648"
        );
        let err = check_gemm_dimensions(BackendKind::OpenCl, (max + 1, max + 2, 1)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("on OpenCL takes dimensions up to 2147483647; M is 2147483648"),
            "{err}"
        );
    }
}
