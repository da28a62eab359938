//! Is the wall clock confirmed? A Pi without a battery clock restarts at the
//! last time fake-hwclock saved (up to an hour before a power cut), so events
//! are marked suspect until the time is known good.
//!
//! Confirmed means either systemd-timesyncd has synchronised with NTP (it
//! creates `/run/systemd/timesync/synchronized`) or a hardware RTC is present
//! (`/sys/class/rtc/rtc0`: a DS3231 via `firmware-config/rtc-ds3231.txt`, or
//! the Pi 5's own RTC, which keeps time only with a battery on J5).
//!
//! Usual failures: never confirmed although online → `timedatectl
//! show-timesync`; enable with `systemctl enable --now systemd-timesyncd`.
//! Note that the Pi 5 always has `rtc0`, even with no battery fitted.

use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockState {
    pub confirmed: bool,
    /// "ntp", "rtc" or "none".
    pub source: &'static str,
    pub detail: String,
}

/// Checks the system's files; two `stat` calls, cheap enough every few seconds.
pub fn confirmed() -> ClockState {
    confirmed_at(Path::new("/"))
}

/// Same as [`confirmed`] under another root directory (tests).
pub fn confirmed_at(root: &Path) -> ClockState {
    if root.join("run/systemd/timesync/synchronized").exists() {
        return ClockState {
            confirmed: true,
            source: "ntp",
            detail: "synchronised with network time (systemd-timesyncd)".into(),
        };
    }
    let rtc = root.join("sys/class/rtc/rtc0");
    if rtc.exists() {
        let name = std::fs::read_to_string(rtc.join("name")).unwrap_or_default();
        let name = name.trim();
        return ClockState {
            confirmed: true,
            source: "rtc",
            detail: if name.is_empty() {
                "hardware clock rtc0 present".into()
            } else {
                format!("hardware clock rtc0 present ({name})")
            },
        };
    }
    ClockState {
        confirmed: false,
        source: "none",
        detail: "no network time yet and no hardware clock: event times are suspect (fit a DS3231, see docs/hardware.md)".into(),
    }
}

/// What `Hardware` carries; call `state()` whenever health is asked for.
#[derive(Debug, Clone)]
pub struct ClockProbe {
    root: PathBuf,
}

impl ClockProbe {
    pub fn system() -> ClockProbe {
        ClockProbe { root: "/".into() }
    }
    pub fn with_root(root: impl Into<PathBuf>) -> ClockProbe {
        ClockProbe { root: root.into() }
    }
    pub fn state(&self) -> ClockState {
        confirmed_at(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_then_rtc_then_ntp() {
        let d = tempfile::tempdir().unwrap();
        let p = ClockProbe::with_root(d.path());
        let s = p.state();
        assert!(!s.confirmed);
        assert_eq!(s.source, "none");

        std::fs::create_dir_all(d.path().join("sys/class/rtc/rtc0")).unwrap();
        std::fs::write(
            d.path().join("sys/class/rtc/rtc0/name"),
            "rtc-ds1307 1-0068\n",
        )
        .unwrap();
        let s = p.state();
        assert!(s.confirmed);
        assert_eq!(s.source, "rtc");
        assert!(s.detail.contains("rtc-ds1307"));

        std::fs::create_dir_all(d.path().join("run/systemd/timesync")).unwrap();
        std::fs::write(d.path().join("run/systemd/timesync/synchronized"), "").unwrap();
        assert_eq!(p.state().source, "ntp");
    }
}
