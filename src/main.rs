//! The `gpucalc` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    gpucalc::cli::main()
}
