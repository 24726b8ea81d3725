//! The CUDA backend: kernels compiled by nvcc at build time, driven through the CUDA driver API.
//!
//! Without the `cuda` feature this folder exports a stub of the same shape.
//!
//! With it, the layers are, bottom up (each one wraps the one below it; above
//! [`driver`], [`stream`] and [`memory`], the only `unsafe` left is launching a
//! kernel, whose argument types the driver cannot check, and queueing an
//! asynchronous copy, whose host buffer must outlive it):
//! - [`sys`]: the raw driver entry points, returning plain integer codes, from
//!   `libcuda.so.1` opened at run time (a machine without it still runs gpucalc);
//! - [`status`]: those codes in words, and the check that makes them results
//!   (never asking the driver, which may be a stub, to describe its errors);
//! - [`driver`] and [`stream`]: owning wrappers for devices, the primary
//!   context, modules, kernels, streams, events and device memory;
//! - [`device`]: `list()`, [`CudaDevice`] and its `Backend` implementation,
//!   where driver codes become gpucalc's one-line [`Error`](crate::Error)s;
//! - [`pi`]: the launch shape (occupancy API) and the `gc_pi_hits` cycle;
//! - [`launch`]: what the other workloads share ([`launch::Gpu`], kernels and
//!   their arguments, chunk sizes), and [`memory`]: page-locked host buffers and
//!   asynchronous copies;
//! - the workloads: [`babelstream`] (`stream`), [`rng`], [`map`], [`transfer`], [`matmul`].
//!
//! The kernels are `kernels/cuda/*.cu`, built by `build.rs` into fatbins
//! (PTX for `compute_75`, machine code for `sm_80` and `sm_90` unless
//! `GPUCALC_CUDA_ARCH` says otherwise) and embedded in the binary.

#[cfg(not(feature = "cuda"))]
crate::backend::disabled_backend!(CudaDevice, Cuda);

#[cfg(feature = "cuda")]
mod babelstream;
#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
mod driver;
#[cfg(feature = "cuda")]
mod launch;
#[cfg(feature = "cuda")]
mod map;
#[cfg(feature = "cuda")]
mod matmul;
#[cfg(feature = "cuda")]
mod memory;
#[cfg(feature = "cuda")]
mod pi;
#[cfg(feature = "cuda")]
mod rng;
#[cfg(feature = "cuda")]
mod status;
#[cfg(feature = "cuda")]
mod stream;
#[cfg(feature = "cuda")]
mod sys;
#[cfg(feature = "cuda")]
mod transfer;

#[cfg(feature = "cuda")]
pub(crate) use device::list;
#[cfg(feature = "cuda")]
pub use device::CudaDevice;

/// GPU 0 for the unit tests, or `None` (with the reason printed) where there is none.
#[cfg(all(test, feature = "cuda"))]
pub(crate) fn test_gpu() -> Option<CudaDevice> {
    match CudaDevice::open(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: no CUDA device to test on ({e})");
            None
        }
    }
}
