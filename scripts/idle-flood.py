#!/usr/bin/env python3
"""Scan latency over HTTP while a crowd of idle TCP sockets is held open
(issue 9: 1,100 silent connections once exhausted the daemon's 1,024 files).

Makes a throw-away gate, starts `gatepass serve` with RLIMIT_NOFILE 1024
(as the incident), then for each scenario opens the crowd and measures
scans, each a guard-page-like POST /api/v1/scan:
  keep-alive  one connection reused (a guard page)
  fresh       a new connection per scan (a screen that just reconnected)

  python3 scripts/idle-flood.py target/release/gatepass [--crowd 1100] [--scans 300]
"""
import argparse, csv, http.client, json, os, resource, socket, statistics, subprocess, sys, tempfile, time

REGISTER = "户号,地址,网格,姓名,电话,类别\n1-101,1号楼101,A,张三,13800000001,正常\n"


def run(exe, d, *args):
    return subprocess.run([exe, "--data-dir", d, *args], check=True, capture_output=True, text=True).stdout


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def measure(port, token, payload, n, fresh):
    body = json.dumps({"payload": payload, "temperature_c": 36.5})
    hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    lat, conn = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        if fresh or conn is None:
            if conn:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("POST", "/api/v1/scan", body, hdr)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"scan answered {r.status}")
        lat.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return lat


def crowd(port, n, addresses):
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind((f"127.0.0.{2 + i % addresses}", 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gatepass")
    ap.add_argument("--crowd", type=int, default=1100)
    ap.add_argument("--scans", type=int, default=300)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.crowd * 2 + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.crowd * 2 + 256), hard))
    tmp = tempfile.mkdtemp()
    d = os.path.join(tmp, "gate")
    exe = os.path.abspath(a.gatepass)
    run(exe, d, "init", "--community", "bench", "--gate", "east")
    cfg = os.path.join(d, "gatepass.toml")
    text = open(cfg).read().replace('hours = "06:00-20:00"', 'hours = "00:00-24:00"')
    # allowed or refused, every scan is a durable write: that is what is timed
    open(cfg, "w").write(text)
    reg = os.path.join(tmp, "r.csv")
    open(reg, "w").write(REGISTER)
    run(exe, d, "household", "import", reg)
    run(exe, d, "pass", "issue", "--all", "--out", os.path.join(tmp, "cards"))
    payload = list(csv.reader(open(os.path.join(tmp, "cards", "passes.csv"))))[1][3]
    token = run(exe, d, "token", "create", "--role", "guard").strip()
    daemon = subprocess.Popen(
        [exe, "--data-dir", d, "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)),
    )
    port = int(daemon.stdout.readline().strip().rsplit(":", 1)[1])
    print(f"gatepass {exe}, RLIMIT_NOFILE 1024, {a.scans} scans per line (ms)")
    print(f"{'scenario':<44} {'p50':>7} {'p99':>7} {'max':>7}")
    try:
        measure(port, token, payload, 20, False)  # warm up
        for label, n, addrs in [("no crowd", 0, 1), (f"{a.crowd} idle from 1 address", a.crowd, 1),
                                (f"{a.crowd} idle from 20 addresses", a.crowd, 20)]:
            for fresh in (False, True):
                socks = crowd(port, n, addrs)
                lat = measure(port, token, payload, a.scans, fresh)
                name = f"{label}, {'fresh conn' if fresh else 'keep-alive'}"
                print(f"{name:<44} {statistics.median(lat):7.2f} {pct(lat, 99):7.2f} {max(lat):7.2f}")
                for s in socks:
                    s.close()
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
