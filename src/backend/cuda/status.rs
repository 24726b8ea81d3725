//! CUDA driver result codes in words, and the check that turns a code into a result.
//!
//! cust's own `Display` for its error asks the driver for the text
//! (`cuGetErrorString`), which fails, and makes formatting panic, exactly when
//! the driver is missing or a stub. So the names and messages live here.

use std::fmt;
use std::os::raw::c_int;
use std::sync::OnceLock;

use super::sys::{CuResult, CUDA_SUCCESS};
use crate::error::{BackendKind, Error};

/// A failed driver call: the `CUresult` it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DriverError(pub(crate) c_int);

/// `Ok` for `CUDA_SUCCESS`, the code otherwise.
pub(crate) fn check(code: CuResult) -> Result<(), DriverError> {
    if code == CUDA_SUCCESS {
        Ok(())
    } else {
        Err(DriverError(code))
    }
}

/// The codes gpucalc can meet, with the driver's name and a message in words.
#[rustfmt::skip] // one code per line: a table
const CODES: &[(c_int, &str, &str)] = &[
    (1, "CUDA_ERROR_INVALID_VALUE", "an argument is out of range"),
    (2, "CUDA_ERROR_OUT_OF_MEMORY", "out of device memory"),
    (3, "CUDA_ERROR_NOT_INITIALIZED", "the driver is not initialized"),
    (4, "CUDA_ERROR_DEINITIALIZED", "the driver is shutting down"),
    (34, "CUDA_ERROR_STUB_LIBRARY", "the libcuda that was loaded is a stub, not an NVIDIA driver"),
    (35, "CUDA_ERROR_INSUFFICIENT_DRIVER", "the NVIDIA driver is too old"),
    (36, "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER", "this call needs a newer NVIDIA driver"),
    (46, "CUDA_ERROR_DEVICE_UNAVAILABLE", "the GPU is busy or unavailable (exclusive-process mode, or in use by another program)"),
    (100, "CUDA_ERROR_NO_DEVICE", "the driver sees no CUDA-capable GPU"),
    (101, "CUDA_ERROR_INVALID_DEVICE", "no GPU has this index"),
    (102, "CUDA_ERROR_DEVICE_NOT_LICENSED", "the GPU is not licensed for this use"),
    (200, "CUDA_ERROR_INVALID_IMAGE", "the kernel image is not valid"),
    (201, "CUDA_ERROR_INVALID_CONTEXT", "no valid CUDA context is current"),
    (209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "the kernels hold no code this GPU can run"),
    (214, "CUDA_ERROR_ECC_UNCORRECTABLE", "the GPU reported an uncorrectable ECC memory error"),
    (218, "CUDA_ERROR_INVALID_PTX", "the driver could not compile the kernels' PTX"),
    (219, "CUDA_ERROR_INVALID_GRAPHICS_CONTEXT", "invalid graphics context"),
    (220, "CUDA_ERROR_NVLINK_UNCORRECTABLE", "uncorrectable NVLink error"),
    (221, "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", "the driver's PTX compiler library is missing"),
    (222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "the kernels' PTX is newer than this driver supports"),
    (223, "CUDA_ERROR_JIT_COMPILATION_DISABLED", "PTX compilation by the driver is disabled"),
    (300, "CUDA_ERROR_INVALID_SOURCE", "the kernel source is not valid"),
    (301, "CUDA_ERROR_FILE_NOT_FOUND", "file not found"),
    (302, "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND", "a shared-object symbol is missing"),
    (303, "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED", "a shared object failed to initialize"),
    (304, "CUDA_ERROR_OPERATING_SYSTEM", "an operating-system call failed"),
    (400, "CUDA_ERROR_INVALID_HANDLE", "a handle is not valid"),
    (401, "CUDA_ERROR_ILLEGAL_STATE", "the driver is in an illegal state"),
    (500, "CUDA_ERROR_NOT_FOUND", "a named kernel or symbol was not found"),
    (600, "CUDA_ERROR_NOT_READY", "work is still pending"),
    (700, "CUDA_ERROR_ILLEGAL_ADDRESS", "a kernel accessed an illegal memory address"),
    (701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many registers or threads requested for the launch"),
    (702, "CUDA_ERROR_LAUNCH_TIMEOUT", "a kernel ran too long and was stopped by the watchdog"),
    (708, "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE", "the primary context is already active"),
    (709, "CUDA_ERROR_CONTEXT_IS_DESTROYED", "the context was destroyed"),
    (710, "CUDA_ERROR_ASSERT", "a device-side assertion failed"),
    (714, "CUDA_ERROR_HARDWARE_STACK_ERROR", "a kernel overflowed its hardware stack"),
    (715, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "a kernel executed an illegal instruction"),
    (716, "CUDA_ERROR_MISALIGNED_ADDRESS", "a kernel accessed a misaligned address"),
    (717, "CUDA_ERROR_INVALID_ADDRESS_SPACE", "a kernel used an address in the wrong address space"),
    (718, "CUDA_ERROR_INVALID_PC", "a kernel jumped to an invalid program counter"),
    (719, "CUDA_ERROR_LAUNCH_FAILED", "a kernel failed (unspecified launch failure)"),
    (720, "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE", "the cooperative launch is too large"),
    (800, "CUDA_ERROR_NOT_PERMITTED", "the operation is not permitted"),
    (801, "CUDA_ERROR_NOT_SUPPORTED", "the operation is not supported on this GPU"),
    (802, "CUDA_ERROR_SYSTEM_NOT_READY", "the system is not ready (is nvidia-fabricmanager running?)"),
    (803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "the kernel module and libcuda are from different driver versions"),
    (804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE", "the forward-compatibility libcuda does not support this GPU"),
    (805, "CUDA_ERROR_MPS_CONNECTION_FAILED", "cannot connect to the MPS server"),
    (909, "CUDA_ERROR_TIMEOUT", "the operation timed out"),
    (999, "CUDA_ERROR_UNKNOWN", "unknown driver error"),
];

impl DriverError {
    /// `CUDA_ERROR_STUB_LIBRARY`.
    pub(crate) const STUB_LIBRARY: DriverError = DriverError(34);
    /// `CUDA_ERROR_INSUFFICIENT_DRIVER`.
    pub(crate) const INSUFFICIENT_DRIVER: DriverError = DriverError(35);
    /// `CUDA_ERROR_OUT_OF_MEMORY`.
    pub(crate) const OUT_OF_MEMORY: DriverError = DriverError(2);
    /// `CUDA_ERROR_NO_DEVICE`.
    pub(crate) const NO_DEVICE: DriverError = DriverError(100);
    /// `CUDA_ERROR_INVALID_IMAGE`.
    pub(crate) const INVALID_IMAGE: DriverError = DriverError(200);
    /// `CUDA_ERROR_NO_BINARY_FOR_GPU`.
    pub(crate) const NO_BINARY_FOR_GPU: DriverError = DriverError(209);
    /// `CUDA_ERROR_INVALID_PTX`.
    pub(crate) const INVALID_PTX: DriverError = DriverError(218);
    /// `CUDA_ERROR_UNSUPPORTED_PTX_VERSION`.
    pub(crate) const UNSUPPORTED_PTX_VERSION: DriverError = DriverError(222);

    fn entry(self) -> Option<&'static (c_int, &'static str, &'static str)> {
        CODES.iter().find(|(code, _, _)| *code == self.0)
    }

    /// The driver's name for the code, e.g. `CUDA_ERROR_NO_DEVICE`.
    pub(crate) fn name(self) -> &'static str {
        self.entry().map_or("CUDA_ERROR_UNRECOGNIZED", |e| e.1)
    }

    /// The code's meaning in words.
    pub(crate) fn text(self) -> &'static str {
        self.entry()
            .map_or("a code this build of gpucalc does not know", |e| e.2)
    }

    /// This error as a [`crate::Error::Runtime`] from `call`. A fault that
    /// leaves the context unusable also says so, and every later one names
    /// the first (see [`FaultLog`]).
    pub(crate) fn during(self, call: impl Into<String>) -> Error {
        static FAULTS: FaultLog = FaultLog::new();
        let call = call.into();
        let message = FAULTS.describe(self, &call);
        Error::Runtime {
            backend: BackendKind::Cuda,
            call,
            message,
        }
    }

    /// Whether the code leaves the context unusable: a kernel's fault (or a
    /// kernel stopped by the watchdog), after which every call on that
    /// context in this process returns an error.
    fn is_sticky(self) -> bool {
        matches!(self.0, 700 | 702 | 710 | 714..=719)
    }
}

/// The first fault that left a context unusable in this process. A fault is
/// reported by whichever call next waits on the GPU, and then every later
/// call on that GPU fails with the same code: tests running side by side, the
/// later rows of `bench`. So the first report says the GPU's work is over,
/// and each later fault names that first one, the one to look into. (The log
/// is the process's, not each GPU's: with several GPUs, a later fault on
/// another one names the first as earlier, not as its cause.)
pub(crate) struct FaultLog(OnceLock<String>);

impl FaultLog {
    pub(crate) const fn new() -> FaultLog {
        FaultLog(OnceLock::new())
    }

    /// The message for `error` from `call`, noting the first fault.
    pub(crate) fn describe(&self, error: DriverError, call: &str) -> String {
        if !error.is_sticky() {
            return error.to_string();
        }
        let mut first = false;
        let earliest = self.0.get_or_init(|| {
            first = true;
            format!("{call}: {}", error.name())
        });
        if first {
            format!(
                "{error}; the GPU's context is lost, so later CUDA work on it in this \
                 process fails too"
            )
        } else {
            format!("{error}; after an earlier fault in this process ({earliest})")
        }
    }
}

impl fmt::Display for DriverError {
    /// `CUDA_ERROR_NO_DEVICE (100): the driver sees no CUDA-capable GPU`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.0, self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_sorted() {
        for pair in CODES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} then {}", pair[0].1, pair[1].1);
        }
    }

    #[test]
    fn known_and_unknown_codes_format_without_the_driver() {
        assert_eq!(check(0), Ok(()));
        assert_eq!(
            DriverError::STUB_LIBRARY.to_string(),
            "CUDA_ERROR_STUB_LIBRARY (34): the libcuda that was loaded is a stub, not an NVIDIA driver"
        );
        assert_eq!(
            DriverError::UNSUPPORTED_PTX_VERSION.name(),
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
        );
        let odd = DriverError(12345).to_string();
        assert!(odd.starts_with("CUDA_ERROR_UNRECOGNIZED (12345)"), "{odd}");
        let e = DriverError(2).during("cuMemAlloc");
        assert_eq!(
            e.to_string(),
            "CUDA error in cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (2): out of device memory"
        );
    }

    #[test]
    fn a_lost_context_is_reported_once_and_named_by_later_errors() {
        let log = FaultLog::new();
        assert_eq!(
            log.describe(DriverError(2), "cuMemAlloc"),
            "CUDA_ERROR_OUT_OF_MEMORY (2): out of device memory"
        );
        assert_eq!(
            log.describe(
                DriverError(716),
                "kernel gc_gemm_f32_l (grid 64 x block 256)"
            ),
            "CUDA_ERROR_MISALIGNED_ADDRESS (716): a kernel accessed a misaligned address; \
             the GPU's context is lost, so later CUDA work on it in this process fails too"
        );
        assert_eq!(
            log.describe(DriverError(716), "cuMemcpyDtoHAsync"),
            "CUDA_ERROR_MISALIGNED_ADDRESS (716): a kernel accessed a misaligned address; \
             after an earlier fault in this process (kernel gc_gemm_f32_l (grid 64 x block 256): \
             CUDA_ERROR_MISALIGNED_ADDRESS)"
        );
        // Codes that leave the context usable say nothing of it.
        assert!(!log.describe(DriverError(1), "x").contains("earlier"));
        assert!(DriverError(719).is_sticky() && !DriverError(999).is_sticky());
    }
}
