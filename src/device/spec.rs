//! `DeviceSpec`: the text a user writes after `--device`, parsed and printed.

use std::fmt;
use std::str::FromStr;

use crate::error::{BackendKind, Error};

/// Where work should run, as written after `--device` or in `GPUCALC_DEVICE`.
///
/// ```
/// use gpucalc::DeviceSpec;
///
/// let spec: DeviceSpec = "cuda:1".parse().unwrap();
/// assert_eq!(spec, DeviceSpec::Cuda(Some(1)));
/// assert_eq!(spec.to_string(), "cuda:1");
/// assert!("quantum".parse::<DeviceSpec>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    /// CUDA if there is a CUDA device, else an OpenCL GPU or accelerator, else the CPU.
    #[default]
    Auto,
    /// The rayon CPU path.
    Cpu,
    /// A CUDA device: the first one, or the one at this index.
    Cuda(Option<usize>),
    /// An OpenCL device: the first GPU or accelerator (else the first device),
    /// or the one at this index in the `gpucalc devices` list.
    OpenCl(Option<usize>),
    /// Every device this build can see: `gpucalc bench` on each in turn, `gpucalc pi`
    /// on all at once ([`crate::pi_on`]); no single device.
    All,
}

impl DeviceSpec {
    /// The backend this spec names, or `None` for `auto`.
    pub fn backend(self) -> Option<BackendKind> {
        match self {
            DeviceSpec::Auto | DeviceSpec::All => None,
            DeviceSpec::Cpu => Some(BackendKind::Cpu),
            DeviceSpec::Cuda(_) => Some(BackendKind::Cuda),
            DeviceSpec::OpenCl(_) => Some(BackendKind::OpenCl),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidSpec {
            spec: text.to_string(),
        };
        let lower = text.trim().to_ascii_lowercase();
        let (name, index) = match lower.split_once(':') {
            Some((name, index)) => {
                let index: usize = index.parse().map_err(|_| invalid())?;
                (name, Some(index))
            }
            None => (lower.as_str(), None),
        };
        match (name, index) {
            ("auto", None) => Ok(DeviceSpec::Auto),
            ("all", None) => Ok(DeviceSpec::All),
            ("cpu", None | Some(0)) => Ok(DeviceSpec::Cpu),
            ("cuda", index) => Ok(DeviceSpec::Cuda(index)),
            ("opencl" | "ocl", index) => Ok(DeviceSpec::OpenCl(index)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::All => f.write_str("all"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(None) => f.write_str("cuda"),
            DeviceSpec::Cuda(Some(i)) => write!(f, "cuda:{i}"),
            DeviceSpec::OpenCl(None) => f.write_str("opencl"),
            DeviceSpec::OpenCl(Some(i)) => write!(f, "opencl:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_round_trips() {
        for (text, spec) in [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(None)),
            ("cuda:3", DeviceSpec::Cuda(Some(3))),
            ("opencl", DeviceSpec::OpenCl(None)),
            ("opencl:0", DeviceSpec::OpenCl(Some(0))),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec);
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            "CUDA:1".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Cuda(Some(1))
        );
    }

    #[test]
    fn rejects_malformed_specs() {
        for bad in [
            "", "gpu", "quantum", "cuda:", "cuda:-1", "cuda:x", "cpu:1", "auto:0", "cuda:1:2",
        ] {
            let err = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(matches!(err, Error::InvalidSpec { .. }), "{bad}: {err}");
        }
    }
}
