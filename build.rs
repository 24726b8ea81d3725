//! Build script: compiles the CUDA kernels with nvcc when the `cuda` feature is on.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
