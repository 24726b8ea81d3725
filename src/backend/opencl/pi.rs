//! `pi` on OpenCL: the `gc_pi_hits` kernel, its launch shape chosen from the device,
//! and the partial sums it leaves, one per work-group, added up on the host.
//!
//! Performance note (a measurement, not a test). PoCL 3.1 on the 2-core AVX-512
//! Xeon of the development machine, release build, `gpucalc --device opencl pi 1e9`
//! against `gpucalc --device cpu pi 1e9`, run alternately: 1.67e9 against 2.23e9
//! samples/s when the machine was quiet, and 0.65-0.94 of the CPU path's rate in
//! every pair while other builds were running. PoCL vectorises the kernel across
//! work-items (AVX-512, 8 lanes of `vpmuludq`) only because the shared body keeps
//! to three rules: a 64-bit product rather than `mul_hi`, the Philox rounds
//! unrolled, and a grid-stride loop with the same trip count in every work-item.
//! Dropping any one of them costs 4-7x. `POCL_WORK_GROUP_METHOD=cbs` is 4-6x
//! slower than the default (`loopvec`); `POCL_AFFINITY=1` changed nothing.

use ocl::core::{
    ArgVal, CommandQueue, DeviceId, Event, Kernel, KernelWorkGroupInfo, KernelWorkGroupInfoResult,
    Mem,
};

use super::device::{buffer, Target};
use super::platform;
use super::program::BuildOptions;
use super::session::kernel_with_limit;
use super::status::runtime;
use crate::device::{DeviceInfo, DeviceType};
use crate::error::Result;

/// Largest work-group any gpucalc kernel is launched with (`GC_MAX_GROUP_SIZE`
/// in `kernels/common/portable.h`, which sizes the local scratch arrays).
const MAX_GROUP_SIZE: usize = 1024;

/// The `gc_pi_hits` kernel with its launch shape and its partial-sum buffer.
/// A kernel object's arguments are shared state: the device keeps this in a mutex.
pub(super) struct PiLaunch {
    kernel: Kernel,
    pub(super) group_size: usize,
    pub(super) groups: usize,
    partials: Mem,
    host: Vec<u64>,
    /// Most samples per launch: each work-item counts its hits in 32 bits, so it
    /// takes at most 2^30 blocks (2^31 samples, at most 2^31 hits).
    pub(super) max_launch: u64,
}

impl PiLaunch {
    /// Builds the `pi` kernel for `target` and chooses its launch shape ([`launch_shape`]).
    pub(super) fn new(target: &Target<'_>) -> Result<PiLaunch> {
        let program = target.program(&BuildOptions::new())?;
        let (kernel, kernel_limit) = kernel_with_limit(&program, target.device, "gc_pi_hits")?;
        let info = target.info;
        let (group_size, groups) = launch_shape(&kernel, kernel_limit, target.device, info);
        let partials = buffer::<u64>(
            target.context,
            info,
            u64::MAX,
            "the pi partial sums",
            groups,
        )?;
        Ok(PiLaunch {
            kernel,
            group_size,
            groups,
            partials,
            host: vec![0; groups],
            max_launch: ((groups * group_size) as u64) << 31,
        })
    }

    /// Hits among samples `first .. first + count` (`first` even), in as many
    /// launches as the 32-bit per-work-item counts need (one, for any `pi_chunk`).
    pub(super) fn hits(
        &mut self,
        queue: &CommandQueue,
        seed: u64,
        first: u64,
        count: u64,
    ) -> Result<u64> {
        debug_assert!(first.is_multiple_of(2), "pi chunks start on a Philox block");
        let global = self.groups * self.group_size;
        let (mut done, mut hits) = (0u64, 0u64);
        while done < count {
            let n = (self.max_launch & !1).max(2).min(count - done);
            let start = first + done;
            let args = [
                ArgVal::scalar(&seed),
                ArgVal::scalar(&start),
                ArgVal::scalar(&n),
                ArgVal::mem(&self.partials),
            ];
            for (i, arg) in args.into_iter().enumerate() {
                ocl::core::set_kernel_arg(&self.kernel, i as u32, arg)
                    .map_err(|e| runtime("clSetKernelArg(gc_pi_hits)", &e))?;
            }
            // SAFETY: every argument is set above; the launch is one-dimensional with a
            // global size that is a multiple of the local size, which the kernel and
            // device accept; `partials` holds one value per group.
            unsafe {
                ocl::core::enqueue_kernel(
                    queue,
                    &self.kernel,
                    1,
                    None,
                    &[global, 1, 1],
                    Some([self.group_size, 1, 1]),
                    None::<&Event>,
                    None::<&mut Event>,
                )
            }
            .map_err(|e| runtime("clEnqueueNDRangeKernel(gc_pi_hits)", &e))?;
            // SAFETY: a blocking read of `groups` u64 values into a host slice of that
            // length; the buffer holds exactly that many.
            unsafe {
                ocl::core::enqueue_read_buffer(
                    queue,
                    &self.partials,
                    true,
                    0,
                    self.host.as_mut_slice(),
                    None::<&Event>,
                    None::<&mut Event>,
                )
            }
            .map_err(|e| runtime("reading the pi partial sums", &e))?;
            hits += self.host.iter().sum::<u64>();
            done += n;
        }
        Ok(hits)
    }
}

/// Samples per `pi_hits` call: tens of milliseconds of work, from about 1e9
/// samples/s per CPU core and several times that per GPU compute unit.
pub(super) fn chunk(info: &DeviceInfo) -> u64 {
    let per_unit: u64 = match info.device_type {
        DeviceType::Cpu => 1 << 24,
        _ => 1 << 25,
    };
    u64::from(info.compute_units.max(1)) * per_unit
}

/// A kernel's launch shape on device `id`: its work-group size ([`choose_group_size`],
/// within `kernel_limit` and the device's own limit) and the number of groups that
/// fills the device ([`choose_groups`]).
pub(super) fn launch_shape(
    kernel: &Kernel,
    kernel_limit: usize,
    id: DeviceId,
    info: &DeviceInfo,
) -> (usize, usize) {
    let multiple = match ocl::core::get_kernel_work_group_info(
        kernel,
        id,
        KernelWorkGroupInfo::PreferredWorkGroupSizeMultiple,
    ) {
        Ok(KernelWorkGroupInfoResult::PreferredWorkGroupSizeMultiple(m)) => m,
        _ => 1,
    };
    let limit = kernel_limit.min(platform::group_limit(id));
    let group_size = choose_group_size(limit, multiple, info.device_type);
    (
        group_size,
        choose_groups(info.device_type, info.compute_units, group_size),
    )
}

/// The work-group size for a kernel: a power of two, at most what the kernel and
/// device allow and [`MAX_GROUP_SIZE`], aiming at 256 work-items on GPUs (room for
/// several groups per compute unit) and the whole allowance on CPUs, where each
/// group runs as one vectorised loop; never below the preferred multiple if allowed.
pub(super) fn choose_group_size(
    limit: usize,
    preferred_multiple: usize,
    kind: DeviceType,
) -> usize {
    let target = match kind {
        DeviceType::Cpu => MAX_GROUP_SIZE,
        _ => 256.max(preferred_multiple),
    };
    let cap = limit.min(MAX_GROUP_SIZE).min(target).max(1);
    // The largest power of two not above `cap`.
    1 << (usize::BITS - 1 - cap.leading_zeros())
}

/// Groups per launch: enough to fill every compute unit several times over.
pub(super) fn choose_groups(kind: DeviceType, compute_units: u32, group_size: usize) -> usize {
    let units = compute_units.max(1) as usize;
    match kind {
        // Each CPU thread takes whole groups: a few per thread balances the load.
        DeviceType::Cpu => units * 4,
        // About 2048 resident work-items per compute unit.
        _ => units * (2048 / group_size).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::reference_hits;
    use crate::backend::opencl::device::open_or_skip;
    use crate::backend::Backend;

    #[test]
    fn group_sizes_are_powers_of_two_within_limits() {
        assert_eq!(choose_group_size(4096, 8, DeviceType::Cpu), 1024);
        assert_eq!(choose_group_size(1024, 32, DeviceType::Gpu), 256);
        assert_eq!(choose_group_size(1024, 512, DeviceType::Gpu), 512);
        assert_eq!(choose_group_size(200, 32, DeviceType::Gpu), 128);
        assert_eq!(choose_group_size(0, 1, DeviceType::Accelerator), 1);
        assert_eq!(choose_groups(DeviceType::Cpu, 2, 1024), 8);
        assert_eq!(choose_groups(DeviceType::Gpu, 132, 256), 1056);
    }

    #[test]
    fn hits_at_any_offset_match_the_reference() {
        let Some(device) = open_or_skip() else {
            return;
        };
        // Blocks 2^32 - 5 .. 2^32 + 40 cross the change of counter word 1.
        let straddle = 2 * ((1u64 << 32) - 5);
        let ranges = [
            (0, 1),
            (0, 2),
            (0, 3),
            (2, 1),
            (10, 999),
            (4096, 65_537),
            (straddle, 90),
            (1 << 40, 1001),
            ((1 << 62) + 2, 77),
        ];
        for seed in [0u64, 42, (1 << 32) | 7, u64::MAX] {
            for (first, count) in ranges {
                assert_eq!(
                    device.pi_hits(seed, first, count).unwrap(),
                    reference_hits(seed, first, count),
                    "seed {seed} first {first} count {count}"
                );
            }
        }
    }

    #[test]
    fn work_split_over_many_launches_counts_the_same() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let whole = device.pi_hits(9, 2, 123_457).unwrap();
        device.pi_launch().max_launch = 1000;
        assert_eq!(device.pi_hits(9, 2, 123_457).unwrap(), whole);
        assert_eq!(whole, reference_hits(9, 2, 123_457));
    }
}
