//! OpenCL platforms and devices: the `opencl:N` numbering and the rows of `gpucalc devices`.
//!
//! Listing calls the OpenCL C API directly (through `ocl::core::ffi`) rather than
//! ocl's wrappers: `ocl::core::get_platform_ids` sleeps ten seconds when the ICD
//! loader finds no platform, and some of ocl's info decoders panic on codes they
//! do not know. Every call here is fallible and nothing panics.

use std::ffi::c_void;
use std::ptr;
use std::sync::{Mutex, PoisonError};

use ocl::core::ffi::{self, cl_device_id, cl_int, cl_platform_id, cl_uint};
use ocl::core::{ClDeviceIdPtr, DeviceId, PlatformId};

use super::status::status_name;
use crate::device::{DeviceInfo, DeviceType};
use crate::error::{BackendKind, Error, Result};

/// One OpenCL device as found by [`enumerate`]: its handles and its description.
pub(super) struct Found {
    pub(super) platform: PlatformId,
    pub(super) device: DeviceId,
    pub(super) info: DeviceInfo,
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`: the largest single buffer.
    pub(super) max_alloc_bytes: u64,
}

fn unavailable(reason: impl Into<String>) -> Error {
    Error::Unavailable {
        backend: BackendKind::OpenCl,
        reason: reason.into(),
    }
}

/// Serialises listing: the ICD loader and PoCL initialise on the first call, and a
/// second thread listing at the same moment can see no platform or no device.
static LISTING: Mutex<()> = Mutex::new(());

/// Every device of every platform, numbered in platform order then device order.
/// No platform at all is [`Error::Unavailable`].
pub(super) fn enumerate() -> Result<Vec<Found>> {
    let _listing = LISTING.lock().unwrap_or_else(PoisonError::into_inner);
    let platforms = platform_ids()?;
    if platforms.is_empty() {
        return Err(unavailable(
            "no OpenCL platform found (install an ICD such as pocl-opencl-icd or a GPU driver)",
        ));
    }
    let mut found = Vec::new();
    for platform in platforms {
        let platform_name = platform_string(platform, ffi::CL_PLATFORM_NAME)
            .unwrap_or_else(|_| "unknown platform".to_string());
        for device in device_ids(platform, &platform_name)? {
            let index = found.len();
            found.push(describe(platform, device, index, &platform_name)?);
        }
    }
    Ok(found)
}

/// The devices' descriptions alone, for `gpucalc devices` and selection.
pub(crate) fn list() -> Result<Vec<DeviceInfo>> {
    super::guard::guarded("listing devices", || {
        Ok(enumerate()?.into_iter().map(|f| f.info).collect())
    })
}

fn platform_ids() -> Result<Vec<PlatformId>> {
    let mut count: cl_uint = 0;
    // SAFETY: a count query: no output array (null, size 0) and a valid pointer for the count.
    let status = unsafe { ffi::clGetPlatformIDs(0, ptr::null_mut(), &mut count) };
    if status == ffi::CL_PLATFORM_NOT_FOUND_KHR || (status == 0 && count == 0) {
        return Ok(Vec::new());
    }
    if status != 0 {
        return Err(unavailable(format!(
            "listing OpenCL platforms failed: {}",
            status_name(status)
        )));
    }
    let mut raw: Vec<cl_platform_id> = vec![ptr::null_mut(); count as usize];
    // SAFETY: `raw` has room for exactly `count` platform ids.
    let status = unsafe { ffi::clGetPlatformIDs(count, raw.as_mut_ptr(), ptr::null_mut()) };
    if status != 0 {
        return Err(unavailable(format!(
            "listing OpenCL platforms failed: {}",
            status_name(status)
        )));
    }
    Ok(raw
        .into_iter()
        .filter(|p| !p.is_null())
        // SAFETY: each id was just returned by clGetPlatformIDs; platform ids are
        // not reference counted, so wrapping them transfers no ownership.
        .map(|p| unsafe { PlatformId::from_raw(p) })
        .collect())
}

fn device_ids(platform: PlatformId, platform_name: &str) -> Result<Vec<DeviceId>> {
    let mut count: cl_uint = 0;
    // SAFETY: a count query on a platform id from clGetPlatformIDs; no output array.
    let status = unsafe {
        ffi::clGetDeviceIDs(
            platform.as_ptr(),
            ffi::CL_DEVICE_TYPE_ALL,
            0,
            ptr::null_mut(),
            &mut count,
        )
    };
    if status == ffi::CL_DEVICE_NOT_FOUND || (status == 0 && count == 0) {
        return Ok(Vec::new());
    }
    let failed = |status: cl_int| {
        unavailable(format!(
            "listing the devices of platform `{platform_name}` failed: {}",
            status_name(status)
        ))
    };
    if status != 0 {
        return Err(failed(status));
    }
    let mut raw: Vec<cl_device_id> = vec![ptr::null_mut(); count as usize];
    // SAFETY: `raw` has room for exactly `count` device ids.
    let status = unsafe {
        ffi::clGetDeviceIDs(
            platform.as_ptr(),
            ffi::CL_DEVICE_TYPE_ALL,
            count,
            raw.as_mut_ptr(),
            ptr::null_mut(),
        )
    };
    if status != 0 {
        return Err(failed(status));
    }
    Ok(raw
        .into_iter()
        .filter(|d| !d.is_null())
        // SAFETY: each id was just returned by clGetDeviceIDs; root device ids are
        // not reference counted, so wrapping them transfers no ownership.
        .map(|d| unsafe { DeviceId::from_raw(d) })
        .collect())
}

/// The bytes of one `clGet*Info` query, by the API's two calls: the size
/// first, then the value into a buffer of that size. `query(size, buffer,
/// size_out)` makes the call.
fn info_bytes(query: impl Fn(usize, *mut c_void, *mut usize) -> cl_int) -> Result<Vec<u8>, cl_int> {
    let mut size = 0usize;
    let status = query(0, ptr::null_mut(), &mut size);
    if status != 0 {
        return Err(status);
    }
    let mut bytes = vec![0u8; size];
    let status = query(size, bytes.as_mut_ptr().cast::<c_void>(), ptr::null_mut());
    if status != 0 {
        return Err(status);
    }
    Ok(bytes)
}

/// One `clGetPlatformInfo` string, trimmed.
fn platform_string(platform: PlatformId, param: cl_uint) -> Result<String, cl_int> {
    let bytes = info_bytes(|size, value, size_out| {
        // SAFETY: `value` is null (a size query) or holds `size` writable bytes;
        // `size_out` is null or points at a live usize; the platform id is valid.
        unsafe { ffi::clGetPlatformInfo(platform.as_ptr(), param, size, value, size_out) }
    })?;
    Ok(c_string(&bytes))
}

/// Raw bytes of one `clGetDeviceInfo` query.
fn device_bytes(device: DeviceId, param: cl_uint) -> Result<Vec<u8>, cl_int> {
    info_bytes(|size, value, size_out| {
        // SAFETY: `value` is null (a size query) or holds `size` writable bytes;
        // `size_out` is null or points at a live usize; the device id is valid.
        unsafe { ffi::clGetDeviceInfo(device.as_ptr(), param, size, value, size_out) }
    })
}

/// A NUL-terminated string from an info query, trimmed (some drivers pad with spaces).
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

/// An integer info value of 4 or 8 bytes (`cl_uint`, `cl_ulong`, `size_t`, bitfields).
fn uint_value(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => Some(u64::from(u32::from_ne_bytes(bytes.try_into().ok()?))),
        8 => Some(u64::from_ne_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

fn device_string(device: DeviceId, param: cl_uint) -> Option<String> {
    device_bytes(device, param).ok().map(|b| c_string(&b))
}

pub(super) fn device_uint(device: DeviceId, param: cl_uint) -> Option<u64> {
    device_bytes(device, param)
        .ok()
        .and_then(|b| uint_value(&b))
}

/// `OpenCL 3.0` from a version string `OpenCL 3.0 <vendor-specific information>`.
fn short_version(version: &str) -> String {
    version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The largest work-group a one-dimensional launch may have on `device` (at least 1):
/// `CL_DEVICE_MAX_WORK_GROUP_SIZE` and `CL_DEVICE_MAX_WORK_ITEM_SIZES[0]`, the smaller.
pub(super) fn group_limit(device: DeviceId) -> usize {
    let groups = device_uint(device, ffi::CL_DEVICE_MAX_WORK_GROUP_SIZE).unwrap_or(1);
    let dim0 = device_bytes(device, ffi::CL_DEVICE_MAX_WORK_ITEM_SIZES)
        .ok()
        .and_then(|b| uint_value(b.get(..std::mem::size_of::<usize>())?))
        .unwrap_or(groups);
    groups.min(dim0).max(1) as usize
}

fn describe(
    platform: PlatformId,
    device: DeviceId,
    index: usize,
    platform_name: &str,
) -> Result<Found> {
    let name = device_bytes(device, ffi::CL_DEVICE_NAME)
        .map(|b| c_string(&b))
        .map_err(|status| {
            unavailable(format!(
                "querying OpenCL device {index} failed: {}",
                status_name(status)
            ))
        })?;
    let bits = device_uint(device, ffi::CL_DEVICE_TYPE).unwrap_or(0);
    let device_type = if bits & ffi::CL_DEVICE_TYPE_GPU != 0 {
        DeviceType::Gpu
    } else if bits & ffi::CL_DEVICE_TYPE_ACCELERATOR != 0 {
        DeviceType::Accelerator
    } else if bits & ffi::CL_DEVICE_TYPE_CPU != 0 {
        DeviceType::Cpu
    } else {
        DeviceType::Other
    };
    let mut info = DeviceInfo::new(BackendKind::OpenCl, index, name, device_type);
    info.spec = format!("opencl:{index}");
    info.platform = Some(platform_name.to_string());
    info.vendor = device_string(device, ffi::CL_DEVICE_VENDOR).unwrap_or_default();
    info.compute_units = device_uint(device, ffi::CL_DEVICE_MAX_COMPUTE_UNITS).unwrap_or(0) as u32;
    info.memory_bytes = device_uint(device, ffi::CL_DEVICE_GLOBAL_MEM_SIZE).unwrap_or(0);
    if device_type == DeviceType::Cpu {
        // A CPU device's memory is the host's: no more than the process may
        // have under its control group's limit (PoCL reports the machine's).
        if let Some(host) = crate::backend::cpu::memory::total() {
            info.memory_bytes = info.memory_bytes.min(host);
        }
    }
    info.cache_bytes =
        device_uint(device, ffi::CL_DEVICE_GLOBAL_MEM_CACHE_SIZE).filter(|&bytes| bytes > 0);
    info.clock_mhz = device_uint(device, ffi::CL_DEVICE_MAX_CLOCK_FREQUENCY)
        .filter(|&mhz| mhz > 0)
        .map(|mhz| mhz as u32);
    info.driver_version = device_string(device, ffi::CL_DRIVER_VERSION);
    info.opencl_version = device_string(device, ffi::CL_DEVICE_VERSION).map(|v| short_version(&v));
    let extensions = device_string(device, ffi::CL_DEVICE_EXTENSIONS).unwrap_or_default();
    let fp64_config = device_uint(device, ffi::CL_DEVICE_DOUBLE_FP_CONFIG).unwrap_or(0);
    info.fp64 = extensions.split_whitespace().any(|e| e == "cl_khr_fp64") || fp64_config != 0;
    Ok(Found {
        platform,
        device,
        max_alloc_bytes: device_uint(device, ffi::CL_DEVICE_MAX_MEM_ALLOC_SIZE)
            .unwrap_or(info.memory_bytes / 4),
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_values_decode() {
        assert_eq!(c_string(b"PoCL  \0\0"), "PoCL");
        assert_eq!(c_string(b"no terminator"), "no terminator");
        assert_eq!(uint_value(&7u32.to_ne_bytes()), Some(7));
        assert_eq!(uint_value(&(1u64 << 40).to_ne_bytes()), Some(1 << 40));
        assert_eq!(uint_value(&[1, 2]), None);
        assert_eq!(
            short_version("OpenCL 3.0 PoCL HSTR: pthread-x86_64"),
            "OpenCL 3.0"
        );
    }
}
