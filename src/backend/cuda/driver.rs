//! Safe wrappers over the raw driver calls: devices, the primary context, modules, streams, events, memory.
//!
//! Each wrapper owns one driver handle and releases it on drop. Everything that
//! needs a context takes a [`Current`] token, which proves the owning context is
//! current on this thread; resources keep their [`Context`] alive, and make it
//! current again to free themselves, so drop order never matters.

use std::ffi::{c_void, CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_uint};
use std::ptr;
use std::sync::Arc;

use super::status::{check, DriverError};
use super::sys;

/// Result of a driver call.
pub(crate) type DriverResult<T> = Result<T, DriverError>;

/// Opens the driver library ([`sys::LIBRARY`]) once per process; the error is
/// the loader's message. Every other call here fails until this succeeds.
pub(crate) fn open_library() -> Result<(), String> {
    sys::load()
}

/// `cuInit(0)`: starts the driver (after [`open_library`]). Idempotent; the first failure says why CUDA cannot run here.
pub(crate) fn init() -> DriverResult<()> {
    // SAFETY: cuInit takes a flags word (must be 0) and no pointers.
    check(unsafe { sys::cuInit(0) })
}

/// The CUDA version the driver supports, e.g. `13000` for 13.0. Needs [`init`].
pub(crate) fn driver_version() -> DriverResult<i32> {
    let mut version: c_int = 0;
    // SAFETY: the out pointer is a live local.
    check(unsafe { sys::cuDriverGetVersion(&mut version) })?;
    Ok(version)
}

/// `13000` as `13.0`.
pub(crate) fn version_string(version: i32) -> String {
    format!("{}.{}", version / 1000, (version % 1000) / 10)
}

/// How many CUDA devices the driver sees. Needs [`init`].
pub(crate) fn device_count() -> DriverResult<usize> {
    let mut count: c_int = 0;
    // SAFETY: the out pointer is a live local.
    check(unsafe { sys::cuDeviceGetCount(&mut count) })?;
    Ok(count.max(0) as usize)
}

/// One CUDA device, by ordinal. Queries need no context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceHandle(sys::CUdevice);

impl DeviceHandle {
    /// The device with this ordinal. Needs [`init`].
    pub(crate) fn get(index: usize) -> DriverResult<DeviceHandle> {
        let ordinal = c_int::try_from(index).map_err(|_| DriverError(101))?;
        let mut device: sys::CUdevice = 0;
        // SAFETY: the out pointer is a live local; a bad ordinal is an error code, not UB.
        check(unsafe { sys::cuDeviceGet(&mut device, ordinal) })?;
        Ok(DeviceHandle(device))
    }

    /// The marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub(crate) fn name(self) -> DriverResult<String> {
        let mut buffer = [0 as c_char; 256];
        // SAFETY: the driver writes at most `len` bytes, NUL included, into the buffer.
        check(unsafe { sys::cuDeviceGetName(buffer.as_mut_ptr(), buffer.len() as c_int, self.0) })?;
        buffer[buffer.len() - 1] = 0;
        // SAFETY: the buffer is NUL-terminated (forced above) and lives across the call.
        let name = unsafe { CStr::from_ptr(buffer.as_ptr()) };
        Ok(name.to_string_lossy().trim().to_string())
    }

    /// An integer attribute (`CU_DEVICE_ATTRIBUTE_*`).
    pub(crate) fn attribute(self, attribute: sys::CUdevice_attribute) -> DriverResult<i32> {
        let mut value: c_int = 0;
        // SAFETY: the out pointer is a live local; the attribute is a valid enum value.
        check(unsafe { sys::cuDeviceGetAttribute(&mut value, attribute, self.0) })?;
        Ok(value)
    }

    /// Total device memory in bytes.
    pub(crate) fn total_memory(self) -> DriverResult<u64> {
        let mut bytes: usize = 0;
        // SAFETY: the out pointer is a live local.
        check(unsafe { sys::cuDeviceTotalMem_v2(&mut bytes, self.0) })?;
        Ok(bytes as u64)
    }
}

/// A device's primary context, retained for as long as this value lives.
#[derive(Debug)]
pub(crate) struct Context {
    raw: sys::CUcontext,
    device: DeviceHandle,
}

// SAFETY: a CUcontext is a process-wide handle that the driver lets any thread
// make current; this type only ever uses it through push/pop on the calling
// thread, and the driver API is thread-safe.
unsafe impl Send for Context {}
// SAFETY: as for Send; shared use only pushes and pops the handle.
unsafe impl Sync for Context {}

impl Context {
    /// Retains `device`'s primary context (creating it on first use).
    pub(crate) fn retain(device: DeviceHandle) -> DriverResult<Arc<Context>> {
        let mut raw: sys::CUcontext = ptr::null_mut();
        // SAFETY: the out pointer is a live local; the device came from cuDeviceGet.
        check(unsafe { sys::cuDevicePrimaryCtxRetain(&mut raw, device.0) })?;
        Ok(Arc::new(Context { raw, device }))
    }

    /// Makes this context current on the calling thread until the token drops.
    pub(crate) fn enter(&self) -> DriverResult<Current<'_>> {
        // SAFETY: `raw` is a retained context, alive as long as `self`.
        check(unsafe { sys::cuCtxPushCurrent_v2(self.raw) })?;
        Ok(Current {
            _context: self,
            _not_send: PhantomData,
        })
    }

    /// Free and total device memory, in bytes.
    pub(crate) fn memory_info(&self, _current: &Current<'_>) -> DriverResult<(u64, u64)> {
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: both out pointers are live locals; the token proves a context is current.
        check(unsafe { sys::cuMemGetInfo_v2(&mut free, &mut total) })?;
        Ok((free as u64, total as u64))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: releases the one retain this value holds; nothing uses `raw` afterwards.
        // A failure (driver shutting down) leaves nothing to clean up.
        let _ = unsafe { sys::cuDevicePrimaryCtxRelease_v2(self.device.0) };
    }
}

/// Proof that a context is current on this thread; pops it on drop.
#[derive(Debug)]
pub(crate) struct Current<'a> {
    _context: &'a Context,
    /// The push belongs to this thread: the token must not move to another.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        let mut popped: sys::CUcontext = ptr::null_mut();
        // SAFETY: pops the context `enter` pushed on this thread (the token is not Send).
        let status = unsafe { sys::cuCtxPopCurrent_v2(&mut popped) };
        // Tokens drop in the reverse order of their pushes, so the top of the
        // stack is this token's context; anything else is a pairing bug.
        debug_assert!(
            status != sys::CUDA_SUCCESS || popped == self._context.raw,
            "popped another context than this token pushed"
        );
    }
}

/// A loaded module (a fatbin image).
#[derive(Debug)]
pub(crate) struct Module {
    raw: sys::CUmodule,
    context: Arc<Context>,
}

// SAFETY: module handles are process-wide; used only with their context current.
unsafe impl Send for Module {}
// SAFETY: after loading, a module is only read (function lookups).
unsafe impl Sync for Module {}

impl Module {
    /// Loads a fatbin, cubin or NUL-terminated PTX image into `context`.
    pub(crate) fn load(
        context: &Arc<Context>,
        _current: &Current<'_>,
        image: &[u8],
    ) -> DriverResult<Module> {
        let mut raw: sys::CUmodule = ptr::null_mut();
        // SAFETY: `image` is a complete fatbin built by build.rs (8-byte aligned, see
        // `Aligned`), alive across the call; the driver copies what it keeps.
        check(unsafe { sys::cuModuleLoadData(&mut raw, image.as_ptr().cast::<c_void>()) })?;
        Ok(Module {
            raw,
            context: Arc::clone(context),
        })
    }

    /// The kernel `name` in this module.
    pub(crate) fn function(&self, name: &'static str) -> DriverResult<Function> {
        let c_name = CString::new(name).map_err(|_| DriverError(1))?;
        let mut raw: sys::CUfunction = ptr::null_mut();
        // SAFETY: out pointer and C string are live locals; `raw` module is loaded.
        check(unsafe { sys::cuModuleGetFunction(&mut raw, self.raw, c_name.as_ptr()) })?;
        Ok(Function { raw, name })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        if let Ok(_current) = self.context.enter() {
            // SAFETY: the module was loaded in this context, which is current;
            // no Function of it outlives the owner of both.
            let _ = unsafe { sys::cuModuleUnload(self.raw) };
        }
    }
}

/// A kernel in a loaded module. Valid while the module is; the owner keeps both together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Function {
    raw: sys::CUfunction,
    name: &'static str,
}

// SAFETY: function handles are immutable process-wide handles; launches go
// through a stream under the device's lock.
unsafe impl Send for Function {}
// SAFETY: as for Send.
unsafe impl Sync for Function {}

impl Function {
    /// The kernel's name, for error messages.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Block size with the highest occupancy (at most `limit`), and the grid that fills the GPU with it.
    pub(crate) fn max_potential_block_size(
        &self,
        _current: &Current<'_>,
        limit: u32,
    ) -> DriverResult<(u32, u32)> {
        let (mut min_grid, mut block) = (0 as c_int, 0 as c_int);
        // SAFETY: out pointers are live locals; no callback, no dynamic shared memory.
        check(unsafe {
            sys::cuOccupancyMaxPotentialBlockSize(
                &mut min_grid,
                &mut block,
                self.raw,
                None,
                0,
                limit.min(c_int::MAX as u32) as c_int,
            )
        })?;
        Ok((block.max(0) as u32, min_grid.max(0) as u32))
    }

    /// How many blocks of `block` threads fit on one multiprocessor at once.
    pub(crate) fn max_active_blocks_per_sm(
        &self,
        _current: &Current<'_>,
        block: u32,
    ) -> DriverResult<u32> {
        let mut blocks: c_int = 0;
        // SAFETY: the out pointer is a live local.
        check(unsafe {
            sys::cuOccupancyMaxActiveBlocksPerMultiprocessor(
                &mut blocks,
                self.raw,
                block as c_int,
                0,
            )
        })?;
        Ok(blocks.max(0) as u32)
    }

    /// Launches a 1-D grid on `stream`.
    ///
    /// # Safety
    /// `params` must point to one value per kernel parameter, each of exactly the
    /// type the kernel declares, and every device pointer among them must be valid
    /// for what the kernel does with it until the launch completes.
    pub(crate) unsafe fn launch(
        &self,
        stream: &super::stream::Stream,
        grid: u32,
        block: u32,
        params: &mut [*mut c_void],
    ) -> DriverResult<()> {
        // SAFETY: the caller vouches for `params`; the stream and function are live.
        check(unsafe {
            sys::cuLaunchKernel(
                self.raw,
                grid as c_uint,
                1,
                1,
                block as c_uint,
                1,
                1,
                0,
                stream.raw(),
                params.as_mut_ptr(),
                ptr::null_mut(),
            )
        })
    }
}
