//! The OpenCL backend: kernels built at run time for each device, driven through ocl.
//!
//! Without the `opencl` feature this folder exports a stub of the same shape.

#[cfg(not(feature = "opencl"))]
crate::backend::disabled_backend!(OpenClDevice, OpenCl);
