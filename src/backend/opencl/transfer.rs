//! `transfer` on OpenCL: blocking `clEnqueueWriteBuffer` / `clEnqueueReadBuffer`
//! between a device buffer and host memory, timed by the host clock (what a
//! program waiting on the copy sees).
//!
//! Pageable memory is an ordinary `Vec`. Pinned memory is obtained the way
//! OpenCL offers it: a buffer created with `CL_MEM_ALLOC_HOST_PTR` and mapped,
//! whose mapping is page-locked host memory on the GPU drivers that support it
//! (NVIDIA's and AMD's best-practice guides; SHOC's BusSpeed does the same); the
//! copies then go between that mapping and an ordinary device buffer. It is
//! offered only where creating and mapping such a buffer works.

use std::time::Instant;

use ocl::core::{Event, MapFlags, Mem, MemFlags, MemMap};

use super::session::Session;
use super::status::{is_out_of_memory, runtime};
use crate::error::{Error, Result};
use crate::workloads::transfer::{Direction, HostMemory};

/// Host memory from a mapped `CL_MEM_ALLOC_HOST_PTR` buffer, unmapped on drop.
struct Pinned<'s> {
    session: &'s Session<'s>,
    buffer: Mem,
    map: MemMap<u8>,
    len: usize,
}

impl<'s> Pinned<'s> {
    /// `len` bytes (at least 1) of mapped host memory.
    fn new(session: &'s Session<'s>, len: usize) -> Result<Pinned<'s>> {
        let len = len.max(1);
        let info = session.info();
        // SAFETY: no host pointer is passed; the runtime allocates `len` bytes of
        // host-accessible memory, which is only touched through the mapping below.
        let buffer = unsafe {
            ocl::core::create_buffer::<_, u8>(
                session.context(),
                MemFlags::READ_WRITE | MemFlags::ALLOC_HOST_PTR,
                len,
                None,
            )
        }
        .map_err(|e| {
            if is_out_of_memory(&e) {
                Error::OutOfMemory {
                    what: "pinned host memory for transfer".to_string(),
                    device: format!("{} ({})", info.spec, info.name),
                    needed: len as u64,
                    available: info.memory_bytes,
                }
            } else {
                runtime("clCreateBuffer(CL_MEM_ALLOC_HOST_PTR)", &e)
            }
        })?;
        // SAFETY: a blocking map of the whole buffer, readable and writable; the
        // mapping is used only while `self` lives and unmapped in `drop`, before
        // the buffer is released.
        let map = unsafe {
            ocl::core::enqueue_map_buffer::<u8, _, _, _>(
                session.queue(),
                &buffer,
                true,
                MapFlags::READ | MapFlags::WRITE,
                0,
                len,
                None::<&Event>,
                None::<&mut Event>,
            )
        }
        .map_err(|e| runtime("clEnqueueMapBuffer(CL_MEM_ALLOC_HOST_PTR)", &e))?;
        Ok(Pinned {
            session,
            buffer,
            map,
            len,
        })
    }

    /// The mapped bytes.
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the blocking map returned a pointer to `len` bytes that stay
        // mapped until `drop`; the borrow of `self` keeps the slice within that.
        unsafe { self.map.as_slice_mut(self.len) }
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        let queue = self.session.queue();
        let unmapped = ocl::core::enqueue_unmap_mem_object(
            queue,
            &self.buffer,
            &self.map,
            None::<&Event>,
            None::<&mut Event>,
        );
        if unmapped.is_ok() {
            let _ = self.session.finish();
        }
    }
}

/// Pageable always; pinned where a mapped `CL_MEM_ALLOC_HOST_PTR` buffer can be
/// made and copied from.
pub(super) fn memory_kinds(session: &Session<'_>) -> Vec<HostMemory> {
    let probe = || -> Result<()> {
        let mut pinned = Pinned::new(session, 4096)?;
        let device = session.buffer::<u8>("a transfer probe", 4096)?;
        session.write(&device, 0, pinned.bytes())
    };
    match probe() {
        Ok(()) => vec![HostMemory::Pageable, HostMemory::Pinned],
        Err(_) => vec![HostMemory::Pageable],
    }
}

/// Seconds of each of `reps` blocking copies of `bytes` bytes: one copy, or
/// one after another into buffers of the largest size the device allows when
/// `bytes` is larger (the total is checked against the device's memory first).
pub(super) fn run(
    session: &Session<'_>,
    direction: Direction,
    memory: HostMemory,
    bytes: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    if bytes == 0 {
        return Ok(vec![0.0; reps]);
    }
    let piece = session.chunk_elements::<u8>(1).min(bytes);
    let lens: Vec<usize> = (0..bytes)
        .step_by(piece)
        .map(|at| piece.min(bytes - at))
        .collect();
    let devices = lens
        .iter()
        .map(|&len| session.buffer::<u8>("the transfer buffer", len))
        .collect::<Result<Vec<_>>>()?;
    let mut pageable;
    let mut pinned;
    let mut hosts: Vec<&mut [u8]> = match memory {
        HostMemory::Pageable => {
            pageable = crate::backend::cpu::host_vec(bytes, 1u8, "the transfer's host buffer")?;
            pageable.chunks_mut(piece).collect()
        }
        HostMemory::Pinned => {
            pinned = lens
                .iter()
                .map(|&len| Pinned::new(session, len))
                .collect::<Result<Vec<_>>>()?;
            pinned.iter_mut().map(Pinned::bytes).collect()
        }
    };
    for host in hosts.iter_mut() {
        host.fill(1);
    }
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            for (device, host) in devices.iter().zip(hosts.iter_mut()) {
                match direction {
                    Direction::HostToDevice => session.write(device, 0, host)?,
                    Direction::DeviceToHost => session.read(device, 0, host)?,
                }
            }
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::opencl::device::open_or_skip;
    use crate::backend::opencl::session::CHUNK_CAP;
    use crate::backend::Backend;

    #[test]
    fn copies_larger_than_a_buffer_go_in_pieces() {
        let Some(device) = open_or_skip() else {
            return;
        };
        CHUNK_CAP.with(|cap| cap.set(3000));
        for memory in device.host_memory_kinds() {
            for direction in [Direction::HostToDevice, Direction::DeviceToHost] {
                let times = device.transfer(direction, memory, 10_001, 3).unwrap();
                assert_eq!(times.len(), 3);
                assert!(times.iter().all(|&t| t > 0.0), "{times:?}");
            }
        }
        CHUNK_CAP.with(|cap| cap.set(usize::MAX));
        assert_eq!(
            device
                .transfer(Direction::HostToDevice, HostMemory::Pageable, 0, 2)
                .unwrap(),
            [0.0, 0.0]
        );
    }
}
