//! Raw CUDA driver entry points: the bottom layer, every call returns a plain `c_int` code.
//!
//! cust_raw (re-exported by cust as `cust::sys`) declares the same functions
//! returning its `CUresult` enum. That enum was generated from CUDA 11 headers;
//! today's drivers return codes it lacks (46 `CUDA_ERROR_DEVICE_UNAVAILABLE` from
//! a GPU in exclusive-process mode, for one), and a Rust enum holding an
//! undeclared value is undefined behaviour. So the functions gpucalc calls are
//! declared here with an integer result, which [`super::status`] turns into a
//! checked result. The handle and attribute types are cust_raw's, and the
//! library itself is linked by cust_raw's build script (`-lcuda`).
//!
//! Every function here is `unsafe` to call: the caller guarantees valid out
//! pointers and live handles, and [`super::driver`] wraps each one so no other
//! module needs to.

#![allow(non_snake_case)] // the driver's own names

use std::os::raw::{c_char, c_int, c_uint, c_void};

pub(crate) use cust::sys::{
    CUcontext, CUdevice, CUdevice_attribute, CUdeviceptr, CUevent, CUfunction, CUmodule, CUstream,
};

/// A `CUresult` as the driver returns it; 0 is success.
pub(crate) type CuResult = c_int;

/// `CUDA_SUCCESS`.
pub(crate) const CUDA_SUCCESS: CuResult = 0;

/// `CU_STREAM_NON_BLOCKING`: the stream does not synchronize with the legacy default stream.
pub(crate) const CU_STREAM_NON_BLOCKING: c_uint = 0x1;

/// `CU_EVENT_DEFAULT`: an event that records timing.
pub(crate) const CU_EVENT_DEFAULT: c_uint = 0x0;

/// The callback type of `cuOccupancyMaxPotentialBlockSize` (dynamic shared memory per block size).
pub(crate) type BlockSizeToSmem = Option<unsafe extern "C" fn(block_size: c_int) -> usize>;

extern "C" {
    // Initialization and version.
    pub(crate) fn cuInit(flags: c_uint) -> CuResult;
    pub(crate) fn cuDriverGetVersion(version: *mut c_int) -> CuResult;

    // Devices.
    pub(crate) fn cuDeviceGetCount(count: *mut c_int) -> CuResult;
    pub(crate) fn cuDeviceGet(device: *mut CUdevice, ordinal: c_int) -> CuResult;
    pub(crate) fn cuDeviceGetName(name: *mut c_char, len: c_int, device: CUdevice) -> CuResult;
    pub(crate) fn cuDeviceGetAttribute(
        value: *mut c_int,
        attribute: CUdevice_attribute,
        device: CUdevice,
    ) -> CuResult;
    pub(crate) fn cuDeviceTotalMem_v2(bytes: *mut usize, device: CUdevice) -> CuResult;

    // The device's primary context, made current around each use.
    pub(crate) fn cuDevicePrimaryCtxRetain(context: *mut CUcontext, device: CUdevice) -> CuResult;
    pub(crate) fn cuDevicePrimaryCtxRelease_v2(device: CUdevice) -> CuResult;
    pub(crate) fn cuCtxPushCurrent_v2(context: CUcontext) -> CuResult;
    pub(crate) fn cuCtxPopCurrent_v2(context: *mut CUcontext) -> CuResult;

    // Memory.
    pub(crate) fn cuMemGetInfo_v2(free: *mut usize, total: *mut usize) -> CuResult;
    pub(crate) fn cuMemAlloc_v2(pointer: *mut CUdeviceptr, bytes: usize) -> CuResult;
    pub(crate) fn cuMemFree_v2(pointer: CUdeviceptr) -> CuResult;
    pub(crate) fn cuMemcpyDtoHAsync_v2(
        host: *mut c_void,
        device: CUdeviceptr,
        bytes: usize,
        stream: CUstream,
    ) -> CuResult;
    pub(crate) fn cuMemcpyHtoDAsync_v2(
        device: CUdeviceptr,
        host: *const c_void,
        bytes: usize,
        stream: CUstream,
    ) -> CuResult;
    pub(crate) fn cuMemHostAlloc(
        pointer: *mut *mut c_void,
        bytes: usize,
        flags: c_uint,
    ) -> CuResult;
    pub(crate) fn cuMemFreeHost(pointer: *mut c_void) -> CuResult;

    // Modules and kernels.
    pub(crate) fn cuModuleLoadData(module: *mut CUmodule, image: *const c_void) -> CuResult;
    pub(crate) fn cuModuleUnload(module: CUmodule) -> CuResult;
    pub(crate) fn cuModuleGetFunction(
        function: *mut CUfunction,
        module: CUmodule,
        name: *const c_char,
    ) -> CuResult;
    pub(crate) fn cuOccupancyMaxPotentialBlockSize(
        min_grid_size: *mut c_int,
        block_size: *mut c_int,
        function: CUfunction,
        smem_for_block_size: BlockSizeToSmem,
        dynamic_smem: usize,
        block_size_limit: c_int,
    ) -> CuResult;
    pub(crate) fn cuOccupancyMaxActiveBlocksPerMultiprocessor(
        blocks: *mut c_int,
        function: CUfunction,
        block_size: c_int,
        dynamic_smem: usize,
    ) -> CuResult;
    pub(crate) fn cuLaunchKernel(
        function: CUfunction,
        grid_x: c_uint,
        grid_y: c_uint,
        grid_z: c_uint,
        block_x: c_uint,
        block_y: c_uint,
        block_z: c_uint,
        shared_bytes: c_uint,
        stream: CUstream,
        params: *mut *mut c_void,
        extra: *mut *mut c_void,
    ) -> CuResult;

    // Streams and events.
    pub(crate) fn cuStreamCreate(stream: *mut CUstream, flags: c_uint) -> CuResult;
    pub(crate) fn cuStreamSynchronize(stream: CUstream) -> CuResult;
    pub(crate) fn cuStreamDestroy_v2(stream: CUstream) -> CuResult;
    pub(crate) fn cuEventCreate(event: *mut CUevent, flags: c_uint) -> CuResult;
    pub(crate) fn cuEventRecord(event: CUevent, stream: CUstream) -> CuResult;
    pub(crate) fn cuEventSynchronize(event: CUevent) -> CuResult;
    pub(crate) fn cuEventElapsedTime(
        milliseconds: *mut f32,
        start: CUevent,
        end: CUevent,
    ) -> CuResult;
    pub(crate) fn cuEventDestroy_v2(event: CUevent) -> CuResult;
}
