//! The CPU backend: rayon worker threads, and the reference for every other backend.

pub(crate) mod map;
mod matmul;
pub(crate) mod memory;
mod normal;
mod pi;
mod rng;
mod simd;
mod stream;
mod sysinfo;
pub(crate) mod vmath;

pub(crate) use matmul::product;
pub use pi::reference_hits;

use rayon::prelude::*;

use crate::backend::{Backend, MatmulRuns};
use crate::device::{DeviceInfo, DeviceType};
use crate::dtype::{Float, FloatVec};
use crate::error::{BackendKind, Error, Result};
use crate::workloads::map::{MapFn, MapIo, MapTiming};
use crate::workloads::rng::{RngSlice, RngSpec};
use crate::workloads::stream::StreamRaw;
use crate::workloads::transfer::{Direction, HostMemory};

/// The CPU as a compute device: a pool of rayon workers of a chosen size.
pub struct CpuDevice {
    pool: rayon::ThreadPool,
    info: DeviceInfo,
}

impl std::fmt::Debug for CpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuDevice")
            .field("threads", &self.threads())
            .finish()
    }
}

/// Worker threads allowed per hardware thread. Past the cores, threads only
/// take turns, and starting thousands is slow: on a 2-core VM `--threads 4096`
/// took 14 s to run `pi 10` and 115 s for `matmul 64 64 64`.
const THREADS_PER_HARDWARE_THREAD: usize = 8;
/// The most worker threads any machine allows, however many cores it has:
/// few enough that starting them cannot exhaust the process's memory maps
/// or the system's thread limit.
const MAX_THREADS: usize = 4096;
/// The bound where that would be below it: oversubscribing a small machine
/// this far stays cheap (a few milliseconds to start).
const MIN_MAX_THREADS: usize = 64;

/// The most worker threads a CPU device (or `--threads`) may ask for here:
/// 8 per hardware thread, but at least 64 and never more than 4096.
pub(crate) fn max_threads() -> usize {
    (THREADS_PER_HARDWARE_THREAD * sysinfo::hardware_threads()).clamp(MIN_MAX_THREADS, MAX_THREADS)
}

/// Where `n` threads are above [`max_threads`], the bound and why:
/// `at most 64 here (8 per hardware thread, ...)`.
pub(crate) fn threads_over_bound(n: usize) -> Option<String> {
    (n > max_threads()).then(|| {
        format!(
            "at most {} here ({THREADS_PER_HARDWARE_THREAD} per hardware thread, at least \
             {MIN_MAX_THREADS}, at most {MAX_THREADS})",
            max_threads()
        )
    })
}

/// Refuses a thread count of 0 or above [`max_threads`].
pub(crate) fn check_threads(threads: Option<usize>) -> Result<()> {
    match threads {
        Some(0) => Err(Error::InvalidArgument(
            "the thread count (--threads) must be at least 1".to_string(),
        )),
        Some(n) => match threads_over_bound(n) {
            Some(bound) => Err(Error::InvalidArgument(format!(
                "the thread count (--threads) {n} is too many: {bound}"
            ))),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

impl CpuDevice {
    /// A CPU device with `threads` workers (`None`: one per hardware thread).
    pub(crate) fn open(threads: Option<usize>) -> Result<CpuDevice> {
        check_threads(threads)?;
        let threads = threads.unwrap_or_else(sysinfo::hardware_threads);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("gpucalc-cpu-{i}"))
            .build()
            .map_err(|e| Error::Runtime {
                backend: BackendKind::Cpu,
                call: "starting worker threads".to_string(),
                message: e.to_string(),
            })?;
        let mut info = describe();
        info.threads = Some(threads as u32);
        Ok(CpuDevice { pool, info })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
}

/// The clock a busy core runs at, in Hz, measured once (see `sysinfo`).
pub(crate) fn measured_clock_hz() -> Option<f64> {
    sysinfo::measured_clock_hz()
}

/// Whether this CPU runs each 512-bit vector operation as two 256-bit halves,
/// so that AVX-512 does no more arithmetic per cycle than AVX2: AMD's Zen 4
/// (family 25 with AVX-512). Zen 5 (family 26) is taken at full width, as its
/// desktop and server parts are; its mobile parts split too, and their
/// limits come out twice what they reach.
/// Read once: each bench row's limit asks, and the answer is in /proc/cpuinfo.
pub(crate) fn splits_512_bit_ops() -> bool {
    static SPLITS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SPLITS.get_or_init(|| {
        isa_name() == "avx512"
            && sysinfo::cpu_vendor() == "AuthenticAMD"
            && sysinfo::cpu_family() == Some(25)
    })
}

/// The widest SIMD instruction set the CPU kernels use here: `avx512`, `avx2` or `baseline`.
pub(crate) fn isa_name() -> &'static str {
    match simd::isa() {
        simd::Isa::Avx512 => "avx512",
        simd::Isa::Avx2 => "avx2",
        simd::Isa::Baseline => "baseline",
    }
}

/// Fails with [`Error::OutOfMemory`] for `what` where `bytes` is more than
/// the host has available now ([`memory::headroom`]: a job beyond it would
/// swap or be killed).
pub(crate) fn check_host_fits(what: &str, bytes: u64) -> Result<()> {
    match memory::headroom() {
        Some(room) if bytes > room.bytes => Err(host_out_of_memory(what, bytes, Some(room))),
        _ => Ok(()),
    }
}

/// The host's [`Error::OutOfMemory`]: `what` needs `needed` bytes of what
/// `room` says is left.
fn host_out_of_memory(what: &str, needed: u64, room: Option<memory::Headroom>) -> Error {
    Error::OutOfMemory {
        what: what.to_string(),
        device: room.map_or("the host".to_string(), |room| room.holder("the host")),
        needed,
        available: room.map_or(0, |room| room.bytes),
    }
}

/// `len` copies of `value`, or an [`Error::OutOfMemory`] for `what` where the
/// host cannot hold them (more than its memory, or the allocator refuses),
/// rather than the process aborting.
pub(crate) fn host_vec<T: Copy + Send + Sync>(len: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut data = reserve(len, what)?;
    // Filled a block at a time (a memset each) by rayon's threads, so each
    // page is first touched in parallel.
    data.spare_capacity_mut()
        .par_chunks_mut(1 << 16)
        .for_each(|block| block.fill(std::mem::MaybeUninit::new(value)));
    // SAFETY: `reserve` gave capacity for `len` elements, and the chunks
    // above cover all `len` of them, each written with `value`.
    unsafe { data.set_len(len) };
    Ok(data)
}

/// An empty vector with room for exactly `len` elements, or an
/// [`Error::OutOfMemory`] for `what` (more than the host has, or the
/// allocator refuses).
fn reserve<T>(len: usize, what: &str) -> Result<Vec<T>> {
    let needed = (len as u64).saturating_mul(std::mem::size_of::<T>() as u64);
    check_host_fits(what, needed)?;
    let mut data = Vec::new();
    data.try_reserve_exact(len)
        .map_err(|_| host_out_of_memory(what, needed, memory::headroom()))?;
    Ok(data)
}

/// Elements `f(0) .. f(len - 1)`, written by rayon's threads (so each page is
/// first touched in parallel), or an [`Error::OutOfMemory`] as [`host_vec`] gives.
pub(crate) fn host_vec_from<T: Send>(
    len: usize,
    what: &str,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Result<Vec<T>> {
    let mut data = reserve(len, what)?;
    // The capacity is reserved, so this writes in place without growing.
    data.par_extend((0..len).into_par_iter().map(f));
    Ok(data)
}

/// The CPU row of `gpucalc devices`: model, cores, hardware threads, memory.
pub(crate) fn describe() -> DeviceInfo {
    let threads = sysinfo::hardware_threads();
    let mut info = DeviceInfo::new(BackendKind::Cpu, 0, sysinfo::cpu_model(), DeviceType::Cpu);
    info.spec = "cpu".to_string();
    info.vendor = sysinfo::cpu_vendor();
    info.compute_units = sysinfo::physical_cores().unwrap_or(threads) as u32;
    info.threads = Some(threads as u32);
    info.memory_bytes = memory::total().unwrap_or(0);
    info.cache_bytes = sysinfo::total_last_level_cache_bytes();
    info.clock_mhz = sysinfo::max_clock_mhz();
    info.fp64 = true;
    info
}

/// Samples per rayon task: large enough that scheduling costs nothing.
const SAMPLES_PER_TASK: u64 = 1 << 22;

impl Backend for CpuDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn pi_chunk(&self) -> u64 {
        // About 20 ms of work per call at ~1e9 samples/s per thread.
        (self.threads() as u64) * (1 << 24)
    }

    fn pi_hits(&self, seed: u64, first: u64, count: u64) -> Result<u64> {
        let tasks = count.div_ceil(SAMPLES_PER_TASK);
        Ok(self.pool.install(|| {
            (0..tasks)
                .into_par_iter()
                .map(|t| {
                    let start = first + t * SAMPLES_PER_TASK;
                    let len = SAMPLES_PER_TASK.min(first + count - start);
                    pi::count_samples(seed, start, len)
                })
                .sum()
        }))
    }

    fn stream(&self, float: Float, n: usize, times: usize) -> Result<StreamRaw> {
        Ok(self.pool.install(|| match float {
            Float::F32 => stream::run::<f32>(n, times, FloatVec::F32),
            Float::F64 => stream::run::<f64>(n, times, FloatVec::F64),
        }))
    }

    fn rng_fill(&self, spec: &RngSpec, first: u64, out: RngSlice<'_>) -> Result<()> {
        self.pool.install(|| rng::fill(spec, first, out));
        Ok(())
    }

    fn map(&self, function: MapFn, io: MapIo<'_>) -> Result<MapTiming> {
        Ok(self.pool.install(|| map::map(function, io)))
    }

    /// A host memory copy, in parallel: the CPU device's own memory is host memory.
    fn transfer(
        &self,
        _direction: Direction,
        _memory: HostMemory,
        bytes: usize,
        reps: usize,
    ) -> Result<Vec<f64>> {
        let block = (bytes / self.threads()).clamp(4096, 1 << 22);
        // Both buffers at once: each alone may fit where the two do not.
        let needed = (bytes as u64).saturating_mul(2);
        check_host_fits("the copy (a source and a target buffer)", needed)?;
        // Filled by the device's own threads, which then copy them: the
        // pages lie where those threads touched them first.
        let (source, mut target) = self.pool.install(|| {
            Ok::<_, Error>((
                host_vec(bytes, 1u8, "the copy's source buffer")?,
                host_vec(bytes, 0u8, "the copy's target buffer")?,
            ))
        })?;
        Ok(self.pool.install(|| {
            (0..reps)
                .map(|_| {
                    let start = std::time::Instant::now();
                    target
                        .par_chunks_mut(block)
                        .zip(source.par_chunks(block))
                        .for_each(|(t, s)| t.copy_from_slice(s));
                    start.elapsed().as_secs_f64()
                })
                .collect()
        }))
    }

    fn matmul(
        &self,
        a: &FloatVec,
        b: &FloatVec,
        c: &mut FloatVec,
        (m, n, k): (usize, usize, usize),
        reps: usize,
        kernel: Option<&str>,
    ) -> Result<MatmulRuns> {
        self.no_kernel_choice(kernel, &format!("the {} crate", matmul::LIBRARY))?;
        // faer's own threads: more than the hardware has would only take turns.
        let threads = self.threads().min(sysinfo::hardware_threads());
        let times = self
            .pool
            .install(|| matmul::matmul(a, b, c, m, n, k, reps, threads));
        Ok(MatmulRuns {
            times,
            kernel: format!(
                "{} crate, {threads} thread{}",
                matmul::LIBRARY,
                if threads == 1 { "" } else { "s" }
            ),
            tried: Vec::new(),
        })
    }

    /// Host memory is the CPU's device memory: generate into a reused buffer.
    fn rng_device_times(&self, spec: &RngSpec, n: usize, reps: usize) -> Result<Vec<f64>> {
        self.pool.install(|| {
            let mut buffer = crate::rng::RngVec::try_zeros(spec.dtype, n)?;
            rng::fill(spec, 0, buffer.as_slice_mut());
            Ok((0..reps)
                .map(|_| {
                    let start = std::time::Instant::now();
                    rng::fill(spec, 0, buffer.as_slice_mut());
                    start.elapsed().as_secs_f64()
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_vectors_past_the_hosts_memory_are_refused() {
        assert_eq!(host_vec(3, 1.5f32, "x").unwrap(), vec![1.5; 3]);
        let squares = host_vec_from(100_003, "y", |i| i * i).unwrap();
        assert!(squares.iter().enumerate().all(|(i, &x)| x == i * i));
        assert!(host_vec_from(0, "z", |i| i).unwrap().is_empty());
        // Several blocks and a partial last one, each element written.
        let ones = host_vec((1 << 17) + 5, 1u8, "w").unwrap();
        assert_eq!(ones.len(), (1 << 17) + 5);
        assert!(ones.iter().all(|&b| b == 1));
        assert!(host_vec(0, 7u8, "v").unwrap().is_empty());
        let err = host_vec(usize::MAX / 8, 0.0f64, "matrix C").unwrap_err();
        assert!(
            matches!(err, Error::OutOfMemory { ref what, .. } if what == "matrix C"),
            "{err}"
        );
    }
}
