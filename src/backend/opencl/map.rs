//! `map` on OpenCL: kernels/common/map.h over the input in chunks no larger than
//! the device's largest buffer: write a chunk, run the kernel, read the result
//! back into its place. The time reported as the kernel's is the kernels' alone
//! (profiling counters), the transfers not included.

use super::program::BuildOptions;
use super::session::{Arg, Element, Session};
use crate::dtype::FloatVec;
use crate::error::Result;
use crate::workloads::map::{MapFn, MapTiming};

/// `output[i] = function(input[i])` (same type and length, checked by `map`).
pub(super) fn run(
    session: &Session<'_>,
    function: MapFn,
    input: &FloatVec,
    output: &mut FloatVec,
) -> Result<MapTiming> {
    let kernel_s = match (input, output) {
        (FloatVec::F32(x), FloatVec::F32(y)) => run_typed(session, function, x, y)?,
        (FloatVec::F64(x), FloatVec::F64(y)) => {
            session.require_fp64(&format!("map {function} in double precision"))?;
            run_typed(session, function, x, y)?
        }
        // `workloads::map::map` checks the types match before any backend runs.
        _ => unreachable!("map: input and output types differ"),
    };
    Ok(MapTiming { kernel_s })
}

/// Maps `x` into `y` chunk by chunk; returns the kernels' seconds.
fn run_typed<T: Element>(
    session: &Session<'_>,
    function: MapFn,
    x: &[T],
    y: &mut [T],
) -> Result<f64> {
    if x.is_empty() {
        return Ok(0.0);
    }
    let options = BuildOptions::new().scalar(T::SCALAR);
    let launch = session.kernel(&options, &format!("gc_map_{}", T::SCALAR.suffix()))?;
    let chunk = x.len().min(session.chunk_elements::<T>(2)).max(1);
    let input = session.buffer::<T>("map's input chunk", chunk)?;
    let output = session.buffer::<T>("map's output chunk", chunk)?;
    let mut seconds = 0.0;
    for (x, y) in x.chunks(chunk).zip(y.chunks_mut(chunk)) {
        session.write(&input, 0, x)?;
        let n = x.len() as u64;
        // gc_map_T(const T *x, T *y, ulong n, uint code)
        let args = [
            Arg::Mem(&input),
            Arg::Mem(&output),
            Arg::U64(n),
            Arg::U32(function.code()),
        ];
        seconds += launch.run(session, &args, launch.groups_for(n))?;
        session.read(&output, 0, y)?;
    }
    Ok(seconds)
}
