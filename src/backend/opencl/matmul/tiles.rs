//! The tile sizes of the OpenCL GEMM: the `GC_GEMM_*` configurations of
//! kernels/common/gemm.h, and which of them a device gets, from its limits.

use ocl::core::ffi;
use ocl::core::DeviceId;

use crate::backend::opencl::platform;
use crate::backend::opencl::program::{BuildOptions, Scalar};
use crate::device::{DeviceInfo, DeviceType};

/// A configuration of the GEMM body: the `GC_GEMM_*` macros of kernels/common/gemm.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tiles {
    /// Rows of C per work-group.
    pub(super) bm: usize,
    /// Columns of C per work-group.
    pub(super) bn: usize,
    /// Depth of the A and B slices staged in local memory per step.
    pub(super) bk: usize,
    /// Rows of C per work-item.
    pub(super) tm: usize,
    /// Columns of C per work-item.
    pub(super) tn: usize,
    /// Elements per vector access.
    pub(super) vw: usize,
}

impl Tiles {
    pub(super) const fn new(
        bm: usize,
        bn: usize,
        bk: usize,
        tm: usize,
        tn: usize,
        vw: usize,
    ) -> Tiles {
        Tiles {
            bm,
            bn,
            bk,
            tm,
            tn,
            vw,
        }
    }

    /// Work-items per group.
    pub(super) fn group_size(&self) -> usize {
        (self.bm / self.tm) * (self.bn / self.tn)
    }

    /// Local memory the kernel declares: two k-major A tiles (rows padded by
    /// `vw`) and two B tiles, of `element` bytes each.
    pub(super) fn local_bytes(&self, element: usize) -> u64 {
        (2 * self.bk * (self.bm + self.vw + self.bn) * element) as u64
    }

    /// Whether gemm.h accepts these sizes (its `#error` conditions).
    pub(super) fn valid(&self) -> bool {
        let nt = self.group_size();
        [self.tm, self.tn, self.vw, self.bk, nt]
            .iter()
            .all(|&x| x > 0)
            && self.bm.is_multiple_of(self.tm)
            && self.bn.is_multiple_of(self.tn)
            && self.tm.is_multiple_of(self.vw)
            && self.tn.is_multiple_of(self.vw)
            && self.bk.is_multiple_of(self.vw)
            && (self.bm * self.bk / self.vw).is_multiple_of(nt)
            && (self.bk * self.bn / self.vw).is_multiple_of(nt)
            && self.bm * self.bk / self.vw >= nt
            && self.bk * self.bn / self.vw >= nt
            && nt <= 1024
    }

    /// The build options that instantiate the kernel `gc_gemm_<T>_cl`.
    pub(super) fn options(&self, scalar: Scalar) -> BuildOptions {
        BuildOptions::new()
            .scalar(scalar)
            .define("GC_GEMM_CFG", "cl")
            .define("GC_GEMM_BM", self.bm)
            .define("GC_GEMM_BN", self.bn)
            .define("GC_GEMM_BK", self.bk)
            .define("GC_GEMM_TM", self.tm)
            .define("GC_GEMM_TN", self.tn)
            .define("GC_GEMM_VW", self.vw)
    }

    /// Work-groups for an m×n product: one per tile of C.
    pub(super) fn groups(&self, m: usize, n: usize) -> u64 {
        m.div_ceil(self.bm) as u64 * n.div_ceil(self.bn) as u64
    }
}

/// What the tile choice depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// CPU, GPU or accelerator.
    pub(super) kind: DeviceType,
    /// Compute units.
    pub(super) units: u32,
    /// `CL_DEVICE_LOCAL_MEM_SIZE`.
    pub(super) local_bytes: u64,
    /// The largest 1-D work-group (`CL_DEVICE_MAX_WORK_GROUP_SIZE`, `..._ITEM_SIZES[0]`).
    pub(super) max_group: usize,
}

#[cfg(test)]
impl Limits {
    /// A GPU's limits, for tests.
    pub(super) fn gpu(local_bytes: u64, max_group: usize, units: u32) -> Limits {
        Limits {
            kind: DeviceType::Gpu,
            units,
            local_bytes,
            max_group,
        }
    }
}

/// Tile configurations in order of preference for an m×n product of
/// `element`-byte values on a device with `limits`; every one of them fits the
/// device's local memory and work-group size. The caller takes the first whose
/// built kernel accepts its group size.
///
/// - GPUs: 128×128 tiles with 8×8 per work-item (256 work-items, 16-byte
///   vectors) where local memory and work-group size allow and the product
///   has a tile for every compute unit; 64×64 with 4×4 for smaller products,
///   then smaller groups for devices with tight limits.
/// - CPUs (PoCL and the like): 64×64 tiles, 8×8 per work-item (64 work-items)
///   in vectors of 4, k steps of 32, then smaller ones. PoCL runs a work-group as
///   loops over its work-items between barriers; explicit vectors, a large
///   register tile and few, long steps between barriers suit it best (see the
///   performance note of the `matmul` module).
pub(super) fn candidates(limits: &Limits, element: usize, m: usize, n: usize) -> Vec<Tiles> {
    let vw = 16 / element; // 4 floats or 2 doubles: 16-byte accesses
    let list: Vec<Tiles> = match limits.kind {
        DeviceType::Cpu => vec![
            Tiles::new(64, 64, 32, 8, 8, 4),
            Tiles::new(64, 64, 16, 4, 4, 4),
            Tiles::new(32, 32, 16, 4, 4, 4),
            Tiles::new(16, 16, 16, 4, 4, 1),
            Tiles::new(4, 4, 4, 4, 4, 1),
        ],
        _ => {
            let large = Tiles::new(128, 128, 8, 8, 8, vw);
            let mut list = Vec::new();
            if large.groups(m, n) >= u64::from(limits.units.max(1)) {
                list.push(large);
            }
            list.extend([
                Tiles::new(64, 64, 16, 4, 4, vw),
                Tiles::new(64, 64, 8, 8, 8, vw),
                Tiles::new(32, 32, 8, 4, 4, vw),
                Tiles::new(16, 16, 8, 4, 4, 1),
                Tiles::new(4, 4, 4, 4, 4, 1),
            ]);
            list
        }
    };
    list.into_iter()
        .filter(|t| {
            t.valid()
                && t.group_size() <= limits.max_group
                && t.local_bytes(element) <= limits.local_bytes
        })
        .collect()
}

/// The device's limits that the tile choice reads.
pub(super) fn limits(device: DeviceId, info: &DeviceInfo) -> Limits {
    Limits {
        kind: info.device_type,
        units: info.compute_units,
        local_bytes: platform::device_uint(device, ffi::CL_DEVICE_LOCAL_MEM_SIZE)
            .unwrap_or(16 << 10),
        // Work-group size and dimension 0 of the item sizes, read as the platform layer does.
        max_group: platform::group_limit(device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_candidate_is_valid_and_fits() {
        for limits in [
            Limits::gpu(48 << 10, 1024, 108),
            Limits::gpu(32 << 10, 256, 24),
            Limits::gpu(16 << 10, 64, 4),
            Limits::gpu(4 << 10, 16, 1),
            Limits {
                kind: DeviceType::Cpu,
                units: 2,
                local_bytes: 2 << 20,
                max_group: 4096,
            },
        ] {
            for element in [4, 8] {
                let list = candidates(&limits, element, 4096, 4096);
                assert!(!list.is_empty(), "{limits:?}");
                for t in list {
                    assert!(t.valid(), "{t:?}");
                    assert!(t.group_size() <= limits.max_group, "{t:?} {limits:?}");
                    assert!(t.local_bytes(element) <= limits.local_bytes, "{t:?}");
                }
            }
        }
    }

    #[test]
    fn big_gpus_get_big_tiles_for_big_products_only() {
        let big = Limits::gpu(48 << 10, 1024, 108);
        let large = Tiles::new(128, 128, 8, 8, 8, 4);
        assert_eq!(candidates(&big, 4, 4096, 4096)[0], large);
        assert_eq!(candidates(&big, 8, 4096, 4096)[0].bm, 128);
        assert_eq!(candidates(&big, 8, 4096, 4096)[0].vw, 2);
        // 100x100 is one big tile for 108 units: smaller tiles instead.
        assert_eq!(candidates(&big, 4, 100, 100)[0].bm, 64);
        // 32 KiB of local memory holds the big f32 tiles but not the f64 ones.
        let small_local = Limits::gpu(32 << 10, 1024, 8);
        assert_eq!(candidates(&small_local, 4, 4096, 4096)[0], large);
        assert_ne!(candidates(&small_local, 8, 4096, 4096)[0].bm, 128);
        // A device with groups of at most 64 work-items.
        assert!(candidates(&Limits::gpu(16 << 10, 64, 4), 4, 4096, 4096)
            .iter()
            .all(|t| t.group_size() <= 64));
    }

    #[test]
    fn options_name_the_kernel_and_the_tiles() {
        let t = Tiles::new(64, 32, 8, 4, 2, 2);
        assert_eq!(
            t.options(Scalar::F64).flags(),
            "-DT=double -DGC_SFX=f64 -DGC_FP64=1 -DGC_GEMM_CFG=cl -DGC_GEMM_BM=64 \
             -DGC_GEMM_BN=32 -DGC_GEMM_BK=8 -DGC_GEMM_TM=4 -DGC_GEMM_TN=2 -DGC_GEMM_VW=2"
        );
        assert_eq!(t.group_size(), 16 * 16);
        assert_eq!(t.groups(65, 33), 2 * 2);
    }
}
