//! `transfer` on CUDA: host↔device copies from pageable (`Vec`) and page-locked
//! (`cuMemHostAlloc`) host memory, each one timed by CUDA events and synchronized.
//!
//! From pageable memory the driver copies through its own page-locked staging
//! buffers, and the call itself waits for that; page-locked memory goes
//! straight to the copy engines. This is SHOC BusSpeed's measurement.

use super::launch::Gpu;
use super::memory::PinnedBuffer;
use crate::error::Result;
use crate::workloads::transfer::{Direction, HostMemory};

/// The host side of the copies.
enum HostBuffer {
    Pageable(Vec<u8>),
    Pinned(PinnedBuffer<u8>),
}

impl HostBuffer {
    fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            HostBuffer::Pageable(v) => v,
            HostBuffer::Pinned(p) => p,
        }
    }
}

/// Seconds for each of `reps` copies of `bytes` bytes in `direction`.
pub(crate) fn transfer(
    gpu: &Gpu<'_>,
    direction: Direction,
    memory: HostMemory,
    bytes: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    let device = gpu.alloc::<u8>(bytes, "the transfer buffer")?;
    let mut host = match memory {
        // Written once, so every page is mapped before the first copy.
        HostMemory::Pageable => HostBuffer::Pageable(crate::backend::cpu::host_vec(
            bytes,
            1u8,
            "the transfer's host buffer",
        )?),
        HostMemory::Pinned => {
            let mut pinned = gpu.pinned::<u8>(bytes, "the transfer buffer")?;
            pinned.fill(1);
            HostBuffer::Pinned(pinned)
        }
    };
    let host = host.as_mut_slice();
    let stream = gpu.stream()?;
    let (start, stop) = (gpu.event()?, gpu.event()?);
    let call = match direction {
        Direction::HostToDevice => "cuMemcpyHtoDAsync",
        Direction::DeviceToHost => "cuMemcpyDtoHAsync",
    };
    let mut seconds = Vec::with_capacity(reps);
    for _ in 0..reps {
        start
            .record(&stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        // SAFETY: `host` is borrowed for the whole loop and not touched until the
        // stream synchronize below has waited for the copy; the device buffer
        // holds `bytes` bytes, as many as the host slice.
        let queued = unsafe {
            match direction {
                Direction::HostToDevice => stream.copy_to_device_async(host, &device, 0),
                Direction::DeviceToHost => stream.copy_from_device_async(&device, 0, host),
            }
        };
        let recorded = stop.record(&stream);
        // Wait before reporting any error, so no copy can outlive the buffers.
        let synced = stream.synchronize();
        queued
            .and(synced)
            .map_err(|e| e.during(format!("{call} of {bytes} bytes ({memory} host memory)")))?;
        recorded.map_err(|e| e.during("cuEventRecord"))?;
        let elapsed = start
            .elapsed_until(&stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?;
        seconds.push(elapsed.as_secs_f64());
    }
    Ok(seconds)
}
