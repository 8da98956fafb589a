//! Mounted filesystems' space and inodes (statvfs of each mount in `/proc/mounts`) and
//! the kernel's file handles (node_exporter's `filesystem` and `filefd` collectors).

use std::collections::BTreeSet;
use std::path::Path;

use super::{HostCollector, Sink};

/// Filesystems whose sizes mean nothing to a person watching disk space
/// (node_exporter leaves out the same kinds by default, and `overlay` too; it is kept
/// here because in a container, where Pharos often runs, `/` is an overlay).
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "erofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
    "nfsd",
    "ramfs",
];

pub(super) fn filesystem(c: &HostCollector, sink: &mut Sink) -> bool {
    // Sizes come from statvfs, which describes this machine, not a fixture.
    if !c.live {
        return false;
    }
    let Some(text) = c.read_proc("mounts") else {
        return false;
    };
    for m in parse_mounts(&text) {
        let stats = statvfs(Path::new(&m.mountpoint));
        let error = match &stats {
            Some(_) => String::new(),
            None => std::io::Error::last_os_error().to_string(),
        };
        let l = [
            ("device", m.device.as_str()),
            ("device_error", error.as_str()),
            ("fstype", m.fstype.as_str()),
            ("mountpoint", m.mountpoint.as_str()),
        ];
        sink.gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            &l,
            if stats.is_some() { 0.0 } else { 1.0 },
        );
        let readonly = stats.as_ref().map_or(m.readonly, |s| s.readonly);
        sink.gauge(
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            &l,
            if readonly { 1.0 } else { 0.0 },
        );
        let Some(fs) = stats else { continue };
        sink.gauge(
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            &l,
            fs.size,
        );
        sink.gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            &l,
            fs.free,
        );
        sink.gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            &l,
            fs.avail,
        );
        sink.gauge(
            "node_filesystem_files",
            "Filesystem total file nodes.",
            &l,
            fs.files,
        );
        sink.gauge(
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            &l,
            fs.files_free,
        );
    }
    true
}

/// `/proc/sys/fs/file-nr`: allocated, unused (always 0 since Linux 2.6), maximum.
pub(super) fn filefd(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("sys/fs/file-nr") else {
        return false;
    };
    let f: Vec<f64> = text
        .split_ascii_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    if f.len() < 3 {
        return false;
    }
    sink.gauge(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        &[],
        f[0],
    );
    sink.gauge(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        &[],
        f[2],
    );
    true
}

#[derive(Debug, PartialEq)]
struct Mount {
    device: String,
    mountpoint: String,
    fstype: String,
    readonly: bool,
}

fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut seen = BTreeSet::new();
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let (device, mountpoint, fstype) = (f.next()?, f.next()?, f.next()?);
            let options = f.next().unwrap_or("");
            if PSEUDO_FILESYSTEMS.contains(&fstype) || excluded_mountpoint(mountpoint) {
                return None;
            }
            // /proc/mounts escapes spaces and tabs in paths as octal.
            let mountpoint = unescape_octal(mountpoint);
            seen.insert(mountpoint.clone()).then(|| Mount {
                device: unescape_octal(device),
                mountpoint,
                fstype: fstype.to_string(),
                readonly: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// node_exporter's default `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|
/// var/lib/containers/storage/.+)($|/)`: kernel interfaces, and the per-container
/// mounts of a Docker or Podman host.
fn excluded_mountpoint(mountpoint: &str) -> bool {
    let whole = |dir: &str| {
        mountpoint
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let below = |dir: &str| {
        mountpoint
            .strip_prefix(dir)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    };
    whole("/dev")
        || whole("/proc")
        || whole("/sys")
        || below("/run/credentials")
        || below("/var/lib/docker")
        || below("/var/lib/containers/storage")
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) struct FsStats {
    size: f64,
    free: f64,
    pub(super) avail: f64,
    files: f64,
    files_free: f64,
    readonly: bool,
}

pub(super) fn statvfs(path: &Path) -> Option<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `s` is written by the call before we
    // read it (checked by the return value).
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let s = unsafe { s.assume_init() };
    let frag = s.f_frsize as f64;
    Some(FsStats {
        size: s.f_blocks as f64 * frag,
        free: s.f_bfree as f64 * frag,
        avail: s.f_bavail as f64 * frag,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
        readonly: s.f_flag & libc::ST_RDONLY != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn mounts_skip_pseudo_filesystems_and_unescape_paths() {
        let text = "proc /proc proc rw 0 0\n/dev/vda1 / ext4 rw 0 0\n/dev/vdb /mnt/my\\040disk xfs ro,noatime 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/vda1 / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\noverlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0\n/dev/vda1 /var/lib/docker ext4 rw 0 0\n/dev/vda1 /devices ext4 rw 0 0\n";
        let got = parse_mounts(text);
        assert_eq!(
            got.iter()
                .map(|m| (m.mountpoint.as_str(), m.readonly))
                .collect::<Vec<_>>(),
            vec![
                ("/", false),
                ("/mnt/my disk", true),
                ("/run", false),
                ("/var/lib/docker", false),
                ("/devices", false)
            ]
        );
    }

    #[test]
    fn file_handles_allocated_and_maximum() {
        let (root, c) = fixture("filefd", &[("proc/sys/fs/file-nr", "1024\t0\t9223372\n")]);
        let got = run(|s| filefd(&c, s));
        assert_eq!(
            got,
            vec![
                ("node_filefd_allocated{}".into(), 1024.0),
                ("node_filefd_maximum{}".into(), 9_223_372.0)
            ]
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
