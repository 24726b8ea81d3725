//! Raw CUDA driver entry points: the bottom layer, every call returns a plain `c_int` code.
//!
//! The driver library, `libcuda.so.1`, is opened at run time ([`load`]) rather
//! than linked, so a binary built with the `cuda` feature starts on any machine:
//! where no NVIDIA driver is installed, CUDA is one "no NVIDIA driver" line in
//! `gpucalc devices` and the CPU and OpenCL paths work as in any other build.
//!
//! cust_raw (re-exported by cust as `cust::sys`) declares the same functions
//! returning its `CUresult` enum. That enum was generated from CUDA 11 headers;
//! today's drivers return codes it lacks (46 `CUDA_ERROR_DEVICE_UNAVAILABLE` from
//! a GPU in exclusive-process mode, for one), and a Rust enum holding an
//! undeclared value is undefined behaviour. So the functions gpucalc calls are
//! declared here with an integer result, which [`super::status`] turns into a
//! checked result. The handle and attribute types are cust_raw's.
//!
//! Every function here is `unsafe` to call: the caller guarantees valid out
//! pointers and live handles. [`super::driver`] wraps most of them, and the
//! stream and memory modules call the copy and host-allocation ones directly.

#![allow(non_snake_case)] // the driver's own names

use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::sync::OnceLock;

pub(crate) use cust::sys::{
    CUcontext, CUdevice, CUdevice_attribute, CUdeviceptr, CUevent, CUfunction, CUmodule, CUstream,
};

/// A `CUresult` as the driver returns it; 0 is success.
pub(crate) type CuResult = c_int;

/// `CUDA_SUCCESS`.
pub(crate) const CUDA_SUCCESS: CuResult = 0;

/// `CUDA_ERROR_NOT_INITIALIZED`: what every entry point returns while the
/// driver library is not loaded (so a call before [`load`] is an error, not UB).
const CUDA_ERROR_NOT_INITIALIZED: CuResult = 3;

/// `CU_STREAM_NON_BLOCKING`: the stream does not synchronize with the legacy default stream.
pub(crate) const CU_STREAM_NON_BLOCKING: c_uint = 0x1;

/// `CU_EVENT_DEFAULT`: an event that records timing.
pub(crate) const CU_EVENT_DEFAULT: c_uint = 0x0;

/// The callback type of `cuOccupancyMaxPotentialBlockSize` (dynamic shared memory per block size).
pub(crate) type BlockSizeToSmem = Option<unsafe extern "C" fn(block_size: c_int) -> usize>;

/// The file the NVIDIA driver installs its user-space library as.
pub(crate) const LIBRARY: &str = "libcuda.so.1";

/// Declares the driver entry points once: the table [`Api`] that [`load`] fills
/// from the library, and an `unsafe fn` of the driver's own name and signature
/// for each, which calls through the table.
macro_rules! driver_api {
    ($( fn $name:ident($($arg:ident: $ty:ty),* $(,)?); )*) => {
        /// The driver's entry points, resolved from [`LIBRARY`].
        struct Api {
            $( $name: unsafe extern "C" fn($($ty),*) -> CuResult, )*
        }

        impl Api {
            /// Looks up every entry point in an opened library.
            ///
            /// # Safety
            /// `library` is a live handle from `dlopen` of the NVIDIA driver
            /// library, whose symbols have the signatures declared here.
            #[cfg(unix)]
            unsafe fn resolve(library: *mut c_void) -> Result<Api, String> {
                Ok(Api {
                    $( $name: {
                        let address = symbol(library, concat!(stringify!($name), "\0"))?;
                        // SAFETY: the symbol is the driver's function of this
                        // name, whose C signature is the one declared here.
                        unsafe {
                            std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($ty),*) -> CuResult>(
                                address,
                            )
                        }
                    }, )*
                })
            }
        }

        $(
            /// The driver function of this name; `CUDA_ERROR_NOT_INITIALIZED`
            /// while the library is not loaded.
            ///
            /// # Safety
            /// As the driver's own function: valid out pointers, live handles.
            #[allow(clippy::too_many_arguments)] // the driver's signature (cuLaunchKernel)
            pub(crate) unsafe fn $name($($arg: $ty),*) -> CuResult {
                match API.get() {
                    // SAFETY: the caller upholds the driver function's contract.
                    Some(Ok(api)) => unsafe { (api.$name)($($arg),*) },
                    _ => CUDA_ERROR_NOT_INITIALIZED,
                }
            }
        )*
    };
}

/// The loaded table, or why the library could not be loaded; set once per process.
static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// Opens [`LIBRARY`] and resolves every entry point, once per process. The error
/// says why, in the loader's words (`libcuda.so.1: cannot open shared object
/// file: ...`). The library stays loaded until the process ends.
pub(crate) fn load() -> Result<(), String> {
    match API.get_or_init(open) {
        Ok(_) => Ok(()),
        Err(why) => Err(why.clone()),
    }
}

#[cfg(unix)]
fn open() -> Result<Api, String> {
    let name = std::ffi::CString::new(LIBRARY).expect("no NUL in the library name");
    // SAFETY: the name is a NUL-terminated string that outlives the call.
    let library = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if library.is_null() {
        return Err(loader_error(LIBRARY));
    }
    // SAFETY: `library` was just opened and is never closed; a library named
    // libcuda.so.1 is the NVIDIA driver's (or a stub of it with the same symbols).
    unsafe { Api::resolve(library) }
}

#[cfg(not(unix))]
fn open() -> Result<Api, String> {
    Err(format!(
        "gpucalc loads the NVIDIA driver ({LIBRARY}) on Linux only"
    ))
}

/// The address of `name` (NUL-terminated) in `library`, or the loader's error.
///
/// # Safety
/// `library` is a live handle from `dlopen`.
#[cfg(unix)]
unsafe fn symbol(library: *mut c_void, name: &str) -> Result<*mut c_void, String> {
    // SAFETY: `name` ends in NUL (the macro appends it) and `library` is live.
    let address = unsafe { libc::dlsym(library, name.as_ptr().cast::<c_char>()) };
    if address.is_null() {
        let name = name.trim_end_matches('\0');
        return Err(format!(
            "{LIBRARY} lacks the driver function {name} ({}); is it an NVIDIA driver?",
            loader_error(name)
        ));
    }
    Ok(address)
}

/// `dlerror()`'s message, or `fallback` where it has none.
#[cfg(unix)]
fn loader_error(fallback: &str) -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string that stays valid
    // until the next dl* call on this thread; it is copied out at once.
    unsafe {
        let text = libc::dlerror();
        if text.is_null() {
            fallback.to_string()
        } else {
            std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned()
        }
    }
}

driver_api! {
    // Initialization and version.
    fn cuInit(flags: c_uint);
    fn cuDriverGetVersion(version: *mut c_int);

    // Devices.
    fn cuDeviceGetCount(count: *mut c_int);
    fn cuDeviceGet(device: *mut CUdevice, ordinal: c_int);
    fn cuDeviceGetName(name: *mut c_char, len: c_int, device: CUdevice);
    fn cuDeviceGetAttribute(value: *mut c_int, attribute: CUdevice_attribute, device: CUdevice);
    fn cuDeviceTotalMem_v2(bytes: *mut usize, device: CUdevice);

    // The device's primary context, made current around each use.
    fn cuDevicePrimaryCtxRetain(context: *mut CUcontext, device: CUdevice);
    fn cuDevicePrimaryCtxRelease_v2(device: CUdevice);
    fn cuCtxPushCurrent_v2(context: CUcontext);
    fn cuCtxPopCurrent_v2(context: *mut CUcontext);

    // Memory.
    fn cuMemGetInfo_v2(free: *mut usize, total: *mut usize);
    fn cuMemAlloc_v2(pointer: *mut CUdeviceptr, bytes: usize);
    fn cuMemFree_v2(pointer: CUdeviceptr);
    fn cuMemcpyDtoHAsync_v2(host: *mut c_void, device: CUdeviceptr, bytes: usize, stream: CUstream);
    fn cuMemcpyHtoDAsync_v2(device: CUdeviceptr, host: *const c_void, bytes: usize, stream: CUstream);
    fn cuMemHostAlloc(pointer: *mut *mut c_void, bytes: usize, flags: c_uint);
    fn cuMemFreeHost(pointer: *mut c_void);

    // Modules and kernels.
    fn cuModuleLoadData(module: *mut CUmodule, image: *const c_void);
    fn cuModuleUnload(module: CUmodule);
    fn cuModuleGetFunction(function: *mut CUfunction, module: CUmodule, name: *const c_char);
    fn cuOccupancyMaxPotentialBlockSize(
        min_grid_size: *mut c_int,
        block_size: *mut c_int,
        function: CUfunction,
        smem_for_block_size: BlockSizeToSmem,
        dynamic_smem: usize,
        block_size_limit: c_int,
    );
    fn cuOccupancyMaxActiveBlocksPerMultiprocessor(
        blocks: *mut c_int,
        function: CUfunction,
        block_size: c_int,
        dynamic_smem: usize,
    );
    fn cuLaunchKernel(
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
    );

    // Streams and events.
    fn cuStreamCreate(stream: *mut CUstream, flags: c_uint);
    fn cuStreamSynchronize(stream: CUstream);
    fn cuStreamDestroy_v2(stream: CUstream);
    fn cuEventCreate(event: *mut CUevent, flags: c_uint);
    fn cuEventRecord(event: CUevent, stream: CUstream);
    fn cuEventSynchronize(event: CUevent);
    fn cuEventElapsedTime(milliseconds: *mut f32, start: CUevent, end: CUevent);
    fn cuEventDestroy_v2(event: CUevent);
}
