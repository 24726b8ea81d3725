//! How much host memory a job may take: what the system has available, under
//! the memory limit of the process's control group (containers, batch
//! schedulers such as Slurm) and its own `ulimit -v` / `ulimit -d`.
//!
//! `/proc/meminfo` describes the whole machine. A process in a control group
//! with a memory limit is killed by the kernel past that limit, without a
//! message, however much the machine has free; so the limits are read here and
//! a job beyond them is refused up front instead.

use std::path::{Path, PathBuf};

use super::sysinfo;

/// What bounds the memory a job can have now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The machine's available memory (`MemAvailable`).
    System,
    /// The memory limit of a control group the process is in, in bytes.
    ControlGroup(u64),
    /// The process's address-space limit (`ulimit -v`), in bytes.
    AddressSpace(u64),
    /// The process's data-segment limit (`ulimit -d`), in bytes.
    DataSegment(u64),
}

impl Bound {
    /// The limit in bytes, where this bound is one (not the machine's own memory).
    fn limit(self) -> Option<u64> {
        match self {
            Bound::System => None,
            Bound::ControlGroup(limit) | Bound::AddressSpace(limit) | Bound::DataSegment(limit) => {
                Some(limit)
            }
        }
    }
}

/// The memory a job can have now, and what sets that figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Headroom {
    /// Bytes a new allocation can have without swapping or being killed.
    pub(crate) bytes: u64,
    /// Where the figure comes from.
    pub(crate) bound: Bound,
}

impl Headroom {
    /// `host` ("the host", "cpu (AMD EPYC)") named with the limit that binds
    /// it, for messages: a user who sees less than the machine's memory is
    /// told why.
    pub(crate) fn holder(&self, host: &str) -> String {
        let human = crate::human_bytes;
        let limit = match self.bound {
            Bound::System => return host.to_string(),
            Bound::ControlGroup(limit) => format!("its control group's limit of {}", human(limit)),
            Bound::AddressSpace(limit) => format!("ulimit -v of {}", human(limit)),
            Bound::DataSegment(limit) => format!("ulimit -d of {}", human(limit)),
        };
        format!("{host} (under {limit})")
    }
}

/// The memory a job can have now: the least of the machine's available
/// memory (or its total, where the kernel does not say), the room left under
/// each control group's limit and under the process's own limits.
pub(crate) fn headroom() -> Option<Headroom> {
    let system = sysinfo::available_memory()
        .or_else(sysinfo::total_memory)
        .map(|bytes| Headroom {
            bytes,
            bound: Bound::System,
        });
    let groups = control_groups().into_iter().filter_map(|group| {
        Some(Headroom {
            bytes: group.room(),
            bound: Bound::ControlGroup(group.limit?),
        })
    });
    let process = process_limits()
        .into_iter()
        .map(|(bound, room)| Headroom { bytes: room, bound });
    system
        .into_iter()
        .chain(groups)
        .chain(process)
        .min_by_key(|h| h.bytes)
}

/// The memory the process could ever have: the machine's total, or the
/// tightest control-group limit, `ulimit -v` or `ulimit -d` where that is less.
pub(crate) fn total() -> Option<u64> {
    let groups = control_groups().into_iter().filter_map(|group| group.limit);
    let process = process_limits()
        .into_iter()
        .filter_map(|(bound, _)| bound.limit());
    sysinfo::total_memory()
        .into_iter()
        .chain(groups)
        .chain(process)
        .min()
}

/// One control group's memory limit and what it holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Group {
    /// The limit in bytes; `None` where there is none.
    limit: Option<u64>,
    /// Bytes charged to it now.
    used: u64,
    /// Of those, file cache the kernel drops before it kills anything.
    cache: u64,
}

impl Group {
    /// Bytes left under the limit, counting the droppable cache as free
    /// (as `MemAvailable` does).
    fn room(&self) -> u64 {
        let held = self.used.saturating_sub(self.cache);
        self.limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(held))
    }
}

/// The two kinds of control-group hierarchy the kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    /// cgroup v1's `memory` controller: `memory.limit_in_bytes`, ...
    V1,
    /// The unified cgroup v2 hierarchy: `memory.max`, ...
    V2,
}

/// Every control group with a memory limit the process is in: its own and
/// their ancestors (a parent's limit binds its children too), in each
/// hierarchy that has a memory controller.
fn control_groups() -> Vec<Group> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    group_dirs(&read("/proc/self/cgroup"), &read("/proc/self/mountinfo"))
        .into_iter()
        .filter_map(|(version, dir)| read_group(version, &dir))
        .collect()
}

/// The directories of the process's memory control groups and of all their
/// ancestors up to each hierarchy's mount point, from the text of
/// `/proc/self/cgroup` and `/proc/self/mountinfo`.
fn group_dirs(cgroup: &str, mountinfo: &str) -> Vec<(Version, PathBuf)> {
    let mut dirs = Vec::new();
    for line in cgroup.lines() {
        // hierarchy-ID:controller-list:path
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let version = if id == "0" && controllers.is_empty() {
            Version::V2
        } else if controllers.split(',').any(|c| c == "memory") {
            Version::V1
        } else {
            continue;
        };
        // The group's path is seen from the hierarchy's root; a mount shows
        // the hierarchy from its `root` on (a container sees only its own
        // part, a bind mount a group's subtree), so of the mounts whose root
        // holds the group the widest is read: it shows the most ancestors,
        // and their limits bind too. A group outside what every mount shows
        // (a cgroup namespace that kept the outer mount: `root` is then
        // `/..`, or the path `/../x`) cannot be read, so its limit is not
        // known: better none than another group's.
        let path = Path::new(path);
        if path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            continue;
        }
        let Some((mount_point, mut dir)) = mounts_of(version, mountinfo)
            .into_iter()
            .filter_map(|(root, mount_point)| {
                let relative = path.strip_prefix(&root).ok()?;
                let depth = root.components().count();
                Some((depth, mount_point.join(relative), mount_point))
            })
            .min_by_key(|(depth, ..)| *depth)
            .map(|(_, dir, mount_point)| (mount_point, dir))
        else {
            continue;
        };
        // Within the mount but not at this path (a group removed or moved
        // since, v2's "/x (deleted)"): its nearest ancestor that is there
        // still holds the process.
        while !dir.is_dir() && dir != mount_point && dir.pop() {}
        loop {
            dirs.push((version, dir.clone()));
            if dir == mount_point || !dir.pop() {
                break;
            }
        }
    }
    dirs
}

/// The root and mount point of each mount of the hierarchy of this version
/// that holds the memory controller, from `/proc/self/mountinfo`, in its order.
fn mounts_of(version: Version, mountinfo: &str) -> Vec<(PathBuf, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // id parent major:minor root mount-point options [optional...] - type source super-options
            let (mount, filesystem) = line.split_once(" - ")?;
            let mount: Vec<&str> = mount.split(' ').collect();
            let filesystem: Vec<&str> = filesystem.split(' ').collect();
            let wanted = match version {
                Version::V2 => filesystem.first() == Some(&"cgroup2"),
                Version::V1 => {
                    filesystem.first() == Some(&"cgroup")
                        && filesystem
                            .get(2)?
                            .split(',')
                            .any(|option| option == "memory")
                }
            };
            let (root, mount_point) = (mount.get(3)?, mount.get(4)?);
            wanted.then(|| (unescape(root), unescape(mount_point)))
        })
        .collect()
}

/// A mountinfo path with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes.get(i + 1..i + 4).and_then(|digits| {
            let digits = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(digits, 8).ok()
        });
        match code {
            Some(byte) if bytes[i] == b'\\' => {
                out.push(byte);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// One control group's limit and use, read from its directory; `None` where
/// the files are not there (the root group has none).
fn read_group(version: Version, dir: &Path) -> Option<Group> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let number = |name: &str| read(name)?.trim().parse::<u64>().ok();
    let stat = read("memory.stat").unwrap_or_default();
    let stat_field = |key: &str| {
        stat.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse::<u64>().ok()).flatten()
        })
    };
    let (limit, used, cache) = match version {
        Version::V2 => {
            let limit = read("memory.max")?;
            // "max" means no limit.
            let limit = limit.trim().parse::<u64>().ok();
            let cache =
                stat_field("active_file").unwrap_or(0) + stat_field("inactive_file").unwrap_or(0);
            (limit, number("memory.current")?, cache)
        }
        Version::V1 => {
            // No limit reads as the largest page-aligned i64, 2^63 - 4096.
            let limit = number("memory.limit_in_bytes")?;
            let limit = (limit < 1 << 62).then_some(limit);
            let file =
                |name: &str| stat_field(&format!("total_{name}")).or_else(|| stat_field(name));
            let cache = file("active_file").unwrap_or(0) + file("inactive_file").unwrap_or(0);
            (limit, number("memory.usage_in_bytes")?, cache)
        }
    };
    Some(Group { limit, used, cache })
}

/// The process's own finite limits on memory, each with the bytes left under it:
/// address space (`RLIMIT_AS` less `VmSize`) and data (`RLIMIT_DATA` less `VmData`).
fn process_limits() -> Vec<(Bound, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let in_use = |field: &str| {
        status.lines().find_map(|line| {
            let kib = line.strip_prefix(field)?.trim().strip_suffix("kB")?.trim();
            kib.parse::<u64>().ok().map(|kib| kib * 1024)
        })
    };
    let limits = [
        (
            libc::RLIMIT_AS,
            "VmSize:",
            Bound::AddressSpace as fn(u64) -> Bound,
        ),
        (libc::RLIMIT_DATA, "VmData:", Bound::DataSegment),
    ];
    limits
        .into_iter()
        .filter_map(|(resource, field, bound)| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes one `rlimit` through a pointer to a live local.
            let status = unsafe { libc::getrlimit(resource, &mut limit) };
            let soft =
                (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)?;
            Some((bound(soft), soft.saturating_sub(in_use(field)?)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup/unified rw,relatime shared:6 - cgroup2 cgroup2 rw
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";

    #[test]
    fn groups_are_found_through_mountinfo_with_their_ancestors() {
        let cgroup = "4:memory:/docker/abc/gpucalc-none\n1:cpu:/\n0::/gpucalc-none/job\n";
        let dirs = group_dirs(cgroup, MOUNTINFO);
        // The directories do not exist, so each hierarchy falls back to its
        // mount point.
        assert_eq!(
            dirs,
            vec![
                (Version::V1, PathBuf::from("/sys/fs/cgroup/memory")),
                (Version::V2, PathBuf::from("/sys/fs/cgroup/unified")),
            ]
        );
        assert_eq!(
            mounts_of(Version::V1, MOUNTINFO),
            vec![(
                PathBuf::from("/docker/abc"),
                PathBuf::from("/sys/fs/cgroup/memory")
            )]
        );
        // A second mount of the hierarchy that shows the group, after one
        // that does not: the group is read through the second.
        let two = format!(
            "{MOUNTINFO}\n40 31 0:32 / /mnt/gpucalc-none/memory rw - cgroup cgroup rw,memory"
        );
        assert_eq!(
            group_dirs("4:memory:/batch/gpucalc-none\n", &two),
            vec![(Version::V1, PathBuf::from("/mnt/gpucalc-none/memory"))]
        );
        // A bind mount of the group's own subtree listed before the whole
        // hierarchy: the whole one is read, for the ancestors' limits.
        let narrow_first = "\
41 31 0:32 /batch/gpucalc-none /tmp/gpucalc-none rw - cgroup cgroup rw,memory
42 31 0:32 / /mnt/gpucalc-none/memory rw - cgroup cgroup rw,memory";
        assert_eq!(
            group_dirs("4:memory:/batch/gpucalc-none\n", narrow_first),
            vec![(Version::V1, PathBuf::from("/mnt/gpucalc-none/memory"))]
        );
        // Outside the namespace's root: no group of someone else's is read.
        assert_eq!(group_dirs("0::/../x\n", MOUNTINFO), vec![]);
        assert_eq!(group_dirs("3:cpu,cpuacct:/x\n", MOUNTINFO), vec![]);
        // Outside what the mount shows (a cgroup namespace over the outer mount).
        let namespaced = MOUNTINFO.replace("/docker/abc /sys", "/../.. /sys");
        assert_eq!(group_dirs("4:memory:/\n", &namespaced), vec![]);
        assert_eq!(group_dirs("4:memory:/other\n", MOUNTINFO), vec![]);
        assert_eq!(group_dirs("garbage\n\n0::/\n", ""), vec![]);
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/my\040disk"), PathBuf::from("/mnt/my disk"));
        assert_eq!(unescape(r"/a\\b\04"), PathBuf::from(r"/a\\b\04"));
    }

    /// A cgroup v2 tree in a temporary directory: a limited parent, a child
    /// without a limit, the process in the child.
    #[test]
    fn a_v2_limit_binds_through_the_ancestors_and_cache_counts_as_free() {
        let mount = tempfile::tempdir().unwrap();
        let parent = mount.path().join("batch.slice");
        let child = parent.join("job 7");
        std::fs::create_dir_all(&child).unwrap();
        let write =
            |dir: &Path, name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write(&parent, "memory.max", "1073741824\n");
        write(&parent, "memory.current", "600000000\n");
        write(
            &parent,
            "memory.stat",
            "anon 300000000\nactive_file 100000000\ninactive_file 200000000\n",
        );
        write(&child, "memory.max", "max\n");
        write(&child, "memory.current", "500000000\n");
        let mountinfo = format!(
            "31 25 0:27 / {} rw - cgroup2 cgroup2 rw\n",
            mount.path().display().to_string().replace(' ', r"\040")
        );
        let dirs = group_dirs("0::/batch.slice/job 7\n", &mountinfo);
        assert_eq!(
            dirs,
            vec![
                (Version::V2, child.clone()),
                (Version::V2, parent.clone()),
                (Version::V2, mount.path().to_path_buf()),
            ]
        );
        let groups: Vec<Group> = dirs.iter().filter_map(|(v, d)| read_group(*v, d)).collect();
        assert_eq!(
            groups,
            vec![
                Group {
                    limit: None,
                    used: 500_000_000,
                    cache: 0
                },
                Group {
                    limit: Some(1 << 30),
                    used: 600_000_000,
                    cache: 300_000_000
                },
            ]
        );
        assert_eq!(groups[0].room(), u64::MAX);
        assert_eq!(groups[1].room(), (1 << 30) - 300_000_000);
    }

    #[test]
    fn a_v1_limit_is_read_and_its_no_limit_value_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("memory.limit_in_bytes", "9223372036854771712\n");
        write("memory.usage_in_bytes", "4096\n");
        let group = read_group(Version::V1, dir.path()).unwrap();
        assert_eq!(group.limit, None);
        write("memory.limit_in_bytes", "2147483648\n");
        write("memory.usage_in_bytes", "1000000000\n");
        write(
            "memory.stat",
            "inactive_file 5\ntotal_active_file 100000000\ntotal_inactive_file 0\n",
        );
        let group = read_group(Version::V1, dir.path()).unwrap();
        assert_eq!(group.room(), 2_147_483_648 - 900_000_000);
    }

    #[test]
    fn messages_say_which_limit_binds() {
        let room = |bound| Headroom { bytes: 1, bound }.holder("the host");
        assert_eq!(room(Bound::System), "the host");
        assert_eq!(
            room(Bound::ControlGroup(1 << 30)),
            "the host (under its control group's limit of 1.00 GiB)"
        );
        assert!(room(Bound::AddressSpace(1 << 31)).contains("ulimit -v"));
        let now = headroom().expect("Linux says how much memory there is");
        assert!(now.bytes > 0);
        assert!(total().is_some_and(|total| total > 0));
    }
}
