//! `matmul` on OpenCL: the tiled GEMM of kernels/common/gemm.h, with tile sizes
//! chosen for each device from its limits and built in as build options.
//!
//! A, B and C live in three device buffers for the whole call; the kernel runs
//! once untimed, then `reps` times, each run timed by the queue's profiling
//! counters (start to end of the kernel command; the host clock around enqueue
//! and completion where the runtime gives no profiling information).
//!
//! Performance note (a measurement, not a test). PoCL 3.1 on the 2-core
//! AVX-512 Xeon of the development machine, release build, quiet machine,
//! `gpucalc --device opencl matmul 1024 1024 1024 --dtype f32` (and `f64`)
//! against `--device cpu`, three alternating runs each: 61 against 400-415
//! GFLOP/s in f32, 42 against 200-209 in f64. The tiles matter most on
//! PoCL, which runs a work-group as loops over its work-items between
//! barriers (f32 at 1024³, quiet): 64×64 tiles with 8×8 outputs per work-item
//! in vectors of 4 and k steps of 32 give 61 GFLOP/s; steps of 16, 55; steps
//! of 64, 47; 32×64 tiles, 55-59. Measured while other builds ran, so only
//! roughly: scalar accesses (`vw` 1) gave 5-21 GFLOP/s at 512³, the GPUs'
//! 128×128 tiles 2-17, and vectors of 2 doubles rather than 4 about 4 in f64.

mod tiles;

use std::time::Instant;

use ocl::core::{
    ArgVal, CommandQueue, CommandQueueProperties, Context, DeviceId, Event, Kernel, Mem, OclPrm,
};

use super::device::OpenClDevice;
use super::program::Scalar;
use super::session::{kernel_with_limit, profiled_seconds};
use super::status::runtime;
use crate::backend::{Backend, MatmulRuns};
use crate::device::DeviceInfo;
use crate::dtype::{Float, FloatVec};
use crate::error::{Error, Result};

#[cfg(test)]
use tiles::Limits;
use tiles::{candidates, limits, Tiles};

/// The element types of the kernel.
trait GemmFloat: OclPrm {
    const SCALAR: Scalar;
}

impl GemmFloat for f32 {
    const SCALAR: Scalar = Scalar::F32;
}

impl GemmFloat for f64 {
    const SCALAR: Scalar = Scalar::F64;
}

/// C = A·B (see `Backend::matmul`) on `device`, whose context and handle are
/// `context` and `id`.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    device: &OpenClDevice,
    context: &Context,
    id: DeviceId,
    a: &FloatVec,
    b: &FloatVec,
    c: &mut FloatVec,
    (m, n, k): (usize, usize, usize),
    reps: usize,
) -> Result<MatmulRuns> {
    let float = a.float();
    if b.float() != float || c.float() != float {
        return Err(Error::InvalidArgument(
            "matmul: A, B and C must have one element type".into(),
        ));
    }
    if float == Float::F64 {
        device.require_fp64("matmul in double precision")?;
    }
    crate::backend::check_gemm_dimensions(crate::BackendKind::OpenCl, (m, n, k))?;
    let run = Run {
        device,
        context,
        id,
        m,
        n,
        k,
    };
    match (a, b, c) {
        (FloatVec::F32(a), FloatVec::F32(b), FloatVec::F32(c)) => run.go(a, b, c, reps),
        (FloatVec::F64(a), FloatVec::F64(b), FloatVec::F64(c)) => run.go(a, b, c, reps),
        _ => unreachable!("element types checked above"),
    }
}

/// One matmul call.
struct Run<'a> {
    device: &'a OpenClDevice,
    context: &'a Context,
    id: DeviceId,
    m: usize,
    n: usize,
    k: usize,
}

#[cfg(test)]
thread_local! {
    /// Tiles that this thread's calls use rather than the device's choice (tests).
    static FORCE_TILES: std::cell::Cell<Option<Tiles>> = const { std::cell::Cell::new(None) };
    /// Launch one work-group fewer than C needs, leaving a tile unwritten (tests).
    static DROP_LAST_GROUP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Run<'_> {
    fn go<T: GemmFloat>(&self, a: &[T], b: &[T], c: &mut [T], reps: usize) -> Result<MatmulRuns> {
        let (m, n, k) = (self.m, self.n, self.k);
        assert!(
            a.len() == m * k && b.len() == k * n && c.len() == m * n,
            "matmul: buffer sizes"
        );
        let info = self.device.info();
        let element = std::mem::size_of::<T>();
        let (kernel, tiles) = self.kernel::<T>(element)?;
        let groups = tiles.groups(m, n);
        if groups > u64::from(u32::MAX) {
            return Err(Error::InvalidArgument(format!(
                "{m}x{n} is too many {}x{} tiles for one launch",
                tiles.bm, tiles.bn
            )));
        }
        let group = tiles.group_size();
        let global = usize::try_from(groups)
            .ok()
            .and_then(|g| g.checked_mul(group))
            .ok_or_else(|| Error::InvalidArgument(format!("{m}x{n}: too many work-items")))?;
        #[cfg(test)]
        let global = global - group * usize::from(DROP_LAST_GROUP.with(|d| d.get()));

        let queue = ocl::core::create_command_queue(
            self.context,
            self.id,
            Some(CommandQueueProperties::PROFILING_ENABLE),
        )
        .map_err(|e| runtime("clCreateCommandQueue (profiling)", &e))?;
        let shape = |rows: usize, cols: usize| format!("{rows}x{cols} {}", T::SCALAR.c_name());
        let a_mem = self
            .device
            .buffer::<T>(&format!("matrix A ({})", shape(m, k)), a.len())?;
        let b_mem = self
            .device
            .buffer::<T>(&format!("matrix B ({})", shape(k, n)), b.len())?;
        let c_mem = self
            .device
            .buffer::<T>(&format!("matrix C ({})", shape(m, n)), c.len())?;
        write(&queue, &a_mem, a, "A")?;
        write(&queue, &b_mem, b, "B")?;
        // C as the caller gave it (NaN, from `matmul_with`), so an element the
        // kernel does not write fails verification rather than keeping what an
        // earlier buffer left in the device's memory.
        write(&queue, &c_mem, c, "C")?;

        let name = kernel_name::<T>();
        let dims = [m, n, k].map(|d| d as u32);
        let args = [
            ArgVal::mem(&a_mem),
            ArgVal::mem(&b_mem),
            ArgVal::mem(&c_mem),
            ArgVal::scalar(&dims[0]),
            ArgVal::scalar(&dims[1]),
            ArgVal::scalar(&dims[2]),
        ];
        for (i, arg) in args.into_iter().enumerate() {
            ocl::core::set_kernel_arg(&kernel, i as u32, arg)
                .map_err(|e| runtime(format!("clSetKernelArg({name}, {i})"), &e))?;
        }
        let launch = Launch {
            queue: &queue,
            kernel: &kernel,
            name: &name,
            global,
            group,
            info,
        };
        launch.timed()?;
        let times = (0..reps)
            .map(|_| launch.timed())
            .collect::<Result<Vec<f64>>>()?;

        // SAFETY: a blocking read of `c.len()` elements into `c`, which outlives the
        // call; the buffer holds exactly that many.
        unsafe {
            ocl::core::enqueue_read_buffer(
                &queue,
                &c_mem,
                true,
                0,
                c,
                None::<&Event>,
                None::<&mut Event>,
            )
        }
        .map_err(|e| runtime("reading matrix C back (clEnqueueReadBuffer)", &e))?;
        Ok(MatmulRuns {
            times,
            kernel: format!(
                "{name} ({}x{} tiles, {}x{} per work-item)",
                tiles.bm, tiles.bn, tiles.tm, tiles.tn
            ),
            tried: Vec::new(),
        })
    }

    /// The kernel built with the first tile configuration the device takes.
    fn kernel<T: GemmFloat>(&self, element: usize) -> Result<(Kernel, Tiles)> {
        let info = self.device.info();
        let limits = limits(self.id, info);
        let name = kernel_name::<T>();
        let mut refused = Vec::new();
        #[allow(unused_mut)]
        let mut list = candidates(&limits, element, self.m, self.n);
        #[cfg(test)]
        if let Some(tiles) = FORCE_TILES.with(|t| t.get()) {
            list = vec![tiles];
        }
        for tiles in list {
            let program = self.device.program(&tiles.options(T::SCALAR))?;
            let (kernel, limit) = kernel_with_limit(&program, self.id, &name)?;
            if tiles.group_size() <= limit {
                return Ok((kernel, tiles));
            }
            refused.push(format!("{} work-items (limit {limit})", tiles.group_size()));
        }
        Err(Error::Runtime {
            backend: info.backend,
            call: format!("choosing the tiles of {name}"),
            message: format!(
                "{} ({}) takes no tile configuration: {} bytes of local memory, groups of \
                 at most {} work-items{}{}",
                info.spec,
                info.name,
                limits.local_bytes,
                limits.max_group,
                if refused.is_empty() {
                    ""
                } else {
                    "; refused: "
                },
                refused.join(", ")
            ),
        })
    }
}

fn kernel_name<T: GemmFloat>() -> String {
    format!("gc_gemm_{}_cl", T::SCALAR.suffix())
}

/// Copies all of `data` into `buffer`, blocking.
fn write<T: OclPrm>(queue: &CommandQueue, buffer: &Mem, data: &[T], what: &str) -> Result<()> {
    // SAFETY: a blocking write: `data` is only read, and only until the call
    // returns; the buffer holds `data.len()` elements.
    unsafe {
        ocl::core::enqueue_write_buffer(
            queue,
            buffer,
            true,
            0,
            data,
            None::<&Event>,
            None::<&mut Event>,
        )
    }
    .map_err(|e| runtime(format!("copying matrix {what} to the device"), &e))
}

/// One launch shape of the kernel, with its arguments set.
struct Launch<'a> {
    queue: &'a CommandQueue,
    kernel: &'a Kernel,
    name: &'a str,
    global: usize,
    group: usize,
    info: &'a DeviceInfo,
}

impl Launch<'_> {
    /// Runs the kernel once, waits for it, and returns its seconds.
    fn timed(&self) -> Result<f64> {
        let fault = |call: &str, e: &ocl::core::Error| {
            runtime(
                format!(
                    "kernel {} ({call}, {} work-groups of {} on {})",
                    self.name,
                    self.global / self.group,
                    self.group,
                    self.info.spec
                ),
                e,
            )
        };
        let mut event = Event::null();
        let start = Instant::now();
        // SAFETY: all six arguments are set (buffers of m·k, k·n and m·n elements and
        // the three sizes as uint, as gemm.h declares them); the launch is 1-D with a
        // global size that is a multiple of the group size, which is the kernel's
        // required work-group size; the buffers outlive the wait below.
        unsafe {
            ocl::core::enqueue_kernel(
                self.queue,
                self.kernel,
                1,
                None,
                &[self.global, 1, 1],
                Some([self.group, 1, 1]),
                None::<&Event>,
                Some(&mut event),
            )
        }
        .map_err(|e| fault("clEnqueueNDRangeKernel", &e))?;
        ocl::core::wait_for_event(&event).map_err(|e| fault("clWaitForEvents", &e))?;
        let host = start.elapsed().as_secs_f64();
        // The device's clock where the runtime reports it (ocl's own query
        // panics on error codes it does not know), else the host's.
        Ok(profiled_seconds(&event).unwrap_or(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::opencl::device::open_or_skip;
    use crate::device::DeviceType;
    use crate::workloads::matmul::{worst_error_ratio, Matrix};

    #[test]
    fn kernel_names_follow_the_element_type() {
        assert_eq!(kernel_name::<f32>(), "gc_gemm_f32_cl");
        assert_eq!(kernel_name::<f64>(), "gc_gemm_f64_cl");
    }

    #[test]
    fn dimensions_past_the_kernel_are_refused() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let (a, b) = (FloatVec::F32(Vec::new()), FloatVec::F32(Vec::new()));
        let mut c = FloatVec::F32(Vec::new());
        let err = device
            .matmul(
                &a,
                &b,
                &mut c,
                (1, crate::backend::GEMM_MAX_DIMENSION + 1, 1),
                1,
                None,
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "matmul on OpenCL takes dimensions up to 2147483647; N is 2147483648"
        );
    }

    #[test]
    fn every_configuration_is_right_here() {
        let Some(device) = open_or_skip() else {
            return;
        };
        // The GPU configurations (those of kernels/cuda/matmul.cu among them) as
        // well as the CPU ones, on whatever device this is.
        let big = Limits::gpu(64 << 10, 1024, 1);
        let cpu = Limits {
            kind: DeviceType::Cpu,
            ..big
        };
        for float in [Float::F32, Float::F64] {
            if float == Float::F64 && !device.info().fp64 {
                continue;
            }
            let element = float.size();
            let mut configs = candidates(&big, element, 1 << 12, 1 << 12);
            configs.extend(candidates(&cpu, element, 1, 1));
            for tiles in configs {
                FORCE_TILES.with(|t| t.set(Some(tiles)));
                // Edge tiles; whole tiles with whole slices only; whole tiles
                // with many whole slices (odd and even counts) and a short last
                // one, which take gemm.h's interior loop.
                let shapes = [
                    (1, 1, 1),
                    (33, 70, 19),
                    (130, 129, 37),
                    (128, 128, 16),
                    (128, 132, 44),
                    (136, 132, 100),
                ];
                for (m, n, k) in shapes {
                    let a = Matrix::random(m, k, float, 1).unwrap();
                    let b = Matrix::random(k, n, float, 2).unwrap();
                    let mut c = match float {
                        Float::F32 => FloatVec::F32(vec![f32::NAN; m * n]),
                        Float::F64 => FloatVec::F64(vec![f64::NAN; m * n]),
                    };
                    device
                        .matmul(&a.data, &b.data, &mut c, (m, n, k), 1, None)
                        .unwrap_or_else(|e| panic!("{tiles:?}: {e}"));
                    let c = Matrix::new(m, n, c).unwrap();
                    let worst = worst_error_ratio(&a, &b, &c);
                    assert!(worst <= 1.0, "{tiles:?} {float} {m}x{n}x{k}: {worst}");
                }
            }
        }
        FORCE_TILES.with(|t| t.set(None));
    }

    #[test]
    fn a_tile_the_kernel_leaves_unwritten_fails_verification() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let (m, n, k) = (130, 129, 37);
        let a = Matrix::random(m, k, Float::F32, 1).unwrap();
        let b = Matrix::random(k, n, Float::F32, 2).unwrap();
        let product = |drop_last_group: bool| {
            DROP_LAST_GROUP.with(|d| d.set(drop_last_group));
            let mut c = FloatVec::F32(vec![f32::NAN; m * n]);
            let run = device.matmul(&a.data, &b.data, &mut c, (m, n, k), 1, None);
            DROP_LAST_GROUP.with(|d| d.set(false));
            run.unwrap();
            worst_error_ratio(&a, &b, &Matrix::new(m, n, c).unwrap())
        };
        // A whole product first, whose C the device may hand out again: the
        // caller's NaN must reach the device, or the gap keeps its right values.
        assert!(product(false) <= 1.0);
        let worst = product(true);
        assert!(worst.is_nan(), "an unwritten tile passed: {worst}");
    }
}
