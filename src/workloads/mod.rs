//! The workloads: for each, a request, a result, the CPU reference and the dispatch.

pub mod map;
pub mod matmul;
pub mod pi;
pub mod rng;
pub mod rng_out;
pub mod stream;
pub mod transfer;
