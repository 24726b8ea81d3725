//! `transfer`: host↔device copy bandwidth over a range of sizes, in pageable
//! and pinned host memory, as SHOC's BusSpeed measures it. On the CPU device
//! it is a plain host memory copy, for reference.

use std::fmt;

use serde::Serialize;

use crate::device::{Device, DeviceType};
use crate::error::{Error, Result};

/// Which way the bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Host memory to device memory.
    HostToDevice,
    /// Device memory to host memory.
    DeviceToHost,
}

/// The kind of host memory on the host side of the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostMemory {
    /// Ordinary (pageable) memory: GPU copies go through a staging buffer.
    Pageable,
    /// Page-locked memory the GPU can reach by DMA.
    Pinned,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::HostToDevice => "host-to-device",
            Direction::DeviceToHost => "device-to-host",
        })
    }
}

impl fmt::Display for HostMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostMemory::Pageable => "pageable",
            HostMemory::Pinned => "pinned",
        })
    }
}

/// One measured size of one direction and memory kind.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRow {
    /// Which way.
    pub direction: Direction,
    /// Host memory kind.
    pub memory: HostMemory,
    /// Bytes per copy.
    pub bytes: u64,
    /// Fastest copy, seconds (first copy dropped).
    pub min_s: f64,
    /// Mean copy, seconds.
    pub avg_s: f64,
    /// `bytes / min_s`.
    pub bandwidth: f64,
}

/// The most timed copies per size.
pub const MAX_REPS: usize = 1_000_000;

/// The sizes measured: powers of 4 from 1 KiB up to `max_bytes`, then
/// `max_bytes` itself where it is not one.
pub fn sizes(max_bytes: u64) -> Vec<u64> {
    let mut sizes: Vec<u64> = std::iter::successors(Some(1024u64), |&s| s.checked_mul(4))
        .take_while(|&s| s <= max_bytes)
        .collect();
    // The size asked for is measured too, where it is not a power of four.
    if sizes.last().is_some_and(|&last| last < max_bytes) {
        sizes.push(max_bytes);
    }
    sizes
}

/// Measures every size in both directions, pageable and (where the backend has
/// it) pinned, `reps` copies each after one warm-up copy.
///
/// The sizes are [`sizes`]`(max_bytes)`, so `max_bytes` is at least 1024 (the
/// smallest size); `reps` is 1 to [`MAX_REPS`]. Anything else is an error.
///
/// ```
/// use gpucalc::transfer::transfer;
/// use gpucalc::{Device, DeviceSpec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let rows = transfer(&device, 1 << 16, 3)?;
/// assert!(rows.iter().all(|r| r.bandwidth > 0.0));
/// # Ok::<(), gpucalc::Error>(())
/// ```
pub fn transfer(device: &Device, max_bytes: u64, reps: usize) -> Result<Vec<TransferRow>> {
    if !(1..=MAX_REPS).contains(&reps) {
        return Err(Error::InvalidArgument(format!(
            "reps (--reps) must be between 1 and {MAX_REPS}"
        )));
    }
    if max_bytes < 1024 {
        return Err(Error::InvalidArgument(
            "max_bytes (--max-bytes) must be at least 1024".into(),
        ));
    }
    // A host buffer and a device buffer; on a CPU device (gpucalc's, or an
    // OpenCL one such as PoCL) both are host memory.
    if device.info().device_type == DeviceType::Cpu {
        device.check_fits(
            "the largest transfer (two buffers)",
            max_bytes.saturating_mul(2),
        )?;
    } else {
        device.check_fits("the largest transfer buffer", max_bytes)?;
        crate::backend::cpu::check_host_fits("the largest transfer's host buffer", max_bytes)?;
    }
    let backend = device.backend();
    let mut rows = Vec::new();
    for memory in backend.host_memory_kinds() {
        for direction in [Direction::HostToDevice, Direction::DeviceToHost] {
            for &bytes in &sizes(max_bytes) {
                let times = backend.transfer(direction, memory, bytes as usize, reps + 1)?;
                let counted = &times[1..];
                let min_s = counted.iter().copied().fold(f64::INFINITY, f64::min);
                rows.push(TransferRow {
                    direction,
                    memory,
                    bytes,
                    min_s,
                    avg_s: counted.iter().sum::<f64>() / counted.len() as f64,
                    bandwidth: bytes as f64 / min_s.max(1e-12),
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_powers_of_four_from_one_kib() {
        assert_eq!(sizes(16 * 1024), vec![1024, 4096, 16384]);
        assert_eq!(sizes(1023), Vec::<u64>::new());
        assert_eq!(
            sizes(1_000_000),
            vec![1024, 4096, 16384, 65536, 262_144, 1_000_000]
        );
        assert_eq!(*sizes(u64::MAX).last().unwrap(), u64::MAX);
    }
}
