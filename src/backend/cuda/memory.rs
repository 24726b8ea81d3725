//! Host memory the GPU reaches by DMA (page-locked buffers), and copies between host and device memory.
//!
//! The asynchronous copies are `unsafe`: the driver reads or writes the host
//! memory after the call returns, so the caller keeps it alive and untouched
//! until the stream has passed the copy. The synchronous forms wait on the
//! stream before they return and are safe.

use std::ffi::c_void;
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::sync::Arc;

use super::driver::{Context, Current, DriverResult};
use super::status::check;
use super::stream::{DeviceBuffer, Stream};
use super::sys;

/// Element types for which every bit pattern, all zeros included, is a valid value.
///
/// # Safety
/// Implement only for plain numbers: no padding, no invalid bit patterns, no pointers.
pub(crate) unsafe trait Plain: Copy + Send + Sync + 'static {}

// SAFETY: plain integers and floats; every bit pattern is a value.
unsafe impl Plain for u8 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}
// SAFETY: as above.
unsafe impl Plain for u64 {}
// SAFETY: as above.
unsafe impl Plain for f32 {}
// SAFETY: as above.
unsafe impl Plain for f64 {}

/// `len` values of `T` in page-locked host memory (`cuMemHostAlloc`), zeroed.
pub(crate) struct PinnedBuffer<T: Plain> {
    raw: *mut T,
    len: usize,
    context: Arc<Context>,
}

// SAFETY: the buffer owns its allocation exclusively, like a Vec<T>; the
// context handle is Send + Sync.
unsafe impl<T: Plain> Send for PinnedBuffer<T> {}
// SAFETY: shared access only reads through `&[T]`.
unsafe impl<T: Plain> Sync for PinnedBuffer<T> {}

impl<T: Plain> PinnedBuffer<T> {
    /// Allocates and zeroes `len` values of page-locked memory.
    pub(crate) fn new(
        context: &Arc<Context>,
        _current: &Current<'_>,
        len: usize,
    ) -> DriverResult<PinnedBuffer<T>> {
        let bytes = len
            .max(1)
            .checked_mul(std::mem::size_of::<T>())
            .ok_or(super::status::DriverError::OUT_OF_MEMORY)?;
        let mut raw: *mut c_void = ptr::null_mut();
        // SAFETY: the out pointer is a live local; flags 0 asks for plain pinned
        // memory; the token proves `context` is current.
        check(unsafe { sys::cuMemHostAlloc(&mut raw, bytes, 0) })?;
        // SAFETY: the driver returned `bytes` writable bytes at `raw` (suitably
        // aligned for any type: page-aligned); zeroing makes every `T` valid (`Plain`).
        unsafe { ptr::write_bytes(raw.cast::<u8>(), 0, bytes) };
        Ok(PinnedBuffer {
            raw: raw.cast::<T>(),
            len,
            context: Arc::clone(context),
        })
    }
}

impl<T: Plain> Deref for PinnedBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `raw` holds `len` initialized values (zeroed at allocation) for
        // as long as `self` lives; `&self` rules out a concurrent `&mut`.
        unsafe { std::slice::from_raw_parts(self.raw, self.len) }
    }
}

impl<T: Plain> DerefMut for PinnedBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.raw, self.len) }
    }
}

impl<T: Plain> Drop for PinnedBuffer<T> {
    fn drop(&mut self) {
        if let Ok(_current) = self.context.enter() {
            // SAFETY: `raw` came from cuMemHostAlloc in this context and is not
            // used again; owners synchronize their streams before dropping buffers
            // that queued copies use.
            let _ = unsafe { sys::cuMemFreeHost(self.raw.cast::<c_void>()) };
        }
    }
}

impl Stream {
    /// Queues a copy of `host` into `device[offset .. offset + host.len()]`.
    ///
    /// # Safety
    /// `host` must stay alive and unmodified until the stream has passed this
    /// copy (a synchronize of the stream, or of an event recorded after it).
    pub(crate) unsafe fn copy_to_device_async<T: Plain>(
        &self,
        host: &[T],
        device: &DeviceBuffer<T>,
        offset: usize,
    ) -> DriverResult<()> {
        assert!(
            offset <= device.len() && host.len() <= device.len() - offset,
            "copy past the end of a device buffer"
        );
        let bytes = std::mem::size_of_val(host);
        let target = device.device_ptr() + (offset * std::mem::size_of::<T>()) as u64;
        // SAFETY: the device range lies inside the allocation (asserted above); the
        // caller keeps `host` readable until the copy has run.
        check(unsafe {
            sys::cuMemcpyHtoDAsync_v2(target, host.as_ptr().cast::<c_void>(), bytes, self.raw())
        })
    }

    /// Queues a copy of `device[offset .. offset + host.len()]` into `host`.
    ///
    /// # Safety
    /// `host` must stay alive, and be neither read nor written, until the stream
    /// has passed this copy (a synchronize of the stream, or of an event recorded after it).
    pub(crate) unsafe fn copy_from_device_async<T: Plain>(
        &self,
        device: &DeviceBuffer<T>,
        offset: usize,
        host: &mut [T],
    ) -> DriverResult<()> {
        assert!(
            offset <= device.len() && host.len() <= device.len() - offset,
            "copy past the end of a device buffer"
        );
        let bytes = std::mem::size_of_val(host);
        let source = device.device_ptr() + (offset * std::mem::size_of::<T>()) as u64;
        // SAFETY: the device range lies inside the allocation (asserted above); the
        // caller keeps `host` writable and unused until the copy has run. Every bit
        // pattern the copy writes is a valid `T` (`Plain`).
        check(unsafe {
            sys::cuMemcpyDtoHAsync_v2(
                host.as_mut_ptr().cast::<c_void>(),
                source,
                bytes,
                self.raw(),
            )
        })
    }

    /// Copies `device[offset .. offset + host.len()]` into `host` and waits for it.
    pub(crate) fn read_at<T: Plain>(
        &self,
        device: &DeviceBuffer<T>,
        offset: usize,
        host: &mut [T],
    ) -> DriverResult<()> {
        // SAFETY: `host` stays mutably borrowed until the synchronize below, which
        // waits for the copy (on error too, before the borrow ends).
        let queued = unsafe { self.copy_from_device_async(device, offset, host) };
        let done = self.synchronize();
        queued.and(done)
    }
}
