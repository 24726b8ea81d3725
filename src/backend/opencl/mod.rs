//! The OpenCL backend: kernels built at run time for each device, driven through ocl.
//!
//! Without the `opencl` feature this folder exports a stub of the same shape.
//!
//! - `platform`: every platform and device, numbered `opencl:0`, `opencl:1`, ...
//! - `program`: the embedded OpenCL C sources, assembled and built once per device.
//! - `device`: `OpenClDevice`: context, queue, programs, buffers; the `Backend` impl.
//! - `pi`: the `pi` kernel's launch, sized from the device.
//! - `session`: what the array workloads share: a profiling queue, kernels with
//!   launch shapes from the device, typed blocking reads and writes.
//! - `stream`, `rng`, `map`, `transfer`: those workloads' host sides; `pipeline`:
//!   long `map` and `rng` jobs in pieces on two queues, copies overlapping kernels.
//! - `status`: OpenCL status codes and ocl errors as one-line `gpucalc::Error`s:
//!   `Runtime` naming the call and the status, `OutOfMemory` for allocation failures.
//! - `guard`: ocl's panics (on status codes it does not know) as such errors too.

#[cfg(not(feature = "opencl"))]
crate::backend::disabled_backend!(OpenClDevice, OpenCl);

#[cfg(feature = "opencl")]
mod device;
#[cfg(feature = "opencl")]
mod guard;
#[cfg(feature = "opencl")]
mod map;
#[cfg(feature = "opencl")]
mod matmul;
#[cfg(feature = "opencl")]
mod pi;
#[cfg(feature = "opencl")]
mod pipeline;
#[cfg(feature = "opencl")]
mod platform;
#[cfg(feature = "opencl")]
mod program;
#[cfg(feature = "opencl")]
mod rng;
#[cfg(feature = "opencl")]
mod session;
#[cfg(feature = "opencl")]
mod status;
#[cfg(feature = "opencl")]
mod stream;
#[cfg(feature = "opencl")]
mod transfer;

#[cfg(feature = "opencl")]
pub use device::OpenClDevice;
#[cfg(feature = "opencl")]
pub(crate) use platform::list;
