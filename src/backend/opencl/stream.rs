//! `stream` on OpenCL: BabelStream's loop over three device buffers, every kernel
//! call timed by the device's profiling counters and finished before the next.
//!
//! The kernels are kernels/common/stream.h (grid-stride loops), built for the
//! element type; each is launched with the work-group size and group count the
//! device and kernel allow (`Session::kernel`). `dot` leaves one partial sum per
//! work-group, which the host reads after the last iteration and adds pairwise
//! in f64; the arrays are read back whole for verification.
//!
//! Performance note (a measurement, not a test). PoCL 3.1 on the 2-core AVX-512
//! Xeon of the development machine, release build, quiet machine, f64 and 2^25
//! elements: `gpucalc --device opencl stream -n 20` copy 25.0, mul 23.9, add
//! 28.1, triad 28.1, dot 20.3 GB/s, against 31.9, 28.0, 31.6, 31.6, 28.7 GB/s for
//! `--device cpu` in the same minute. PoCL runs these kernels one work-item at a
//! time (it vectorises across work-items only around loops whose trip count is
//! the same for all; that form of stream.h measured slower here). A grid that
//! only fills the device (8 groups of 1024) gave 1.6 GB/s: see `Shape::groups_for`.
//! Dot with ~16 items per work-item beat 4, 8, 32, 64 and 256 in f32 and f64.

use super::session::{Arg, Element, Launch, Session};
use crate::dtype::{Float, FloatVec};
use crate::error::Result;
use crate::workloads::stream::{StreamRaw, INIT, SCALAR};

/// Runs BabelStream's loop `times` times over arrays of `n` elements of `float`.
pub(super) fn run(
    session: &Session<'_>,
    float: Float,
    n: usize,
    times: usize,
) -> Result<StreamRaw> {
    match float {
        Float::F32 => run_typed::<f32>(session, n, times, FloatVec::F32),
        Float::F64 => {
            session.require_fp64("stream in double precision")?;
            run_typed::<f64>(session, n, times, FloatVec::F64)
        }
    }
}

fn run_typed<T: Element>(
    session: &Session<'_>,
    n: usize,
    times: usize,
    wrap: fn(Vec<T>) -> FloatVec,
) -> Result<StreamRaw> {
    let options = session.options(T::SCALAR);
    let suffix = T::SCALAR.suffix();
    let kernel = |name: &str| session.kernel(&options, &format!("gc_stream_{name}_{suffix}"));
    let (init, copy, mul) = (kernel("init")?, kernel("copy")?, kernel("mul")?);
    let (add, triad, dot) = (kernel("add")?, kernel("triad")?, kernel("dot")?);

    let a = session.buffer::<T>("stream's array a", n)?;
    let b = session.buffer::<T>("stream's array b", n)?;
    let c = session.buffer::<T>("stream's array c", n)?;
    let dot_groups = dot.reduction_groups(n as u64);
    let partials = session.buffer::<T>("stream's buffer of dot partial sums", dot_groups)?;

    let len = Arg::U64(n as u64);
    let s = T::from_f64(SCALAR);
    let [ia, ib, ic] = INIT.map(T::from_f64);
    let (pa, pb, pc, pp) = (
        Arg::Mem(&a),
        Arg::Mem(&b),
        Arg::Mem(&c),
        Arg::Mem(&partials),
    );
    let groups = |launch: &Launch| session.array_groups(launch, n as u64);
    // Init runs `times` times (it is idempotent): its bandwidth is the write bandwidth.
    let init_args = [pa, pb, pc, ia.arg(), ib.arg(), ic.arg(), len];
    let init_times = (0..times)
        // SAFETY: gc_stream_init_T(T *a, T *b, T *c, T ia, T ib, T ic, ulong n): three
        // buffers of n values, three values of T (`arg` keeps T's width), n as ulong.
        .map(|_| unsafe { init.run(session, &init_args, groups(&init)) })
        .collect::<Result<Vec<f64>>>()?;
    // The parameter lists of kernels/common/stream.h, in order, and the groups
    // of each launch; `partials` holds one value per group of `dot`'s.
    let calls: [(&Launch, Vec<Arg<'_>>, usize); 5] = [
        (&copy, vec![pa, pc, len], groups(&copy)),
        (&mul, vec![pb, pc, s.arg(), len], groups(&mul)),
        (&add, vec![pa, pb, pc, len], groups(&add)),
        (&triad, vec![pa, pb, pc, s.arg(), len], groups(&triad)),
        (&dot, vec![pa, pb, pp, len], dot_groups),
    ];
    let mut seconds: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(times));
    for _ in 0..times {
        for ((launch, args, groups), out) in calls.iter().zip(seconds.iter_mut()) {
            // SAFETY: each list is its kernel's parameters in order (stream.h):
            // copy(const T *a, T *c, ulong n), mul(T *b, const T *c, T s, ulong n),
            // add(const T *a, const T *b, T *c, ulong n), triad(T *a, const T *b,
            // const T *c, T s, ulong n), dot(const T *a, const T *b, T *partials,
            // ulong n); the arrays hold n values and `partials` one per group of
            // dot's launch, which has `dot_groups` groups.
            out.push(unsafe { launch.run(session, args, *groups)? });
        }
    }

    let mut sums = vec![T::ZERO; dot_groups];
    session.read(&partials, 0, &mut sums)?;
    let sums: Vec<f64> = sums.iter().map(|x| x.to_f64()).collect();
    let read_all = |buffer| -> Result<FloatVec> {
        let mut host =
            crate::backend::cpu::host_vec(n, T::ZERO, "the host copy of stream's arrays")?;
        session.read(buffer, 0, &mut host)?;
        Ok(wrap(host))
    };
    let work_items = (dot_groups * dot.group_size()) as u64;
    Ok(StreamRaw {
        times: seconds,
        init_times,
        arrays: [read_all(&a)?, read_all(&b)?, read_all(&c)?],
        dot: pairwise_sum(&sums),
        // Each work-item adds ceil(n / work-items) products in sequence, its
        // group adds them as a tree, the host adds the groups' sums as a tree.
        dot_chain: (n as u64).div_ceil(work_items)
            + u64::from(dot.group_size().ilog2())
            + u64::from(dot_groups.next_power_of_two().ilog2()),
    })
}

/// The sum of `values`, added as a balanced tree (at most ceil(log2 len)
/// additions in sequence).
fn pairwise_sum(values: &[f64]) -> f64 {
    match values.len() {
        0 => 0.0,
        1 => values[0],
        len => {
            let (left, right) = values.split_at(len / 2);
            pairwise_sum(left) + pairwise_sum(right)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::opencl::device::open_or_skip;
    use crate::backend::opencl::session::{FORCE_ILP, GROUP_CAP};
    use crate::workloads::map::{map_floats, MapFn};
    use crate::Device;

    #[test]
    fn several_elements_per_work_item_give_the_same_results() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let device = Device::OpenCl(device);
        let floats: &[Float] = if device.info().fp64 {
            &[Float::F32, Float::F64]
        } else {
            &[Float::F32]
        };
        let input = FloatVec::F32((0..10_007).map(|i| i as f32 * 0.37).collect());
        let mut reference = None;
        // 1 is what CPUs build; 4 the GPUs' default (typed.h); 3 leaves tails.
        // Two groups at most: every work-item takes several trips, as on CUDA,
        // whose grid is what fills the GPU.
        // Then no cap: one work-item per GC_ILP elements (Session::array_groups),
        // as an OpenCL GPU launches them, with a short last trip.
        for (cap, ilp) in [(2, 1), (2, 4), (2, 3), (usize::MAX, 4), (usize::MAX, 3)] {
            GROUP_CAP.with(|c| c.set(cap));
            FORCE_ILP.with(|f| f.set(Some(ilp)));
            for n in [1, 5, 100_003] {
                for &float in floats {
                    let result = crate::workloads::stream::stream(&device, float, n, 2).unwrap();
                    assert!(
                        result.verified,
                        "GC_ILP {ilp} cap {cap}, {n} {float}: {result:?}"
                    );
                }
            }
            let mut output = FloatVec::F32(vec![0.0; 10_007]);
            let result = map_floats(&device, MapFn::Sqrt, &input, &mut output, true).unwrap();
            assert_eq!(result.verified, Some(true), "GC_ILP {ilp}");
            match &reference {
                None => reference = Some(output),
                Some(reference) => assert!(output == *reference, "GC_ILP {ilp}"),
            }
        }
        FORCE_ILP.with(|f| f.set(None));
        GROUP_CAP.with(|c| c.set(usize::MAX));
    }

    #[test]
    fn pairwise_sums_add_everything() {
        assert_eq!(pairwise_sum(&[]), 0.0);
        assert_eq!(pairwise_sum(&[2.5]), 2.5);
        let values: Vec<f64> = (1..=1001).map(f64::from).collect();
        assert_eq!(pairwise_sum(&values), 1001.0 * 1002.0 / 2.0);
    }
}
