//! The OpenCL C sources, embedded in the binary, assembled and built at run time.
//!
//! `kernels/opencl/gpucalc.cl` and the headers it includes from `kernels/common/`
//! are compiled into the binary with `include_str!`; their `#include "..."` lines
//! are resolved here, against those embedded files only (with `#line` markers so
//! that build logs name the real files), so nothing is read from disk at run time.
//! Types and switches reach the kernels as build options (`-DT=float`), and each
//! set of options is built once per device (see `OpenClDevice::program`).

use std::ffi::CString;
use std::ptr;

use ocl::core::ffi;
use ocl::core::{
    ClDeviceIdPtr, Context, DeviceId, Program, ProgramBuildInfo, ProgramBuildInfoResult,
};

use super::status::{runtime, status_name};
use crate::device::DeviceInfo;
use crate::error::{BackendKind, Error, Result};

/// The entry-point file, by its path under `kernels/`.
const MAIN: (&str, &str) = (
    "opencl/gpucalc.cl",
    include_str!("../../../kernels/opencl/gpucalc.cl"),
);

/// Every file an `#include` may name, by its path under `kernels/`.
const HEADERS: [(&str, &str); 3] = [
    (
        "common/portable.h",
        include_str!("../../../kernels/common/portable.h"),
    ),
    (
        "common/philox.h",
        include_str!("../../../kernels/common/philox.h"),
    ),
    ("common/pi.h", include_str!("../../../kernels/common/pi.h")),
];

/// The element type a kernel is instantiated for, passed as `-DT=<type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(dead_code)] // pi has no element type; the array workloads (stream, map, gemm) do
pub(crate) enum Scalar {
    /// `float`
    F32,
    /// `double`: needs `cl_khr_fp64`.
    F64,
    /// `uint`
    U32,
    /// `ulong`
    U64,
}

impl Scalar {
    /// The OpenCL C name of the type.
    pub(crate) const fn c_name(self) -> &'static str {
        match self {
            Scalar::F32 => "float",
            Scalar::F64 => "double",
            Scalar::U32 => "uint",
            Scalar::U64 => "ulong",
        }
    }
}

/// What a program is built with: the key of each device's program cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct BuildOptions {
    scalar: Option<Scalar>,
    defines: Vec<(String, String)>,
}

#[allow(dead_code)] // the first users are the array workloads; pi builds with no options
impl BuildOptions {
    /// No type, no defines: what `pi` is built with.
    pub(crate) fn new() -> BuildOptions {
        BuildOptions::default()
    }

    /// Instantiates the kernels for element type `scalar` (`-DT=float`).
    pub(crate) fn scalar(mut self, scalar: Scalar) -> BuildOptions {
        self.scalar = Some(scalar);
        self
    }

    /// Adds `-D<name>=<value>`.
    pub(crate) fn define(mut self, name: &str, value: impl ToString) -> BuildOptions {
        self.defines.push((name.to_string(), value.to_string()));
        self
    }

    /// Whether these options instantiate double-precision kernels.
    pub(crate) fn needs_fp64(&self) -> bool {
        self.scalar == Some(Scalar::F64)
    }

    /// The option string for `clBuildProgram`.
    pub(crate) fn flags(&self) -> String {
        let mut flags = Vec::new();
        if let Some(scalar) = self.scalar {
            flags.push(format!("-DT={}", scalar.c_name()));
        }
        if self.needs_fp64() {
            flags.push("-DGC_FP64=1".to_string());
        }
        for (name, value) in &self.defines {
            flags.push(format!("-D{name}={value}"));
        }
        flags.join(" ")
    }
}

/// Refuses double-precision work on a device without `cl_khr_fp64`, naming `what` needs it.
pub(crate) fn require_fp64(info: &DeviceInfo, what: &str) -> Result<()> {
    if info.fp64 {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "{what} needs 64-bit floating point, which {} ({}) does not support (no cl_khr_fp64)",
        info.spec, info.name
    )))
}

/// `dir/../common/x.h` → `common/x.h`, relative to `kernels/`.
fn resolve(including: &str, target: &str) -> String {
    let mut parts: Vec<&str> = including.split('/').collect();
    parts.pop(); // the including file's own name
    for part in target.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts.join("/")
}

/// The file named by an `#include "..."` line, if the line is one.
fn include_target(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("include")?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

fn inline(name: &str, text: &str, seen: &mut Vec<String>, out: &mut String) -> Result<(), String> {
    out.push_str(&format!("#line 1 \"{name}\"\n"));
    for (number, line) in text.lines().enumerate() {
        let Some(target) = include_target(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let path = resolve(name, target);
        if !seen.contains(&path) {
            let (_, header) = HEADERS
                .iter()
                .find(|(p, _)| *p == path)
                .ok_or_else(|| format!("{name}:{}: no embedded file `{path}`", number + 1))?;
            seen.push(path.clone());
            inline(&path, header, seen, out)?;
        }
        out.push_str(&format!("#line {} \"{name}\"\n", number + 2));
    }
    Ok(())
}

/// The entry-point file with every `#include` replaced by the embedded header, once each.
pub(super) fn assemble() -> Result<String> {
    let mut out = String::new();
    inline(MAIN.0, MAIN.1, &mut Vec::new(), &mut out).map_err(|message| Error::Runtime {
        backend: BackendKind::OpenCl,
        call: "assembling the kernel sources".to_string(),
        message,
    })?;
    Ok(out)
}

/// Builds `source` with `flags` for one device. A failed build is an error that
/// names the status and carries the compiler's full build log.
pub(super) fn build(
    context: &Context,
    device: DeviceId,
    info: &DeviceInfo,
    source: &str,
    flags: &str,
) -> Result<Program> {
    let nul = |what: &str| Error::Runtime {
        backend: BackendKind::OpenCl,
        call: "building kernels".to_string(),
        message: format!("the {what} contains a NUL byte"),
    };
    let source = CString::new(source).map_err(|_| nul("kernel source"))?;
    let flags = CString::new(flags).map_err(|_| nul("build options"))?;
    let program = ocl::core::create_program_with_source(context, &[source])
        .map_err(|e| runtime("clCreateProgramWithSource", &e))?;
    let device_ptr = device.as_ptr();
    // ocl's build_program reports a failure with an empty log as success, so the
    // build goes through the C API and the log is fetched here.
    // SAFETY: `program` and `device_ptr` are live handles from the same context; the
    // device list has exactly one entry; `flags` is NUL-terminated; no callback.
    let status = unsafe {
        ffi::clBuildProgram(
            program.as_ptr(),
            1,
            &device_ptr,
            flags.as_ptr(),
            None,
            ptr::null_mut(),
        )
    };
    if status == 0 {
        return Ok(program);
    }
    let log = match ocl::core::get_program_build_info(&program, device, ProgramBuildInfo::BuildLog)
    {
        Ok(ProgramBuildInfoResult::BuildLog(log)) if !log.trim().is_empty() => log,
        _ => "(the compiler left no build log)".to_string(),
    };
    Err(Error::Runtime {
        backend: BackendKind::OpenCl,
        call: format!("building the kernels for {} ({})", info.spec, info.name),
        message: format!(
            "{} with options `{}`; build log:\n{}",
            status_name(status),
            flags.to_string_lossy(),
            log.trim_end()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;

    #[test]
    fn includes_resolve_against_embedded_files_once() {
        let source = assemble().unwrap();
        assert!(!source.lines().any(|l| include_target(l).is_some()));
        assert_eq!(source.matches("#define GPUCALC_PORTABLE_H").count(), 1);
        assert!(source.contains("#line 1 \"common/philox.h\""));
        assert!(source.contains("__kernel void gc_pi_hits"));
        assert_eq!(
            resolve("opencl/gpucalc.cl", "../common/pi.h"),
            "common/pi.h"
        );
        assert_eq!(resolve("common/pi.h", "philox.h"), "common/philox.h");
        assert_eq!(include_target("  #  include \"a.h\" // x"), Some("a.h"));
        assert_eq!(include_target("#include <a.h>"), None);
        let mut out = String::new();
        let err = inline(
            "opencl/x.cl",
            "#include \"nope.h\"\n",
            &mut Vec::new(),
            &mut out,
        );
        assert_eq!(
            err.unwrap_err(),
            "opencl/x.cl:1: no embedded file `opencl/nope.h`"
        );
    }

    #[test]
    fn options_carry_types_and_fp64_is_refused_without_it() {
        assert_eq!(BuildOptions::new().flags(), "");
        let double = BuildOptions::new().scalar(Scalar::F64).define("GC_N", 4);
        assert_eq!(double.flags(), "-DT=double -DGC_FP64=1 -DGC_N=4");
        assert_eq!(BuildOptions::new().scalar(Scalar::F32).flags(), "-DT=float");
        let mut info = DeviceInfo::new(BackendKind::OpenCl, 3, "Card".into(), DeviceType::Gpu);
        info.spec = "opencl:3".into();
        let err = require_fp64(&info, "stream in double precision").unwrap_err();
        assert_eq!(
            err.to_string(),
            "stream in double precision needs 64-bit floating point, \
             which opencl:3 (Card) does not support (no cl_khr_fp64)"
        );
        info.fp64 = true;
        assert!(require_fp64(&info, "x").is_ok());
    }
}
