//! Long `map` and `rng` jobs in pieces on two in-order queues taken in turn:
//! while one queue runs a piece's kernel, the other copies its piece to or
//! from the host, on devices that overlap copies with kernels (GPUs with copy
//! engines). Each queue has its own device buffers, which its in-order
//! execution keeps from being overwritten before they are read.
//!
//! Host memory handed to a [`Pipeline`] is borrowed for the pipeline's life,
//! and the pipeline waits for both queues before it ends (also when dropped
//! early, on an error), so no copy outlives the memory it reads or writes.

use std::marker::PhantomData;
use std::time::Instant;

use ocl::core::{CommandQueue, Event, Mem, OclPrm};

use super::session::{check_finished, profiled_seconds, Arg, Launch, Session};
use super::status::runtime;
use crate::error::Result;

/// Smallest piece worth a queue of its own, in elements: below this, one piece.
const MIN_PIECE: usize = 1 << 20;

/// Pieces a job is cut into when it fits in one chunk: enough that the
/// copies of all but one overlap kernels.
const PIECES: usize = 4;

/// The piece length for `n` elements when at most `chunk` fit in one buffer.
pub(super) fn piece_len(n: usize, chunk: usize) -> usize {
    n.div_ceil(PIECES).max(MIN_PIECE).min(chunk).max(1)
}

/// Two queues taking pieces in turn; `'h` is the borrow of the host memory.
pub(super) struct Pipeline<'h> {
    queues: [CommandQueue; 2],
    /// Each kernel's event and name.
    kernels: Vec<(Event, String)>,
    /// Each copy's event and what it copied.
    copies: Vec<(Event, &'static str)>,
    start: Instant,
    host: PhantomData<&'h mut [u8]>,
}

impl<'h> Pipeline<'h> {
    /// Two new queues on the session's device.
    pub(super) fn new(session: &Session<'_>) -> Result<Pipeline<'h>> {
        Ok(Pipeline {
            queues: [session.new_queue()?, session.new_queue()?],
            kernels: Vec::new(),
            copies: Vec::new(),
            start: Instant::now(),
            host: PhantomData,
        })
    }

    /// The queue that runs piece `piece`; its buffers are the ones of index `piece % 2`.
    fn queue(&self, piece: usize) -> &CommandQueue {
        &self.queues[piece % 2]
    }

    /// Copies `data` into the start of `buffer` on piece `piece`'s queue.
    pub(super) fn write<T: OclPrm>(
        &mut self,
        piece: usize,
        buffer: &Mem,
        data: &'h [T],
    ) -> Result<()> {
        let mut event = Event::null();
        // SAFETY: a non-blocking write from `data`, which is borrowed (shared)
        // for the pipeline's life, and the pipeline waits for the queue before
        // it ends; the caller's buffer holds `data.len()` elements.
        unsafe {
            ocl::core::enqueue_write_buffer(
                self.queue(piece),
                buffer,
                false,
                0,
                data,
                None::<&Event>,
                Some(&mut event),
            )
        }
        .map_err(|e| runtime("clEnqueueWriteBuffer", &e))?;
        self.copies.push((event, "a copy to the device"));
        Ok(())
    }

    /// Runs `launch` with `args` over `groups` groups on piece `piece`'s queue.
    ///
    /// # Safety
    /// As `Launch::enqueue`; the buffers are the ones of index `piece % 2` (or
    /// only one), so that the queue's own order keeps them consistent.
    pub(super) unsafe fn kernel(
        &mut self,
        piece: usize,
        launch: &Launch,
        args: &[Arg<'_>],
        groups: usize,
    ) -> Result<()> {
        // SAFETY: the caller vouches for `args` and `groups`; the pipeline
        // waits for its queues before it ends.
        let event = unsafe { launch.enqueue(self.queue(piece), args, groups)? };
        self.kernels.push((event, launch.name().to_string()));
        Ok(())
    }

    /// Copies elements `offset ..` of `buffer` into `out` on piece `piece`'s queue.
    pub(super) fn read<T: OclPrm>(
        &mut self,
        piece: usize,
        buffer: &Mem,
        offset: usize,
        out: &'h mut [T],
    ) -> Result<()> {
        let mut event = Event::null();
        // SAFETY: a non-blocking read into `out`, which is borrowed (exclusively)
        // for the pipeline's life, and the pipeline waits for the queue before it
        // ends; the caller's buffer holds `offset + out.len()` elements.
        unsafe {
            ocl::core::enqueue_read_buffer(
                self.queue(piece),
                buffer,
                false,
                offset,
                out,
                None::<&Event>,
                Some(&mut event),
            )
        }
        .map_err(|e| runtime("clEnqueueReadBuffer", &e))?;
        self.copies.push((event, "a copy to the host"));
        Ok(())
    }

    /// Waits for both queues and checks that every command succeeded; returns
    /// the kernels' seconds by the device's clock (the whole pipeline's, by
    /// the host's, on a runtime that gives no profiling information).
    pub(super) fn finish(self) -> Result<f64> {
        for queue in &self.queues {
            ocl::core::finish(queue).map_err(|e| runtime("clFinish", &e))?;
        }
        let wall = self.start.elapsed().as_secs_f64();
        for (event, name) in &self.kernels {
            check_finished(event, &format!("kernel {name}"))?;
        }
        for (event, what) in &self.copies {
            check_finished(event, what)?;
        }
        let device: Option<f64> = self.kernels.iter().map(|(e, _)| profiled_seconds(e)).sum();
        Ok(device.unwrap_or(wall))
    }
}

impl Drop for Pipeline<'_> {
    fn drop(&mut self) {
        // Nothing may still read or write the borrowed host memory afterwards.
        for queue in &self.queues {
            let _ = ocl::core::finish(queue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_jobs_go_in_pieces_within_a_chunk() {
        assert_eq!(piece_len(10, 1 << 30), 1 << 20);
        assert_eq!(piece_len(1 << 20, 1 << 30), 1 << 20);
        assert_eq!(piece_len(100_000_000, 1 << 30), 25_000_000);
        assert_eq!(piece_len(100_000_000, 1 << 24), 1 << 24);
        assert_eq!(piece_len(5, 3), 3);
        assert_eq!(piece_len(0, 0), 1);
    }
}
