//! Shared by the integration tests: where the `gpucalc` binary is.

use std::path::PathBuf;
use std::process::Command;

/// The binary under test: `GPUCALC_BIN` if set (test executables copied to a
/// machine without Rust, as `scripts/gpu-bundle.sh` does), else cargo's build.
pub fn bin() -> PathBuf {
    std::env::var_os("GPUCALC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gpucalc")))
}

/// A command for the binary with `GPUCALC_DEVICE` cleared.
#[allow(dead_code)] // not every test file uses it
pub fn gpucalc() -> Command {
    let mut command = Command::new(bin());
    command.env_remove("GPUCALC_DEVICE");
    command
}
