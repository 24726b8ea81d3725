//! Safe wrappers for work queued on a device: streams, timing events and device buffers.
//!
//! Like [`super::driver`], each wrapper owns one handle, keeps its context alive
//! and frees itself with that context current.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use super::driver::{Context, Current, DriverResult};
use super::memory::Plain;
use super::status::check;
use super::sys;

/// An in-order queue of device work that does not wait on the legacy default stream.
#[derive(Debug)]
pub(crate) struct Stream {
    raw: sys::CUstream,
    context: Arc<Context>,
}

// SAFETY: stream handles are process-wide; a Stream is used only with its
// context current, and the owning device serializes its use with a lock.
unsafe impl Send for Stream {}

impl Stream {
    /// A new non-blocking stream in `context`.
    pub(crate) fn new(context: &Arc<Context>, _current: &Current<'_>) -> DriverResult<Stream> {
        let mut raw: sys::CUstream = ptr::null_mut();
        // SAFETY: the out pointer is a live local; the token proves `context` is current.
        check(unsafe { sys::cuStreamCreate(&mut raw, sys::CU_STREAM_NON_BLOCKING) })?;
        Ok(Stream {
            raw,
            context: Arc::clone(context),
        })
    }

    /// The raw handle, for launches.
    pub(crate) fn raw(&self) -> sys::CUstream {
        self.raw
    }

    /// Waits for everything queued so far; returns the first error any of it hit
    /// (a kernel fault shows up here).
    pub(crate) fn synchronize(&self) -> DriverResult<()> {
        // SAFETY: the stream is live.
        check(unsafe { sys::cuStreamSynchronize(self.raw) })
    }

    /// Queues a copy of `host.len()` values from the start of `buffer` into `host`,
    /// and waits for the stream, so `host` holds them on return.
    pub(crate) fn read<T: Plain>(
        &self,
        buffer: &DeviceBuffer<T>,
        host: &mut [T],
    ) -> DriverResult<()> {
        assert!(
            host.len() <= buffer.len,
            "read past the end of a device buffer"
        );
        let bytes = std::mem::size_of_val(host);
        // SAFETY: `host` is writable for `bytes` and stays borrowed until the
        // synchronize below returns; the buffer holds at least that many bytes.
        let queued = check(unsafe {
            sys::cuMemcpyDtoHAsync_v2(
                host.as_mut_ptr().cast::<c_void>(),
                buffer.raw,
                bytes,
                self.raw,
            )
        });
        // Wait whatever the copy did: callers rely on the stream being idle.
        let done = self.synchronize();
        queued.and(done)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Ok(_current) = self.context.enter() {
            // SAFETY: the stream belongs to the current context and is not used again.
            let _ = unsafe { sys::cuStreamDestroy_v2(self.raw) };
        }
    }
}

/// A device event that records a timestamp when the stream reaches it.
#[derive(Debug)]
pub(crate) struct Event {
    raw: sys::CUevent,
    context: Arc<Context>,
}

// SAFETY: event handles are process-wide; used only under the device's lock.
unsafe impl Send for Event {}

impl Event {
    /// A new timing event in `context`.
    pub(crate) fn new(context: &Arc<Context>, _current: &Current<'_>) -> DriverResult<Event> {
        let mut raw: sys::CUevent = ptr::null_mut();
        // SAFETY: the out pointer is a live local; the token proves `context` is current.
        check(unsafe { sys::cuEventCreate(&mut raw, sys::CU_EVENT_DEFAULT) })?;
        Ok(Event {
            raw,
            context: Arc::clone(context),
        })
    }

    /// Records the event on `stream`.
    pub(crate) fn record(&self, stream: &Stream) -> DriverResult<()> {
        // SAFETY: event and stream are live and belong to the same context.
        check(unsafe { sys::cuEventRecord(self.raw, stream.raw) })
    }

    /// Waits until the stream has passed this event; returns the first error of
    /// the work queued before it (a kernel fault shows up here).
    pub(crate) fn synchronize(&self) -> DriverResult<()> {
        // SAFETY: the event is live.
        check(unsafe { sys::cuEventSynchronize(self.raw) })
    }

    /// Device time from `self` to `end`; both must have completed.
    pub(crate) fn elapsed_until(&self, end: &Event) -> DriverResult<Duration> {
        let mut ms: f32 = 0.0;
        // SAFETY: the out pointer is a live local; both events are live.
        check(unsafe { sys::cuEventElapsedTime(&mut ms, self.raw, end.raw) })?;
        Ok(Duration::from_secs_f64(f64::from(ms.max(0.0)) / 1e3))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if let Ok(_current) = self.context.enter() {
            // SAFETY: the event belongs to the current context and is not used again.
            let _ = unsafe { sys::cuEventDestroy_v2(self.raw) };
        }
    }
}

/// `len` values of `T` in device memory.
#[derive(Debug)]
pub(crate) struct DeviceBuffer<T> {
    raw: sys::CUdeviceptr,
    len: usize,
    context: Arc<Context>,
    _type: PhantomData<T>,
}

// SAFETY: a device pointer is a plain address in the context's address space;
// the buffer is used only under the device's lock, with the context current.
unsafe impl<T: Send> Send for DeviceBuffer<T> {}

impl<T: Plain> DeviceBuffer<T> {
    /// Allocates room for `len` values (uninitialized; kernels write before reading).
    /// The caller checks the size against free memory first, for a better message.
    pub(crate) fn uninit(
        context: &Arc<Context>,
        _current: &Current<'_>,
        len: usize,
    ) -> DriverResult<DeviceBuffer<T>> {
        let bytes = len.max(1).saturating_mul(std::mem::size_of::<T>());
        let mut raw: sys::CUdeviceptr = 0;
        // SAFETY: the out pointer is a live local; the token proves `context` is current.
        check(unsafe { sys::cuMemAlloc_v2(&mut raw, bytes) })?;
        Ok(DeviceBuffer {
            raw,
            len,
            context: Arc::clone(context),
            _type: PhantomData,
        })
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The device address, as a kernel parameter.
    pub(crate) fn device_ptr(&self) -> sys::CUdeviceptr {
        self.raw
    }
}

impl<T> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        if let Ok(_current) = self.context.enter() {
            // SAFETY: the allocation belongs to the current context; no kernel that
            // uses it is pending, since every launch is synchronized before returning.
            let _ = unsafe { sys::cuMemFree_v2(self.raw) };
        }
    }
}
