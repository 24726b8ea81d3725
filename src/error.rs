//! The library's typed error: every fallible gpucalc call returns [`Error`],
//! bar the number parsers ([`parse_count`](crate::parse_count),
//! [`parse_whole`](crate::parse_whole)), whose `String` message is what clap prints.

use std::fmt;

/// Which compute backend an error or a device belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The rayon CPU path, always present.
    Cpu,
    /// NVIDIA GPUs through the CUDA driver API.
    Cuda,
    /// Any OpenCL device (GPUs of every vendor, CPU runtimes such as PoCL).
    #[serde(rename = "opencl")]
    OpenCl,
}

impl BackendKind {
    /// The name used in device specs and output: `cpu`, `cuda`, `opencl`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Cuda => "cuda",
            BackendKind::OpenCl => "opencl",
        }
    }

    /// The human name: `CPU`, `CUDA`, `OpenCL`.
    pub const fn display_name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "CPU",
            BackendKind::Cuda => "CUDA",
            BackendKind::OpenCl => "OpenCL",
        }
    }

    /// The cargo feature that compiles this backend in, if it needs one.
    pub const fn feature(self) -> Option<&'static str> {
        match self {
            BackendKind::Cpu => None,
            BackendKind::Cuda => Some("cuda"),
            BackendKind::OpenCl => Some("opencl"),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in gpucalc. Each variant prints as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend was compiled out of this build.
    #[error(
        "this build has no {} support; rebuild with `--features {}`",
        .0.display_name(),
        .0.feature().unwrap_or("default")
    )]
    BackendDisabled(BackendKind),

    /// A device spec string that is not one of the accepted forms.
    #[error(
        "invalid device spec `{spec}`: expected auto, all, cpu, cuda, cuda:N, opencl or opencl:N"
    )]
    InvalidSpec {
        /// The text that failed to parse.
        spec: String,
    },

    /// The requested device does not exist; `available` lists what does.
    #[error("no device `{spec}`: {available}")]
    NoSuchDevice {
        /// The spec that was asked for.
        spec: String,
        /// The devices that exist, on one line, as the message shows them:
        /// `available: opencl:0 (NVIDIA H100), ...` or `this machine has none`.
        available: String,
    },

    /// The backend exists in this build but cannot run here (no driver, no platform).
    #[error("{} is unavailable: {reason}", .backend.display_name())]
    Unavailable {
        /// Which backend.
        backend: BackendKind,
        /// Why, in one line.
        reason: String,
    },

    /// The backend does not offer this workload (or this variant of it).
    #[error("{workload} is not available on {}", .backend.display_name())]
    Unsupported {
        /// Which backend.
        backend: BackendKind,
        /// Which workload.
        workload: String,
    },

    /// A request that is malformed or out of range.
    #[error("{0}")]
    InvalidArgument(String),

    /// The job does not fit in the device's memory.
    #[error("{what} needs {} but {device} has {}", human_bytes(*.needed), human_bytes(*.available))]
    OutOfMemory {
        /// What was being allocated.
        what: String,
        /// The device's name.
        device: String,
        /// Bytes the job needs.
        needed: u64,
        /// Bytes the device has.
        available: u64,
    },

    /// A call into a GPU runtime failed.
    #[error("{} error in {call}: {message}", .backend.display_name())]
    Runtime {
        /// Which backend.
        backend: BackendKind,
        /// The API call or kernel that failed.
        call: String,
        /// The runtime's error, in words.
        message: String,
    },

    /// One device of a run on several failed (the run stopped there).
    ///
    /// The message ends with `error`'s, so `source()` is `None`: a report
    /// that walks the cause chain (anyhow's `{:#}`) prints it once.
    #[error("{device}: {error}")]
    OnDevice {
        /// The device's spec and name: `cuda:1 (NVIDIA H200)`.
        device: String,
        /// What went wrong on it.
        error: Box<Error>,
    },

    /// Reading or writing a file failed.
    ///
    /// The message ends with `error`'s, so `source()` is `None`: a report
    /// that walks the cause chain prints it once. Match the variant to read
    /// the [`std::io::ErrorKind`].
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// Short for `std::result::Result<T, gpucalc::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a byte count with a binary unit: `1.50 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_backend_says_how_to_fix_it() {
        let msg = Error::BackendDisabled(BackendKind::Cuda).to_string();
        assert_eq!(
            msg,
            "this build has no CUDA support; rebuild with `--features cuda`"
        );
    }

    #[test]
    fn a_cause_is_printed_once_when_the_chain_is_walked() {
        let io = Error::Io {
            path: "normals.npy".to_string(),
            error: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        };
        let on_device = Error::OnDevice {
            device: "cuda:1 (NVIDIA H200)".to_string(),
            error: Box::new(io),
        };
        // anyhow's `{:#}` is the message followed by each `source()`'s.
        let report = format!("{:#}", anyhow::Error::new(on_device));
        assert_eq!(report, "cuda:1 (NVIDIA H200): normals.npy: is a directory");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 29), "1.50 GiB");
    }
}
