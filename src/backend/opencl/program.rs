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

/// Every file an `#include` may name, by its path under `kernels/`: all of
/// `kernels/common/` (a test checks that none is missing).
const HEADERS: [(&str, &str); 10] = [
    (
        "common/portable.h",
        include_str!("../../../kernels/common/portable.h"),
    ),
    (
        "common/philox.h",
        include_str!("../../../kernels/common/philox.h"),
    ),
    ("common/pi.h", include_str!("../../../kernels/common/pi.h")),
    (
        "common/typed.h",
        include_str!("../../../kernels/common/typed.h"),
    ),
    (
        "common/stream.h",
        include_str!("../../../kernels/common/stream.h"),
    ),
    (
        "common/map.h",
        include_str!("../../../kernels/common/map.h"),
    ),
    (
        "common/rng.h",
        include_str!("../../../kernels/common/rng.h"),
    ),
    (
        "common/rng_kernel.h",
        include_str!("../../../kernels/common/rng_kernel.h"),
    ),
    (
        "common/gemm.h",
        include_str!("../../../kernels/common/gemm.h"),
    ),
    (
        "common/tile_order.h",
        include_str!("../../../kernels/common/tile_order.h"),
    ),
];

/// Deepest `#include` nesting accepted: deeper means a cycle.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The element type a kernel is instantiated for, passed as `-DT=<type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scalar {
    /// `float`
    F32,
    /// `double`: needs `cl_khr_fp64`.
    F64,
}

impl Scalar {
    /// The suffix of the kernels instantiated for the type (`GC_SFX`, see
    /// `kernels/common/typed.h`): `gc_stream_copy_f32`.
    pub(crate) const fn suffix(self) -> &'static str {
        match self {
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
    }

    /// The OpenCL C name of the type.
    pub(crate) const fn c_name(self) -> &'static str {
        match self {
            Scalar::F32 => "float",
            Scalar::F64 => "double",
        }
    }
}

/// What a program is built with: the key of each device's program cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct BuildOptions {
    scalar: Option<Scalar>,
    defines: Vec<(String, String)>,
}

impl BuildOptions {
    /// No type, no defines: what `pi` is built with.
    pub(crate) fn new() -> BuildOptions {
        BuildOptions::default()
    }

    /// Instantiates the kernels for element type `scalar` (`-DT=float -DGC_SFX=f32`).
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
            flags.push(format!(
                "-DT={} -DGC_SFX={}",
                scalar.c_name(),
                scalar.suffix()
            ));
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

/// Appends `text` (the file `name`) to `out` with every `#include "..."` replaced
/// by the embedded file it names, as often as it is included: include guards,
/// or their absence in the typed bodies, work as they do in a preprocessor.
fn inline(name: &str, text: &str, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(format!(
            "{name}: includes nested deeper than {MAX_INCLUDE_DEPTH}"
        ));
    }
    out.push_str(&format!("#line 1 \"{name}\"\n"));
    for (number, line) in text.lines().enumerate() {
        let Some(target) = include_target(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let path = resolve(name, target);
        let (_, header) = HEADERS
            .iter()
            .find(|(p, _)| *p == path)
            .ok_or_else(|| format!("{name}:{}: no embedded file `{path}`", number + 1))?;
        inline(&path, header, depth + 1, out)?;
        out.push_str(&format!("#line {} \"{name}\"\n", number + 2));
    }
    Ok(())
}

/// The entry-point file with every `#include` replaced by the embedded header.
pub(super) fn assemble() -> Result<String> {
    assemble_file(MAIN.0, MAIN.1)
}

/// `text` (the file `name` under `kernels/`) with its includes resolved.
pub(super) fn assemble_file(name: &str, text: &str) -> Result<String> {
    let mut out = String::new();
    inline(name, text, 0, &mut out).map_err(|message| Error::Runtime {
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
    fn includes_resolve_against_embedded_files() {
        let source = assemble().unwrap();
        assert!(!source.lines().any(|l| include_target(l).is_some()));
        assert!(source.contains("#line 1 \"common/philox.h\""));
        assert!(source.contains("__kernel void gc_pi_hits"));
        assert_eq!(
            resolve("opencl/gpucalc.cl", "../common/pi.h"),
            "common/pi.h"
        );
        assert_eq!(resolve("common/pi.h", "philox.h"), "common/philox.h");
        assert_eq!(include_target("  #  include \"a.h\" // x"), Some("a.h"));
        assert_eq!(include_target("#include <a.h>"), None);
        // A body without an include guard is inlined each time it is included.
        let twice = "#include \"../common/map.h\"\n#include \"../common/map.h\"\n";
        let source = assemble_file("opencl/x.cl", twice).unwrap();
        assert_eq!(source.matches("#line 1 \"common/map.h\"").count(), 2);
        let err = assemble_file("opencl/x.cl", "#include \"nope.h\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "OpenCL error in assembling the kernel sources: \
             opencl/x.cl:1: no embedded file `opencl/nope.h`"
        );
        let err = inline("common/x.h", "", MAX_INCLUDE_DEPTH + 1, &mut String::new());
        assert!(err.unwrap_err().contains("nested deeper than"));
    }

    #[test]
    fn every_shared_header_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels/common");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".h") {
                let path = format!("common/{name}");
                assert!(
                    HEADERS.iter().any(|(p, _)| *p == path),
                    "kernels/{path} is not in HEADERS in src/backend/opencl/program.rs"
                );
            }
        }
    }

    #[test]
    fn options_carry_types_and_fp64_is_refused_without_it() {
        assert_eq!(BuildOptions::new().flags(), "");
        let double = BuildOptions::new().scalar(Scalar::F64).define("GC_N", 4);
        assert_eq!(
            double.flags(),
            "-DT=double -DGC_SFX=f64 -DGC_FP64=1 -DGC_N=4"
        );
        assert_eq!(
            BuildOptions::new().scalar(Scalar::F32).flags(),
            "-DT=float -DGC_SFX=f32"
        );
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
