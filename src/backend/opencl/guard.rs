//! Panics inside the `ocl` crates, turned into one-line errors at the
//! backend's edge.
//!
//! ocl-core panics where it meets an OpenCL status code it does not know
//! (`ApiError::new`, `Status::from_i32(..).unwrap()`), and drivers do return
//! such codes: NVIDIA's OpenCL answers -9999 after a kernel fault. gpucalc
//! promises a one-line error instead of a panic, so every `Backend` call of
//! the OpenCL device runs inside [`guarded`], and while one does, panics
//! raised in ocl's own source files are not printed by the panic hook (their
//! message becomes the error's). Any other panic (a bug of gpucalc's) goes on
//! unwinding as it would have.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{BackendKind, Error, Result};

thread_local! {
    /// How many [`guarded`] calls this thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Set by the panic hook when a guarded panic was raised in ocl's sources.
    static OCL_PANICKED: Cell<bool> = const { Cell::new(false) };
}

/// Whether a panic at `file` comes from the ocl crates' sources.
fn in_ocl(file: &str) -> bool {
    file.contains("/ocl-core-") || file.contains("/ocl-0.")
}

/// Wraps the panic hook, once: ocl's panics inside a [`guarded`] call are
/// reported as errors there instead of printed here.
fn quiet_ocl_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let guarded = DEPTH.with(Cell::get) > 0;
            if guarded && info.location().is_some_and(|l| in_ocl(l.file())) {
                OCL_PANICKED.with(|p| p.set(true));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` (the OpenCL work of `call`), returning an error where ocl panics.
pub(super) fn guarded<R>(call: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    quiet_ocl_panics();
    OCL_PANICKED.with(|p| p.set(false));
    DEPTH.with(|d| d.set(d.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    outcome.unwrap_or_else(|payload| {
        if !OCL_PANICKED.with(|p| p.replace(false)) {
            panic::resume_unwind(payload);
        }
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("the ocl crate panicked");
        Err(Error::Runtime {
            backend: BackendKind::OpenCl,
            call: call.to_string(),
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocl_panics_become_one_line_errors_and_results_pass_through() {
        assert_eq!(guarded("nothing", || Ok(7)).unwrap(), 7);
        let err = guarded::<()>("clFinish", || {
            // What the hook records for a panic raised in ocl's sources.
            OCL_PANICKED.with(|p| p.set(true));
            panic!("ocl_core::Error::err_status: Invalid error code: '-9999'.\n Aborting.")
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("clFinish") && err.contains("-9999"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert_eq!(DEPTH.with(Cell::get), 0);
    }

    #[test]
    fn other_panics_keep_unwinding() {
        let outcome = panic::catch_unwind(|| guarded::<()>("map", || panic!("a bug of ours")));
        let payload = outcome.expect_err("the panic is not turned into an error");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"a bug of ours"));
        assert_eq!(DEPTH.with(Cell::get), 0);
    }

    #[test]
    fn only_ocl_sources_are_quieted() {
        assert!(in_ocl(
            "/root/.cargo/registry/src/x/ocl-core-0.11.5/src/functions.rs"
        ));
        assert!(in_ocl(
            "/home/u/.cargo/registry/src/x/ocl-0.19.7/src/standard/event.rs"
        ));
        assert!(!in_ocl("src/backend/opencl/device.rs"));
    }
}
