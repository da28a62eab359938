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

use crate::clock::ClockState;
use std::path::Path;

/// Checks the system's files; two `stat` calls, cheap enough every few seconds.
pub fn confirmed() -> ClockState {
    confirmed_at(Path::new("/"))
}

/// Same as [`confirmed`] under another root directory (tests).
pub fn confirmed_at(root: &Path) -> ClockState {
    if root.join("run/systemd/timesync/synchronized").exists() {
        return ClockState {
            trusted: true,
            source: "ntp".into(),
            detail: "synchronised with network time (systemd-timesyncd)".into(),
        };
    }
    let rtc = root.join("sys/class/rtc/rtc0");
    if rtc.exists() {
        let name = std::fs::read_to_string(rtc.join("name")).unwrap_or_default();
        let name = name.trim();
        return ClockState {
            trusted: true,
            source: "rtc".into(),
            detail: if name.is_empty() {
                "hardware clock rtc0 present".into()
            } else {
                format!("hardware clock rtc0 present ({name})")
            },
        };
    }
    ClockState {
        trusted: false,
        source: "none".into(),
        detail:
            "no network time yet and no hardware clock: event times are suspect (fit a DS3231, see docs/hardware.md)"
                .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_then_rtc_then_ntp() {
        let d = tempfile::tempdir().unwrap();
        let state = || confirmed_at(d.path());
        let s = state();
        assert!(!s.trusted);
        assert_eq!(s.source, "none");

        std::fs::create_dir_all(d.path().join("sys/class/rtc/rtc0")).unwrap();
        std::fs::write(d.path().join("sys/class/rtc/rtc0/name"), "rtc-ds1307 1-0068\n").unwrap();
        let s = state();
        assert!(s.trusted);
        assert_eq!(s.source, "rtc");
        assert!(s.detail.contains("rtc-ds1307"));

        std::fs::create_dir_all(d.path().join("run/systemd/timesync")).unwrap();
        std::fs::write(d.path().join("run/systemd/timesync/synchronized"), "").unwrap();
        assert_eq!(state().source, "ntp");
    }
}
