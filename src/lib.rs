//! gpucalc: parallel numerical work on GPUs and CPUs, with the same answer on each.
//!
//! Work runs on a [`Device`] chosen by a [`DeviceSpec`]: the rayon CPU path
//! (always there), CUDA GPUs (feature `cuda`) or OpenCL devices (feature
//! `opencl`). Random numbers come from the counter-based Philox4x32-10
//! generator ([`philox`]), laid out so that every backend, thread count and
//! split of the work draws exactly the same stream.
//!
//! ```
//! use gpucalc::{pi, Device, DeviceSpec};
//!
//! let device = Device::select(&"cpu".parse::<DeviceSpec>()?)?;
//! let result = pi(&device, 10_000_000, 7)?;
//! println!("pi ≈ {} ± {} on {}", result.estimate, result.std_error, device.info().name);
//! # Ok::<(), gpucalc::Error>(())
//! ```
#![deny(missing_docs)]

mod atomic_file;
mod backend;
pub mod bench;
#[doc(hidden)]
pub mod cli;
mod control;
mod device;
mod dtype;
mod error;
pub mod npy;
pub mod philox;
pub mod workloads;

pub use backend::cpu::reference_hits as pi_reference_hits;
pub use cli::{parse_count, parse_whole};
pub use control::{CancelToken, RunControl};
pub use device::{
    list_devices, Device, DeviceInfo, DeviceList, DeviceOptions, DeviceSpec, DeviceType,
    OpenedDevices,
};
pub use dtype::{Float, FloatElement, FloatSlice, FloatSliceMut, FloatVec};
pub use error::{human_bytes, BackendKind, Error, Result};
pub use workloads::pi::{pi, pi_on, pi_with, PiResult, PiShare};
pub use workloads::stream::{stream, KernelStats, StreamKernel, StreamResult};
pub use workloads::{map, matmul, rng, transfer};
