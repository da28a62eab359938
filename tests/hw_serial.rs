//! The real serial code paths, driven through pseudo-terminals: the test
//! plays the device on the master side, the daemon's reader opens the slave
//! path exactly as it would open /dev/ttyUSB0.

use gatepass::hw::config::{
    HardwareConfig, ScannerConfig, ScannerKind, SerialProtocol, SignalsConfig, ThermometerConfig,
    ThermometerKind,
};
use gatepass::hw::thermometer::BinaryProtocol;
use gatepass::hw::{self, DeviceState, Hardware, ReadingSource};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Pty {
    master: File,
    _slave: File,
    path: PathBuf,
}

fn pty() -> Pty {
    let (mut m, mut s) = (0, 0);
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    unsafe {
        // Raw, so CR/LF and binary bytes arrive untouched and nothing echoes.
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(s, &mut t), 0);
        libc::cfmakeraw(&mut t);
        assert_eq!(libc::tcsetattr(s, libc::TCSANOW, &t), 0);
    }
    let mut name = [0 as libc::c_char; 128];
    let rc = unsafe { libc::ttyname_r(s, name.as_mut_ptr(), name.len()) };
    assert_eq!(rc, 0);
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Pty {
        master: unsafe { File::from_raw_fd(m) },
        _slave: unsafe { File::from_raw_fd(s) },
        path: path.into(),
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

fn thermometer(path: &Path, protocol: SerialProtocol, pattern: &str) -> HardwareConfig {
    HardwareConfig {
        thermometer: ThermometerConfig {
            kind: ThermometerKind::Serial,
            path: Some(path.to_string_lossy().into_owned()),
            protocol,
            pattern: pattern.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn start(cfg: &HardwareConfig) -> (Hardware, tokio::sync::mpsc::Receiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    (hw::start(cfg, false, tx).unwrap(), rx)
}

const FRESH: Duration = Duration::from_secs(10);

fn latest_c(h: &Hardware) -> Option<f64> {
    h.thermometer.latest(FRESH).map(|r| r.celsius)
}

#[test]
fn text_readings_offset_and_absurd_values() {
    let mut p = pty();
    let mut cfg = thermometer(&p.path, SerialProtocol::Text, r"T=(-?\d+\.\d+)");
    cfg.thermometer.offset_c = 0.4;
    let (h, _rx) = start(&cfg);
    wait_for("serial thermometer ok", || {
        h.thermometer.status().state == DeviceState::Ok
    });

    p.master.write_all(b"noise\xff\x00T=36.2\r\n").unwrap();
    wait_for("first reading", || latest_c(&h).is_some());
    let r = h.thermometer.latest(FRESH).unwrap();
    assert_eq!(r.raw_celsius, 36.2);
    assert!((r.celsius - 36.6).abs() < 1e-9);
    assert_eq!(r.source, ReadingSource::Serial);

    p.master.write_all(b"T=999.9\r\nT=-40.0\r\nT=36.").unwrap();
    wait_for("two rejected", || h.thermometer.status().rejected == 2);
    assert_eq!(h.thermometer.latest(FRESH).unwrap().raw_celsius, 36.2);
    // The half line completes on the next write.
    p.master.write_all(b"8\r\n").unwrap();
    wait_for("split reading", || {
        h.thermometer.latest(FRESH).map(|r| r.raw_celsius) == Some(36.8)
    });
    let st = h.thermometer.status();
    assert_eq!((st.readings, st.rejected), (2, 2));
    assert!(st.last_reading_age_ms.is_some());
    // A reading is not used once older than max_age.
    std::thread::sleep(Duration::from_millis(30));
    assert!(h.thermometer.latest(Duration::from_millis(20)).is_none());
}

#[test]
fn gy_mcu90615_frames_with_noise_bad_sums_and_splits() {
    let mut p = pty();
    let cfg = thermometer(&p.path, SerialProtocol::GyMcu90615, "");
    let (h, _rx) = start(&cfg);
    wait_for("serial thermometer ok", || {
        h.thermometer.status().state == DeviceState::Ok
    });

    // The module is told to stream on open.
    let mut cmd = [0u8; 3];
    p.master.read_exact(&mut cmd).unwrap();
    assert_eq!(cmd, [0xA5, 0x45, 0xEA]);

    let proto = BinaryProtocol::GyMcu90615;
    let good = proto.encode(36.55, 24.0);
    let mut bad = proto.encode(37.9, 24.0);
    bad[8] = bad[8].wrapping_add(7);
    let mut stream = vec![0x13, 0x5A, 0xFF, 0x00];
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&good[..5]);
    p.master.write_all(&stream).unwrap();
    wait_for("bad checksum counted", || {
        h.thermometer.status().rejected == 1
    });
    assert!(latest_c(&h).is_none());
    std::thread::sleep(Duration::from_millis(30));
    p.master.write_all(&good[5..]).unwrap();
    wait_for("split frame", || latest_c(&h) == Some(36.55));

    // Absurd values in well-formed frames are rejected, not used.
    // 327.67 °C is the largest a frame can carry (999.9 does not fit).
    let mut absurd = proto.encode(327.67, 20.0).to_vec();
    absurd.extend_from_slice(&proto.encode(-40.0, 20.0));
    p.master.write_all(&absurd).unwrap();
    wait_for("absurd rejected", || h.thermometer.status().rejected == 3);
    assert_eq!(latest_c(&h), Some(36.55));
}

#[test]
fn cjmcu_90614_frames() {
    let mut p = pty();
    let cfg = thermometer(&p.path, SerialProtocol::Cjmcu90614, "");
    let (h, _rx) = start(&cfg);
    wait_for("serial thermometer ok", || {
        h.thermometer.status().state == DeviceState::Ok
    });
    let mut cmd = [0u8; 4];
    p.master.read_exact(&mut cmd).unwrap();
    assert_eq!(cmd, [0x66, 0x66, 0x01, 0x56]);
    let mut stream = vec![0x66, 0x00, 0x66];
    stream.extend_from_slice(&BinaryProtocol::Cjmcu90614.encode(36.9, 25.5));
    p.master.write_all(&stream).unwrap();
    wait_for("cjmcu reading", || latest_c(&h) == Some(36.9));
}

#[test]
fn unplug_reports_down_and_replug_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("gatepass-thermometer");
    let retarget = |target: &Path| {
        let tmp = dir.path().join("link.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
    };
    let mut first = pty();
    retarget(&first.path);
    let cfg = thermometer(&link, SerialProtocol::Text, r"(\d+\.\d+)");
    let (h, _rx) = start(&cfg);
    wait_for("ok", || h.thermometer.status().state == DeviceState::Ok);
    first.master.write_all(b"36.4\n").unwrap();
    wait_for("reading", || latest_c(&h) == Some(36.4));

    drop(first); // the cable is pulled
    wait_for("down", || h.thermometer.status().state == DeviceState::Down);
    let st = h.thermometer.status();
    assert!(st.detail.contains("gatepass-thermometer"), "{}", st.detail);
    // The last reading stays usable while fresh; the daemon keeps serving.
    assert_eq!(latest_c(&h), Some(36.4));

    let mut second = pty();
    retarget(&second.path);
    wait_for("reopened", || {
        h.thermometer.status().state == DeviceState::Ok
    });
    second.master.write_all(b"37.0\n").unwrap();
    wait_for("reading after replug", || latest_c(&h) == Some(37.0));
}

#[test]
fn missing_device_is_down_with_a_clear_message() {
    let cfg = thermometer(
        Path::new("/dev/gatepass-no-such-tty"),
        SerialProtocol::Text,
        r"(\d+\.\d+)",
    );
    let (h, _rx) = start(&cfg);
    wait_for("down", || {
        h.thermometer
            .status()
            .detail
            .contains("/dev/gatepass-no-such-tty")
    });
    let st = h.thermometer.status();
    assert_eq!(st.state, DeviceState::Down);
    assert!(!st.detail.contains('\n'));
    assert!(h.thermometer.latest(FRESH).is_none());
}

#[test]
fn serial_scanner_codes_with_cr_lf_crlf_and_garbage() {
    let mut p = pty();
    let cfg = HardwareConfig {
        scanner: ScannerConfig {
            kind: ScannerKind::Serial,
            path: Some(p.path.to_string_lossy().into_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (h, mut rx) = start(&cfg);
    wait_for("scanner ok", || h.scanner.status().state == DeviceState::Ok);
    p.master.write_all(b"GP1:AAA\rGP1:BBB\nGP1:CC").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    p.master.write_all(b"C\r\n\r\n\xff\xfe\x00\n").unwrap();
    p.master.write_all(&[b'Z'; 700]).unwrap();
    p.master.write_all(b"\r\n  GP1:DDD \r\n").unwrap();
    let mut codes = Vec::new();
    wait_for("four codes", || {
        while let Ok(c) = rx.try_recv() {
            codes.push(c);
        }
        codes.len() >= 4
    });
    assert_eq!(codes, ["GP1:AAA", "GP1:BBB", "GP1:CCC", "GP1:DDD"]);
    let st = h.scanner.status();
    assert_eq!((st.readings, st.rejected), (4, 2));
}

#[test]
fn simulated_devices() {
    let cfg = HardwareConfig {
        thermometer: ThermometerConfig {
            kind: ThermometerKind::Mlx90614,
            ..Default::default()
        },
        scanner: ScannerConfig {
            kind: ScannerKind::Hid,
            path: Some("/dev/input/event0".into()),
            ..Default::default()
        },
        signals: SignalsConfig {
            enabled: true,
            green_pin: Some(17),
            relay_pin: Some(23),
            ..Default::default()
        },
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let h = hw::start(&cfg, true, tx).unwrap();
    wait_for("simulated reading", || {
        h.thermometer.latest(FRESH).is_some()
    });
    let r = h.thermometer.latest(FRESH).unwrap();
    assert!((36.2..=36.9).contains(&r.celsius), "{}", r.celsius);
    assert_eq!(r.source, ReadingSource::I2c);
    for (name, st) in h.statuses() {
        assert_eq!(st.state, DeviceState::Simulated, "{name}");
    }
    h.signals
        .show(gatepass::domain::rules::Decision::Allow, true);
    assert_eq!(h.signals.status().readings, 1);
    // The relay goes on before `show` returns; the recorder proves it.
    let rec = h.signals.simulated().unwrap();
    assert!(rec.take_actions().contains(&hw::SignalAction {
        output: hw::signals::Output::Relay,
        on: true
    }));
}

#[test]
fn off_a_pi_i2c_and_gpio_fall_back_to_simulation() {
    if rppal::system::DeviceInfo::new().is_ok() {
        return; // on a real Pi the real devices are used
    }
    let cfg = HardwareConfig {
        thermometer: ThermometerConfig {
            kind: ThermometerKind::Mlx90614,
            ..Default::default()
        },
        signals: SignalsConfig {
            enabled: true,
            red_pin: Some(27),
            ..Default::default()
        },
        ..Default::default()
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let h = hw::start(&cfg, false, tx).unwrap();
    let t = h.thermometer.status();
    assert_eq!(t.state, DeviceState::Simulated);
    assert!(t.detail.contains("not a Raspberry Pi"), "{}", t.detail);
    let s = h.signals.status();
    assert_eq!(s.state, DeviceState::Simulated);
    assert!(s.detail.contains("using simulated GPIO"), "{}", s.detail);
}

#[test]
fn invalid_config_is_refused_at_start() {
    let cfg = HardwareConfig {
        thermometer: ThermometerConfig {
            kind: ThermometerKind::Serial,
            ..Default::default()
        },
        ..Default::default()
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let err = hw::start(&cfg, false, tx).err().unwrap().to_string();
    assert!(err.contains("thermometer.path"), "{err}");
}
