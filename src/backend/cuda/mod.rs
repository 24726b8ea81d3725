//! The CUDA backend: kernels compiled by nvcc at build time, driven through cust.
//!
//! Without the `cuda` feature this folder exports a stub of the same shape.

#[cfg(not(feature = "cuda"))]
crate::backend::disabled_backend!(CudaDevice, Cuda);
