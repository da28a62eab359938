//! Files and connections: the soft file limit is raised to the hard one at
//! start, and the HTTP connection caps are fitted under it, so a crowd of
//! idle sockets can never take the files the log and devices need.

use crate::config::GateSection;
use crate::http::ServeLimits;
use std::time::Duration;

/// Files kept back from HTTP connections: the database and its WAL, the
/// devices, the listener, tokio's and the writer's own descriptors, logs.
const RESERVED_FILES: u64 = 128;
/// However low the file limit, a few guard screens can still connect.
const MIN_CONNECTIONS: usize = 16;

/// What `raise_nofile` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    pub soft: u64,
    pub hard: u64,
    /// The raise was refused (EPERM: the systemd unit's seccomp filter);
    /// the unit's `LimitNOFILE=` has already set the limit.
    pub refused: bool,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (plain `ulimit -n` is
/// often 1,024, well under what the caps below allow).
///
/// Under systemd the unit's `LimitNOFILE=` sets soft and hard alike, so
/// nothing is asked of the kernel. The unit also filters `@resources`
/// (setrlimit/prlimit64) with `SystemCallErrorNumber=EPERM`, so a raise
/// attempted there fails with EPERM instead of killing the daemon with
/// SIGSYS; EPERM is taken as "the limit is what it is".
pub fn raise_nofile() -> FileLimit {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::info!("file limit unknown: {}", std::io::Error::last_os_error());
        return FileLimit { soft: 1024, hard: 1024, refused: true };
    }
    let (soft, hard) = (lim.rlim_cur, lim.rlim_max);
    if soft >= hard {
        return FileLimit { soft, hard, refused: false };
    }
    // an unlimited hard limit still stops at the kernel's nr_open
    let target = if hard == libc::RLIM_INFINITY { nr_open().min(hard) } else { hard };
    if soft >= target {
        return FileLimit { soft, hard, refused: false };
    }
    let want = libc::rlimit { rlim_cur: target, rlim_max: hard };
    // SAFETY: setrlimit only reads the struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
        tracing::info!("file limit raised from {soft} to {target}");
        return FileLimit { soft: target, hard, refused: false };
    }
    let e = std::io::Error::last_os_error();
    tracing::info!("file limit stays at {soft} (raise to {target} refused: {e})");
    FileLimit { soft, hard, refused: true }
}

fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65536)
}

/// The connection bounds from `[gate]`, with the total cap fitted under the
/// file limit.
pub fn serve_limits(gate: &GateSection, files: FileLimit) -> ServeLimits {
    fit(
        ServeLimits {
            header_timeout: Duration::from_secs(gate.header_timeout_s.into()),
            idle_timeout: Duration::from_secs(gate.idle_timeout_s.into()),
            max_connections: gate.max_connections,
            max_per_address: gate.max_connections_per_address,
        },
        files,
    )
}

/// Fits the caps asked for under the file limit (the district's `[serve]`
/// comes through here too).
pub fn fit(wanted: ServeLimits, files: FileLimit) -> ServeLimits {
    let room = usize::try_from(files.soft.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    let max_connections = wanted.max_connections.min(room).max(MIN_CONNECTIONS);
    ServeLimits { max_connections, max_per_address: wanted.max_per_address.min(max_connections), ..wanted }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_under_the_file_limit() {
        let gate = GateSection::default();
        let low = serve_limits(&gate, FileLimit { soft: 256, hard: 256, refused: false });
        assert_eq!(low.max_connections, 128);
        assert!(low.max_per_address <= low.max_connections);
        let tiny = serve_limits(&gate, FileLimit { soft: 20, hard: 20, refused: true });
        assert_eq!(tiny.max_connections, MIN_CONNECTIONS);
        let high = serve_limits(&gate, FileLimit { soft: 65536, hard: 65536, refused: false });
        assert_eq!(high.max_connections, gate.max_connections);
        assert_eq!(high.header_timeout, Duration::from_secs(gate.header_timeout_s.into()));
    }

    #[test]
    fn raising_never_lowers_and_reports_what_it_found() {
        let f = raise_nofile();
        assert!(f.soft <= f.hard);
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, f.soft);
    }
}
