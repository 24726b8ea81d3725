//! The one device-selection layer: parse a [`DeviceSpec`], list what this build
//! can see, and open the [`Device`] that work runs on.

mod spec;

pub use spec::DeviceSpec;

use serde::Serialize;

use crate::backend::cpu::{self, CpuDevice};
use crate::backend::cuda::{self, CudaDevice};
use crate::backend::opencl::{self, OpenClDevice};
use crate::backend::Backend;
use crate::error::{BackendKind, Error, Result};

/// The kind of hardware a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    /// A central processor.
    Cpu,
    /// A graphics processor.
    Gpu,
    /// Another accelerator (FPGA, DSP, ...), as OpenCL reports them.
    Accelerator,
    /// Anything else a runtime reports.
    Other,
}

impl DeviceType {
    /// `cpu`, `gpu`, `accelerator` or `other`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceType::Cpu => "cpu",
            DeviceType::Gpu => "gpu",
            DeviceType::Accelerator => "accelerator",
            DeviceType::Other => "other",
        }
    }
}

/// One row of `gpucalc devices`: what a device is and what it has.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// The backend that drives it.
    pub backend: BackendKind,
    /// Its index within the backend (the `N` of `cuda:N`, `opencl:N`).
    pub index: usize,
    /// The spec that selects exactly this device: `cpu`, `cuda:0`, `opencl:2`.
    pub spec: String,
    /// The device's name.
    pub name: String,
    /// Its vendor.
    pub vendor: String,
    /// CPU, GPU or accelerator.
    #[serde(rename = "type")]
    pub device_type: DeviceType,
    /// Physical cores, streaming multiprocessors or compute units.
    pub compute_units: u32,
    /// CPU only: worker threads (hardware threads in the listing).
    pub threads: Option<u32>,
    /// Device (or, for the CPU, system) memory in bytes.
    pub memory_bytes: u64,
    /// Maximum clock in MHz, where known.
    pub clock_mhz: Option<u32>,
    /// Memory clock in MHz, where the runtime reports it (CUDA).
    pub memory_clock_mhz: Option<u32>,
    /// Memory bus width in bits, where the runtime reports it (CUDA).
    pub memory_bus_width_bits: Option<u32>,
    /// Last-level cache in bytes, where known: the CPU's last-level caches
    /// together (every socket and core complex), a GPU's L2.
    pub cache_bytes: Option<u64>,
    /// Driver version, where there is a driver.
    pub driver_version: Option<String>,
    /// OpenCL only: the platform's name.
    pub platform: Option<String>,
    /// CUDA only: compute capability, e.g. `9.0`.
    pub compute_capability: Option<String>,
    /// OpenCL only: the device's OpenCL version string.
    pub opencl_version: Option<String>,
    /// Whether it does 64-bit floating point.
    pub fp64: bool,
}

impl DeviceInfo {
    /// A row with the fields every backend knows; the rest empty.
    pub(crate) fn new(
        backend: BackendKind,
        index: usize,
        name: String,
        device_type: DeviceType,
    ) -> DeviceInfo {
        DeviceInfo {
            backend,
            index,
            spec: format!("{backend}:{index}"),
            name,
            vendor: String::new(),
            device_type,
            compute_units: 0,
            threads: None,
            memory_bytes: 0,
            clock_mhz: None,
            memory_clock_mhz: None,
            memory_bus_width_bits: None,
            cache_bytes: None,
            driver_version: None,
            platform: None,
            compute_capability: None,
            opencl_version: None,
            fp64: false,
        }
    }

    /// The CUDA compute capability as numbers, `(9, 0)` for "9.0"; `None`
    /// where it is unknown (or not a CUDA device).
    pub(crate) fn compute_capability_version(&self) -> Option<(u32, u32)> {
        let (major, minor) = self.compute_capability.as_deref()?.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    }

    /// True for GPUs and accelerators: what `auto` prefers to the CPU.
    pub fn is_accelerator(&self) -> bool {
        matches!(self.device_type, DeviceType::Gpu | DeviceType::Accelerator)
    }
}

/// Everything `gpucalc devices` shows: the devices found, and for each backend
/// that found none, why.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceList {
    /// Every device this build can see, CPU first.
    pub devices: Vec<DeviceInfo>,
    /// One line per backend that contributed no device, saying why.
    pub notes: Vec<String>,
}

/// Lists every device this build can see. Never fails: a backend that is
/// compiled out or has no driver adds a note instead of devices.
pub fn list_devices() -> DeviceList {
    let mut devices = vec![cpu::describe()];
    let mut notes = Vec::new();
    for (kind, found) in [
        (BackendKind::Cuda, cuda::list()),
        (BackendKind::OpenCl, opencl::list()),
    ] {
        match found {
            Ok(list) if list.is_empty() => {
                notes.push(format!("{}: no devices found", kind.display_name()))
            }
            Ok(list) => devices.extend(list),
            // The error already names the backend.
            Err(e) => notes.push(e.to_string()),
        }
    }
    DeviceList { devices, notes }
}

/// How to open a device beyond its spec.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeviceOptions {
    /// CPU worker threads (`None`: one per hardware thread): 1 to 4096.
    pub threads: Option<usize>,
}

impl DeviceOptions {
    /// Options with `threads` CPU workers.
    pub fn threads(threads: usize) -> DeviceOptions {
        DeviceOptions {
            threads: Some(threads),
        }
    }
}

/// What [`Device::open_all`] opened, and what it could not.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedDevices {
    /// The devices that opened, CPU first.
    pub devices: Vec<Device>,
    /// Each listed device that did not open (spec and name), and why.
    pub skipped: Vec<(String, Error)>,
}

/// A device opened for work. Every workload takes a `&Device`.
///
/// ```
/// use gpucalc::{Device, DeviceSpec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// assert_eq!(device.info().spec, "cpu");
/// # Ok::<(), gpucalc::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // one per process; the variants differ by build
pub enum Device {
    /// The rayon CPU path.
    Cpu(CpuDevice),
    /// A CUDA GPU.
    Cuda(CudaDevice),
    /// An OpenCL device.
    OpenCl(OpenClDevice),
}

impl Device {
    /// Opens the device `spec` names, with default options.
    pub fn select(spec: &DeviceSpec) -> Result<Device> {
        Device::select_with(spec, &DeviceOptions::default())
    }

    /// Opens the device `spec` names. `auto` takes the first CUDA device, else
    /// the first OpenCL GPU or accelerator, else the CPU: the first of these
    /// that opens.
    pub fn select_with(spec: &DeviceSpec, options: &DeviceOptions) -> Result<Device> {
        Device::select_explained(spec, options).map(|(device, _)| device)
    }

    /// As [`Device::select_with`], and for `auto` also why each device it
    /// passed over did not open: a GPU that is listed but cannot be used (a
    /// driver too old for the kernels, say), which a user would expect to be
    /// picked. A backend with no device at all is not in the list.
    pub fn select_explained(
        spec: &DeviceSpec,
        options: &DeviceOptions,
    ) -> Result<(Device, Vec<(String, Error)>)> {
        cpu::check_threads(options.threads)?;
        match *spec {
            DeviceSpec::All => Err(Error::InvalidArgument(
                "--device all is for `gpucalc pi` (every device at once) and `gpucalc bench` (each in turn); pick one device here".to_string(),
            )),
            DeviceSpec::Cpu => Ok((Device::Cpu(CpuDevice::open(options.threads)?), Vec::new())),
            DeviceSpec::Cuda(index) => {
                let list = cuda::list()?;
                let index = resolve_index(spec, &list, index, |_| true)?;
                Ok((Device::Cuda(CudaDevice::open(index)?), Vec::new()))
            }
            DeviceSpec::OpenCl(index) => {
                let list = opencl::list()?;
                let index = resolve_index(spec, &list, index, DeviceInfo::is_accelerator)?;
                Ok((Device::OpenCl(OpenClDevice::open(index)?), Vec::new()))
            }
            DeviceSpec::Auto => {
                // The first device that opens: a GPU that is listed but cannot be
                // used passes the turn on, and says why.
                let mut passed_over = Vec::new();
                let name = |info: &DeviceInfo| format!("{} ({})", info.spec, info.name);
                if let Some(gpu) = cuda::list().ok().and_then(|list| list.into_iter().next()) {
                    match CudaDevice::open(0) {
                        Ok(device) => return Ok((Device::Cuda(device), passed_over)),
                        Err(e) => passed_over.push((name(&gpu), e)),
                    }
                }
                if let Ok(list) = opencl::list() {
                    for gpu in list.iter().filter(|d| d.is_accelerator()) {
                        match OpenClDevice::open(gpu.index) {
                            Ok(device) => return Ok((Device::OpenCl(device), passed_over)),
                            Err(e) => passed_over.push((name(gpu), e)),
                        }
                    }
                }
                Ok((Device::Cpu(CpuDevice::open(options.threads)?), passed_over))
            }
        }
    }

    /// Opens every device [`list_devices`] lists (`--device all`), CPU first.
    /// A listed device that does not open is left out, and listed with why.
    /// OpenCL devices on the host's own cores (PoCL, say) are in the list;
    /// `gpucalc --device all pi` leaves them out of its farm when `cpu` is in,
    /// as two thread pools on the same cores only slow each other down (they
    /// are the OpenCL devices whose `info().device_type` is [`DeviceType::Cpu`]).
    pub fn open_all(options: &DeviceOptions) -> Result<OpenedDevices> {
        cpu::check_threads(options.threads)?;
        let (mut opened, mut skipped) = (Vec::new(), Vec::new());
        for info in list_devices().devices {
            let spec: DeviceSpec = info.spec.parse()?;
            match Device::select_with(&spec, options) {
                Ok(device) => opened.push(device),
                Err(e) => skipped.push((format!("{} ({})", info.spec, info.name), e)),
            }
        }
        Ok(OpenedDevices {
            devices: opened,
            skipped,
        })
    }

    /// The one place that dispatches to a backend.
    pub(crate) fn backend(&self) -> &dyn Backend {
        match self {
            Device::Cpu(d) => d,
            Device::Cuda(d) => d,
            Device::OpenCl(d) => d,
        }
    }

    /// What this device is.
    pub fn info(&self) -> &DeviceInfo {
        self.backend().info()
    }

    /// The backend that drives it.
    pub fn kind(&self) -> BackendKind {
        self.info().backend
    }

    /// Refuses up front a job whose buffers would not fit in the device's memory.
    /// A CPU (the CPU backend, or an OpenCL CPU device such as PoCL) is held
    /// to the host memory available now rather than its total, and to the
    /// limits of the process's control group and its `ulimit -v`/`-d`.
    pub fn check_fits(&self, what: &str, bytes: u64) -> Result<()> {
        let info = self.info();
        let name = format!("{} ({})", info.spec, info.name);
        match usable_memory(info) {
            Some((memory, host)) if bytes > memory => Err(Error::OutOfMemory {
                what: what.to_string(),
                device: host.map_or(name.clone(), |room| room.holder(&name)),
                needed: bytes,
                available: memory,
            }),
            _ => Ok(()),
        }
    }
}

/// The bytes a job on the device `info` describes may use: its memory, and
/// for a CPU-type device no more than the host has available now (then the
/// [`cpu::memory::Headroom`] that set it comes too, for messages). `None`
/// where neither is known (a runtime that reports 0 bytes, no `/proc`); a
/// headroom of 0 is nothing left, not unknown.
pub(crate) fn usable_memory(info: &DeviceInfo) -> Option<(u64, Option<cpu::memory::Headroom>)> {
    let host = (info.device_type == DeviceType::Cpu)
        .then(cpu::memory::headroom)
        .flatten();
    least_memory(info.memory_bytes, host)
}

/// [`usable_memory`] of a device that reports `memory_bytes` (0: unknown),
/// held to `host` where that is given.
fn least_memory(
    memory_bytes: u64,
    host: Option<cpu::memory::Headroom>,
) -> Option<(u64, Option<cpu::memory::Headroom>)> {
    let device = (memory_bytes > 0).then_some(memory_bytes);
    match (device, host) {
        (Some(device), Some(room)) if device <= room.bytes => Some((device, None)),
        (_, Some(room)) => Some((room.bytes, Some(room))),
        (device, None) => device.map(|device| (device, None)),
    }
}

/// Picks the index `spec` asks for from a backend's list, or the first device
/// that `prefer` accepts (else the first device) when it names none.
fn resolve_index(
    spec: &DeviceSpec,
    list: &[DeviceInfo],
    index: Option<usize>,
    prefer: impl Fn(&DeviceInfo) -> bool,
) -> Result<usize> {
    let available = || {
        if list.is_empty() {
            "this machine has none".to_string()
        } else {
            let names: Vec<String> = list
                .iter()
                .map(|d| format!("{} ({})", d.spec, d.name))
                .collect();
            format!("available: {}", names.join(", "))
        }
    };
    match index {
        Some(i) if i < list.len() => Ok(list[i].index),
        None if !list.is_empty() => Ok(list.iter().find(|d| prefer(d)).unwrap_or(&list[0]).index),
        _ => Err(Error::NoSuchDevice {
            spec: spec.to_string(),
            available: available(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headroom_of_zero_is_nothing_left_not_unknown() {
        use cpu::memory::{Bound, Headroom};
        let room = |bytes| Headroom {
            bytes,
            bound: Bound::ControlGroup(1 << 30),
        };
        assert_eq!(least_memory(0, None), None);
        assert_eq!(least_memory(8, None), Some((8, None)));
        assert_eq!(least_memory(0, Some(room(0))), Some((0, Some(room(0)))));
        assert_eq!(least_memory(8, Some(room(0))), Some((0, Some(room(0)))));
        assert_eq!(least_memory(8, Some(room(9))), Some((8, None)));
        assert_eq!(least_memory(0, Some(room(9))), Some((9, Some(room(9)))));
    }

    #[test]
    fn compute_capabilities_read_as_numbers() {
        let mut info = DeviceInfo::new(BackendKind::Cuda, 0, "x".into(), DeviceType::Gpu);
        assert_eq!(info.compute_capability_version(), None);
        for (text, version) in [("9.0", Some((9, 0))), ("12.1", Some((12, 1))), ("9", None)] {
            info.compute_capability = Some(text.into());
            assert_eq!(info.compute_capability_version(), version, "{text}");
        }
    }

    #[test]
    fn cpu_is_always_listed_first() {
        let list = list_devices();
        assert_eq!(list.devices[0].backend, BackendKind::Cpu);
        assert!(list.devices[0].threads.unwrap() >= 1);
    }

    #[test]
    fn thread_counts_outside_1_to_the_bound_are_refused_before_any_thread_starts() {
        let most = crate::backend::cpu::max_threads();
        assert!((64..=4096).contains(&most), "{most}");
        for (threads, says) in [
            (0, "at least 1".to_string()),
            (most + 1, format!("at most {most} here")),
            (100_000, "at most".to_string()),
        ] {
            let options = DeviceOptions::threads(threads);
            let err = Device::select_with(&DeviceSpec::Cpu, &options).unwrap_err();
            assert!(err.to_string().contains(&says), "{threads}: {err}");
            assert!(Device::open_all(&options).is_err(), "{threads}");
        }
        assert_eq!(
            Device::select_with(&DeviceSpec::Cpu, &DeviceOptions::threads(3))
                .unwrap()
                .info()
                .threads,
            Some(3)
        );
    }

    #[test]
    fn out_of_range_index_lists_what_exists() {
        let list = vec![DeviceInfo::new(
            BackendKind::Cuda,
            0,
            "Card".into(),
            DeviceType::Gpu,
        )];
        let err =
            resolve_index(&DeviceSpec::Cuda(Some(99)), &list, Some(99), |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no device `cuda:99`: available: cuda:0 (Card)"
        );
        let err = resolve_index(&DeviceSpec::Cuda(None), &[], None, |_| true).unwrap_err();
        assert_eq!(err.to_string(), "no device `cuda`: this machine has none");
    }
}
