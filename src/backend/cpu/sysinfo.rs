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

/// The CPU family number (`cpu family` in /proc/cpuinfo: 25 is AMD's Zen 3
/// and Zen 4), if it says.
pub(crate) fn cpu_family() -> Option<u32> {
    cpuinfo_field("cpu family")?.parse().ok()
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
    meminfo("MemTotal:")
}

/// Memory a new allocation can have now without swapping (`MemAvailable`:
/// free memory plus the caches the kernel can drop), in bytes.
pub(crate) fn available_memory() -> Option<u64> {
    meminfo("MemAvailable:")
}

/// A `/proc/meminfo` field in bytes.
fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One CPU's caches from sysfs (`cpu_dir` is `/sys/devices/system/cpu/cpuN`):
/// (level, identity, bytes), the identity being the cache's `id` within its
/// level or, where sysfs has none, the CPUs that share it.
fn cpu_caches(cpu_dir: &std::path::Path) -> Vec<(u32, String, usize)> {
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
    std::fs::read_dir(cpu_dir.join("cache"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|index| {
            let path = index.path();
            let level = read(path.join("level"))?.trim().parse().ok()?;
            let bytes = parse_cache_size(read(path.join("size"))?.trim())?;
            let identity = read(path.join("id"))
                .map(|id| format!("id {}", id.trim()))
                .or_else(|| read(path.join("shared_cpu_list")))?;
            Some((level, identity.trim().to_string(), bytes))
        })
        .collect()
}

/// Size of the largest (last-level) cache cpu0 uses, in bytes, from sysfs;
/// 32 MiB where it is not reported. Read once.
pub(crate) fn last_level_cache_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        cpu_caches(std::path::Path::new("/sys/devices/system/cpu/cpu0"))
            .into_iter()
            .map(|(level, _, bytes)| (level, bytes))
            .max()
            .map_or(32 << 20, |(_, bytes)| bytes)
    })
}

/// All of the machine's last-level caches together, in bytes: each instance
/// once (an EPYC has one L3 per core complex, a two-socket machine two sets).
pub(crate) fn total_last_level_cache_bytes() -> Option<u64> {
    let mut caches = Vec::new();
    for cpu in std::fs::read_dir("/sys/devices/system/cpu").ok()?.flatten() {
        let name = cpu.file_name();
        let is_cpu = name
            .to_string_lossy()
            .strip_prefix("cpu")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if is_cpu {
            caches.extend(cpu_caches(&cpu.path()));
        }
    }
    let last = caches.iter().map(|c| c.0).max()?;
    caches.retain(|c| c.0 == last);
    caches.sort();
    caches.dedup();
    Some(caches.iter().map(|c| c.2 as u64).sum())
}

/// `266240K`, `32M`, `1024` (sysfs cache sizes) in bytes.
fn parse_cache_size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let value: usize = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(scale)
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

/// The clock a busy core actually runs at, in Hz: the time of a chain of
/// dependent register-to-register adds (one cycle each on x86-64 cores; adds
/// of an immediate can be folded away by newer renamers), taken once.
/// Nominal clocks in /proc/cpuinfo can be far below turbo clocks, which would
/// make peak-rate estimates too low.
pub(crate) fn measured_clock_hz() -> Option<f64> {
    static CLOCK: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *CLOCK.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let run = |iterations: u64| {
                let start = std::time::Instant::now();
                let (mut x, mut n, one) = (0u64, iterations, std::hint::black_box(1u64));
                // SAFETY: register-only arithmetic on two operands this block owns;
                // no memory is touched and the flags are declared clobbered by default.
                unsafe {
                    std::arch::asm!(
                        "2:",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "add {x}, {one}",
                        "sub {n}, 1",
                        "jnz 2b",
                        x = inout(reg) x,
                        n = inout(reg) n,
                        one = in(reg) one,
                        options(nomem, nostack),
                    );
                }
                std::hint::black_box((x, n));
                // Eight dependent adds, one cycle each, per iteration.
                8.0 * iterations as f64 / start.elapsed().as_secs_f64()
            };
            run(1_000_000); // wake the core up to its working clock
            let best = (0..3).map(|_| run(4_000_000)).fold(0.0, f64::max);
            if best.is_finite() && best > 1e8 {
                return Some(best);
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("266240K"), Some(266_240 * 1024));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("1024"), Some(1024));
        assert_eq!(parse_cache_size("12Q"), None);
        assert_eq!(parse_cache_size(""), None);
        assert!(last_level_cache_bytes() > 0);
    }
}
