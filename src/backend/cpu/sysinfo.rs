//! What the operating system says about the CPU and memory, read without extra crates.

use std::collections::HashSet;

/// Hardware threads this process may use.
pub(crate) fn hardware_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}

fn cpuinfo_field(key: &str) -> Option<String> {
    cpuinfo().lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The CPU's marketing name, e.g. "Intel(R) Xeon(R) Processor".
pub(crate) fn cpu_model() -> String {
    cpuinfo_field("model name")
        .or_else(|| cpuinfo_field("Model"))
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

/// The CPU vendor string, e.g. "GenuineIntel".
pub(crate) fn cpu_vendor() -> String {
    cpuinfo_field("vendor_id").unwrap_or_else(|| "unknown".to_string())
}

/// Distinct (package, core) pairs, if /proc/cpuinfo says.
pub(crate) fn physical_cores() -> Option<usize> {
    let text = cpuinfo();
    let mut cores = HashSet::new();
    let (mut package, mut core) = (None, None);
    for line in text.lines().chain(std::iter::once("")) {
        match line.split_once(':') {
            Some((k, v)) if k.trim() == "physical id" => package = Some(v.trim().to_string()),
            Some((k, v)) if k.trim() == "core id" => core = Some(v.trim().to_string()),
            None if line.trim().is_empty() => {
                if let (Some(p), Some(c)) = (package.take(), core.take()) {
                    cores.insert((p, c));
                }
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then(|| cores.len().min(hardware_threads()))
}

/// Physical memory in bytes, from /proc/meminfo.
pub(crate) fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Maximum clock in MHz, from cpufreq or /proc/cpuinfo.
pub(crate) fn max_clock_mhz() -> Option<u32> {
    if let Ok(khz) =
        std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    {
        if let Ok(khz) = khz.trim().parse::<u64>() {
            return Some((khz / 1000) as u32);
        }
    }
    cpuinfo_field("cpu MHz")?
        .parse::<f64>()
        .ok()
        .map(|mhz| mhz.round() as u32)
}
