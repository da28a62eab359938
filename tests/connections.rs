//! The real daemon against a crowd of idle sockets (issue 9): 1,100 silent
//! TCP connections once used up its 1,024 files and every guard screen's
//! scan timed out. The daemon now closes idle sockets, caps connections
//! per address and in all (evicting the idlest), and the USB scanner does
//! not go through HTTP at all.

mod common;
use common::*;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CROWD: usize = 1100;

/// The daemon with RLIMIT_NOFILE `soft`/`hard`, as a unit or shell would
/// start it.
fn start_with_files(dir: &Path, soft: u64, hard: u64) -> Daemon {
    Daemon::start_with(dir, |cmd| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// This test process needs room for the crowd as well as its own files.
fn room_for_crowd() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let need = (CROWD as u64) * 2 + 256;
    if lim.rlim_cur < need {
        assert!(lim.rlim_max >= need, "this test needs {need} files; the hard limit is {}", lim.rlim_max);
        let raised = libc::rlimit { rlim_cur: need, rlim_max: lim.rlim_max };
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) }, 0);
    }
}

fn addr(d: &Daemon) -> SocketAddr {
    d.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from a chosen loopback address (127.0.0.0/8 is all ours).
fn connect_from(local: &str, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(local.parse().unwrap(), 0).into()).unwrap();
    sock.connect(&to.into()).unwrap();
    sock.into()
}

/// True when the daemon has closed the socket (EOF or reset) within `wait`.
fn closed_within(mut s: &TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => true, // a refusal (503) is followed by the close
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("read: {e}"),
    }
}

struct Pty {
    master: File,
    _slave: File,
    path: PathBuf,
}

/// A pseudo-terminal playing the USB-serial scanner (as tests/hw_serial.rs).
fn pty() -> Pty {
    let (mut m, mut s) = (0, 0);
    let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(s, &mut t), 0);
        libc::cfmakeraw(&mut t);
        assert_eq!(libc::tcsetattr(s, libc::TCSANOW, &t), 0);
    }
    let mut name = [0 as libc::c_char; 128];
    assert_eq!(unsafe { libc::ttyname_r(s, name.as_mut_ptr(), name.len()) }, 0);
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
    Pty { master: unsafe { File::from_raw_fd(m) }, _slave: unsafe { File::from_raw_fd(s) }, path: path.into() }
}

/// 1,100 idle sockets against a daemon with the 1,024 files of the
/// incident: a scan over a fresh connection still gets its answer, a code
/// from the serial scanner is still decided, and the daemon closes every
/// idle socket after its header timeout.
#[test]
fn a_crowd_of_idle_sockets_locks_out_neither_scans_nor_the_scanner() {
    room_for_crowd();
    let mut scanner = pty();
    let scanner_path = scanner.path.to_string_lossy().into_owned();
    let g = GateDir::with_config(|t| {
        *t = t.replace("[gate]\n", "[gate]\nheader_timeout_s = 1\nidle_timeout_s = 2\n");
        *t = t.replace(
            "[scanner]\nkind = \"none\"",
            &format!("[scanner]\nkind = \"serial\"\npath = \"{scanner_path}\"\nbaud = 9600\n#"),
        );
    });
    let guard = g.token("guard");
    let reader = g.token("district");
    let d = start_with_files(&g.dir, 1024, 1024);
    let to = addr(&d);

    let crowd: Vec<TcpStream> = (0..CROWD).map(|_| TcpStream::connect(to).unwrap()).collect();

    // the scanner's code is decided while the crowd is held
    use std::io::Write;
    scanner.master.write_all(format!("{}\r\n", g.pass("李四").payload).as_bytes()).unwrap();

    // a guard screen's scan over a fresh connection
    let t0 = Instant::now();
    let r = scan(&client(), &d, &guard, json!({"payload": g.pass("张三").payload, "temperature_c": 36.5}));
    assert_eq!(r.status(), 200, "the scan was not answered with {CROWD} idle sockets open");
    let v: Value = r.json().unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    eprintln!("scan answered in {:?} with {CROWD} idle sockets", t0.elapsed());

    let li_si = g.pass("李四").pass_id.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ev: Value = client().get(d.url("/api/v1/events")).bearer_auth(&reader).send().unwrap().json().unwrap();
        let text = ev["events"].to_string();
        if text.contains(&format!("\"pass_id\":{li_si}")) {
            break;
        }
        assert!(Instant::now() < deadline, "the scanner's code was never decided: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // every idle socket is closed by the daemon (evicted, or after the
    // one-second header timeout); none is left holding a file
    let open = crowd.iter().filter(|s| !closed_within(s, Duration::from_secs(5))).count();
    assert_eq!(open, 0, "{open} idle sockets were never closed");
    drop(d);
    ok(&g.dir, &["events", "verify"]);
}

/// A flood from one address evicts only its own idle sockets: another
/// address's kept-alive connections stay open. The live stream, a request
/// in flight, outlives the idle timeout.
#[test]
fn per_address_cap_spares_other_addresses_and_the_live_stream_outlives_idle() {
    room_for_crowd();
    let g = GateDir::with_config(|t| {
        *t = t.replace(
            "[gate]\n",
            "[gate]\nheader_timeout_s = 30\nidle_timeout_s = 1\nmax_connections_per_address = 8\n",
        );
    });
    let guard = g.token("guard");
    let d = Daemon::start(&g.dir);
    let to = addr(&d);

    // the live view, held by a guard page on 127.0.0.4
    let sse =
        reqwest::blocking::Client::builder().local_address("127.0.0.4".parse::<IpAddr>().unwrap()).build().unwrap();
    let mut stream = sse.get(d.url("/api/v1/stream")).bearer_auth(&guard).send().unwrap();
    assert_eq!(stream.status(), 200);
    let mut buf = [0u8; 4096];

    let ours: Vec<TcpStream> = (0..8).map(|_| connect_from("127.0.0.1", to)).collect();
    let flood: Vec<TcpStream> = (0..200).map(|_| connect_from("127.0.0.2", to)).collect();
    // answered only after every earlier connection was accepted (FIFO)
    let sync =
        reqwest::blocking::Client::builder().local_address("127.0.0.3".parse::<IpAddr>().unwrap()).build().unwrap();
    assert_eq!(sync.get(d.url("/api/v1/health")).send().unwrap().status(), 200);

    let still_open = ours.iter().filter(|s| !closed_within(s, Duration::from_millis(200))).count();
    assert_eq!(still_open, 8, "another address's flood evicted our connections");
    let closed = flood.iter().filter(|s| closed_within(s, Duration::from_millis(200))).count();
    assert!(closed >= 200 - 8, "only {closed} of the flood's 200 sockets were closed; the cap is 8");

    // a kept-alive connection that has been answered is closed after the
    // one-second idle timeout, long before the 30-second header timeout
    let mut kept = connect_from("127.0.0.5", to);
    use std::io::Write;
    kept.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: gate\r\n\r\n").unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    loop {
        match kept.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the idle kept-alive connection was not closed: {e}"),
        }
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    assert!(t0.elapsed() < Duration::from_secs(5));

    // well past the one-second idle timeout, the stream still carries scans
    std::thread::sleep(Duration::from_millis(2500));
    scan(&client(), &d, &guard, json!({"payload": g.pass("张三").payload, "temperature_c": 36.5}));
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("张三") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the live stream was cut by the idle timeout");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Started from a shell with `ulimit -n 1024` under a higher hard limit,
/// the daemon raises its soft limit to the hard one.
#[test]
fn the_soft_file_limit_is_raised_to_the_hard_one() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let hard = lim.rlim_max.min(4096);
    assert!(hard > 512, "the hard file limit here ({}) leaves nothing to raise", lim.rlim_max);
    let g = GateDir::new();
    let d = start_with_files(&g.dir, 512, hard);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.child.id())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums, [hard.to_string(), hard.to_string()], "{line}");
}
