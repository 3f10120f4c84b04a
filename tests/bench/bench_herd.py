#!/usr/bin/env python3
"""bench_herd.py - the recovery herd, measured: 10 breakerd instances (a
3-node ZooKeeper ensemble) in front of a real recovering dependency, the
flaky HTTP service with a capacity (requests above RATE/s get 503) that
warms up after it comes back (10 % -> 100 % of RATE over WARMUP s, as
cold caches do).  Every instance has an application thread offering a
steady rate of calls: ALLOW, then (if allowed) a real HTTP request, then
REPORT ok|fail.

Two runs, same fleet, same load: one dependency without a ramp (the step)
and one with a linear ramp.  Each run: the service fails (the leader's
health checks open the fleet), comes back warming up, the leader's
probes close the fleet; for RUN_S seconds after the close the dependency's
request rate and failures are printed second by second beside the ramp's
curve (offered calls x the curve's mean share in that second).  Targets:
with the ramp the peak is <= 1.2x the curve and the herd causes no
re-trip; the step is printed as the baseline.

Then the ZooKeeper cost of the fleet window: writes per second per
instance under steady traffic (bound: one per interval) and while idle
(bound: none), the leader's reads per interval, and the ensemble's zxid
advance as a cross-check.

    python3 tests/bench/bench_herd.py [--png PATH] [--keep]

--png writes the picture (gnuplot, if installed) to PATH; by default it
goes to build/bench/recovery-ramp.png (docs/recovery-ramp.png is made by
`--png docs/recovery-ramp.png`).  Timing never fails the run: a missed
target is printed.  Exit status 1 only when something broke.
"""

import argparse
import http.client
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bdlib as h  # noqa: E402

N = 10                # instances
RATE_PER_APP = 15     # calls/s each application offers
CAPACITY = 180        # the service's full capacity, requests/s (1.2x load)
WARMUP_MS = 12000     # capacity 10 % -> 100 % after coming back
RAMP = {"duration_ms": 10000, "curve": "linear", "min_pct": 10}
RUN_S = 14            # seconds printed after the close
FW_INTERVAL_MS = 2000
LOCAL = {
    "breaker": {"window_size": 20, "minimum_calls": 10,
                "failure_rate_pct": 50, "open_wait_ms": 3000,
                "open_wait_max_ms": 60000, "jitter_pct": 0},
    "quorum": {"min_votes": 2, "fraction_pct": 30},
    "probe": {"count": 2, "interval_ms": 200},
}
failures = []


def log(msg=""):
    print(msg, flush=True)


def dep_configs(flaky):
    health = {"http": flaky.url("/health"), "interval_ms": 500,
              "jitter_ms": 0, "timeout_ms": 400, "unhealthy_threshold": 2,
              "healthy_threshold": 1}
    step = dict(LOCAL, name="step", health=health)
    ramp = dict(LOCAL, name="ramp", health=health, ramp=RAMP)
    fw = {"name": "fw", "fleet_window": {"interval_ms": FW_INTERVAL_MS}}
    return [step, ramp, fw]


def share(t):
    """The linear ramp's share t seconds after the close."""
    d = RAMP["duration_ms"] / 1000.0
    lo = RAMP["min_pct"] / 100.0
    return 1.0 if t >= d else lo + (1.0 - lo) * t / d


def mean_share(s):
    """The curve's mean share over second s (0-based) after the close."""
    return sum(share(s + k / 100.0) for k in range(100)) / 100.0


class App(threading.Thread):
    """One application beside one daemon: RATE_PER_APP calls a second."""

    def __init__(self, d, flaky, dep, stop):
        super().__init__(daemon=True)
        self.d, self.flaky, self.dep, self.stop = d, flaky, dep, stop
        self.events = []  # (monotonic t, allowed, ok)

    def call(self, c, conn):
        r = c.cmd("ALLOW %s" % self.dep)
        if r != "OK ALLOW":
            return False, None, conn
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1",
                                                  self.flaky.port, timeout=2)
            conn.request("GET", "/work")
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except (OSError, http.client.HTTPException):
            conn, ok = None, False
        c.cmd("REPORT %s %s" % (self.dep, "ok" if ok else "fail"))
        return True, ok, conn

    def run(self):
        conn, period = None, 1.0 / RATE_PER_APP
        nxt = time.monotonic()
        with self.d.client(timeout=10) as c:
            while not self.stop.is_set():
                t = time.monotonic()
                allowed, ok, conn = self.call(c, conn)
                self.events.append((t, allowed, ok))
                # a steady rate: a late call is not made up for by a burst
                nxt = max(nxt + period, time.monotonic())
                time.sleep(max(0.0, nxt - time.monotonic()))


def record(ens, dep):
    out = h.run_tool([h.BUILD / "tools" / "zkctl", ens.hosts, "get",
                      "%s/deps/%s/state" % (h.zk_root(), dep)])
    try:
        return json.loads(out.stdout)
    except ValueError:
        return {}


def watch_events(d, dep, sink, stop):
    """Every EVENT line for dep on d, with its monotonic arrival time."""
    with d.client(timeout=1) as c:
        c.send("WATCH %s" % dep)
        c.readline(timeout=5)
        while not stop.is_set():
            ln = c.readline(timeout=0.5)
            if ln:
                sink.append((time.monotonic(), ln))


def one_run(ens, ds, flaky, dep):
    """Outage, recovery with warm-up, RUN_S s after the close; the table
    rows (second, offered, sent, failed, curve) and the re-trip, if any."""
    stop, wstop = threading.Event(), threading.Event()
    events = []
    watcher = threading.Thread(target=watch_events,
                               args=(ds[0], dep, events, wstop), daemon=True)
    watcher.start()
    apps = [App(d, flaky, dep, stop) for d in ds]
    for a in apps:
        a.start()
    time.sleep(1.0)
    flaky.set_mode("error")
    h.wait_until(lambda: record(ens, dep).get("state") == "OPEN", 30, 0.1,
                 "%s: the health checks open the fleet" % dep)
    flaky._control("/_control/mode?m=ok&rate=%d&warmup_ms=%d"
                   % (CAPACITY, WARMUP_MS))
    up = time.monotonic()

    def closed():
        for t, ln in events:
            if " CLOSED " in ln and t >= up:
                return t
        return None
    t0 = h.wait_until(closed, 30, 0.05, "%s: the probes close it" % dep)
    time.sleep(RUN_S + 0.5)
    stop.set()
    for a in apps:
        a.join(10)
    wstop.set()
    watcher.join(5)
    retrip = [(t - t0, ln) for t, ln in events
              if t > t0 and " OPEN " in ln]
    rows = []
    for s in range(RUN_S):
        lo, hi = t0 + s, t0 + s + 1
        ev = [e for a in apps for e in a.events if lo <= e[0] < hi]
        sent = sum(1 for e in ev if e[1])
        failed = sum(1 for e in ev if e[1] and not e[2])
        rows.append((s, len(ev), sent, failed, len(ev) * mean_share(s)))
    cap_at_close = CAPACITY * (0.1 + 0.9 * min(1.0, (t0 - up) * 1000.0
                                               / WARMUP_MS))
    return rows, retrip, t0 - up, cap_at_close


def print_run(name, rows, retrip, close_after, cap):
    log("\n%s: closed %.1f s after the service came back (capacity then "
        "%.0f/s of %d/s)" % (name, close_after, cap, CAPACITY))
    log("  %4s %8s %8s %8s %8s %7s" % ("s", "offered", "sent", "failed",
                                       "curve", "x curve"))
    peak = 0.0
    for s, off, sent, failed, curve in rows:
        ratio = sent / curve if curve > 0 else 0.0
        peak = max(peak, ratio)
        log("  %4d %8d %8d %8d %8.1f %7.2f" % (s, off, sent, failed, curve,
                                               ratio))
    log("  peak %.2fx the ramp curve; re-trip: %s" % (
        peak, "; ".join("+%.1f s %s" % r for r in retrip) or "none"))
    return peak


def plot(png, rows_step, rows_ramp, close_after):
    if shutil.which("gnuplot") is None:
        log("gnuplot not installed: no picture (scripts/install-deps.sh)")
        return
    data = Path(tempfile.mkdtemp(prefix="bench-herd-plot-"))
    with open(data / "herd.dat", "w") as f:
        for (s, _, ss, sf, _), (_, _, rs, rf, curve) in zip(rows_step,
                                                            rows_ramp):
            cap = CAPACITY * (0.1 + 0.9 * min(1.0, (s + 0.5 + close_after)
                                              * 1000.0 / WARMUP_MS))
            f.write("%d %d %d %d %d %.1f %.1f\n" % (s, ss, sf, rs, rf,
                                                    curve, cap))
    script = """
set terminal pngcairo size 900,480 font ",10" noenhanced
set output '%s'
set title 'After the close: %d instances, %d calls/s offered, the dependency warming up'
set xlabel 'seconds after the fleet closed the breaker'
set ylabel 'requests per second to the dependency'
set key bottom right
set grid
plot '%s' using 1:7 with lines dt 2 lw 2 lc rgb '#888888' title 'dependency capacity (warming up)', \\
     '' using 1:6 with lines lw 2 lc rgb '#2ca02c' title 'ramp curve x offered', \\
     '' using 1:2 with linespoints lw 2 lc rgb '#d62728' title 'no ramp: sent', \\
     '' using 1:3 with linespoints lw 1 dt 3 lc rgb '#d62728' title 'no ramp: failed', \\
     '' using 1:4 with linespoints lw 2 lc rgb '#1f77b4' title 'ramp: sent', \\
     '' using 1:5 with linespoints lw 1 dt 3 lc rgb '#1f77b4' title 'ramp: failed'
""" % (png, N, N * RATE_PER_APP, data / "herd.dat")
    png.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if r.returncode != 0:
        failures.append("gnuplot: %s" % r.stderr.strip()[-300:])
    else:
        log("picture: %s" % png)
    shutil.rmtree(data, ignore_errors=True)


def fw_counts(ds):
    out = []
    for d in ds:
        st = d.status()
        out.append((int(st.get("fleet_window.writes", 0)),
                    int(st.get("fleet_window.reads", 0))))
    return out


def zk_cost(ens, ds):
    """Writes per instance under steady traffic and idle; leader reads."""
    lead = [d for d in ds if d.status().get("leader.fw") == "1"][0]
    zx0, c0, t0 = h_zxid(ens), fw_counts(ds), time.monotonic()
    stop = threading.Event()

    def traffic(d):
        with d.client(timeout=10) as c:
            while not stop.is_set():
                c.cmd("REPORT fw ok")
                time.sleep(0.05)
    ts = [threading.Thread(target=traffic, args=(d,), daemon=True)
          for d in ds]
    for t in ts:
        t.start()
    time.sleep(10)
    stop.set()
    for t in ts:
        t.join(5)
    busy_s = time.monotonic() - t0
    # the last summary: up to one interval after the previous one, plus a
    # tick of the summary timer and one of the coalescing writer
    time.sleep(FW_INTERVAL_MS / 1000.0 + 3.0)
    c1, zx1 = fw_counts(ds), h_zxid(ens)
    span_s = time.monotonic() - t0  # every write counted happened in it
    time.sleep(8)
    c2, zx2, idle_s = fw_counts(ds), h_zxid(ens), 8.0
    writes = [b[0] - a[0] for a, b in zip(c0, c1)]
    idle_w = [b[0] - a[0] for a, b in zip(c1, c2)]
    li = ds.index(lead)
    reads = c1[li][1] - c0[li][1]
    per_s = max(writes) / span_s
    bound = 1000.0 / FW_INTERVAL_MS
    most = int(span_s * bound) + 1  # one per interval begun in the span
    log("\nfleet window ZooKeeper cost: %d instances, interval %d ms, "
        "%.1f s of steady traffic (20 REPORTs/s each), then %.0f s idle"
        % (len(ds), FW_INTERVAL_MS, busy_s, idle_s))
    log("  writes per instance in the %.1f s from the start of the "
        "traffic to its last summary: %s (bound: %d, one per interval "
        "begun)" % (span_s, writes, most))
    log("  max %.2f writes/s per instance vs the bound of 1 per interval "
        "(%.2f/s): %.2fx" % (per_s, bound, per_s / bound))
    log("  writes while idle: %s (bound: 0); ensemble zxid advance while "
        "idle: %d" % (idle_w, zx2 - zx1))
    log("  ensemble zxid advance under traffic: %d for %d daemon writes"
        % (zx1 - zx0, sum(writes)))
    log("  leader (%s) reads: %d in %.1f s = %.1f per interval (%d live "
        "instances: at most one read per instance per interval)"
        % (lead.name, reads, span_s, reads / (span_s * bound), len(ds)))
    if max(writes) > most:
        log("  MISSED: more than one write per interval")
    if any(idle_w):
        log("  MISSED: writes while idle")


def h_zxid(ens):
    best = 0
    for n in range(1, ens.size + 1):
        for line in (h.four_letter(ens.client_port(n), "srvr")
                     or "").splitlines():
            if line.startswith("Zxid:"):
                best = max(best, int(line.split(":", 1)[1].strip(), 16))
    return best


def bench(ens, args, topdir):
    h.begin_test("herd", topdir / "herd")
    try:
        flaky = h.FlakyService()
        flaky.start()
        deps = dep_configs(flaky)
        ds = []
        for i in range(N):
            d = h.Daemon("herd-%02d" % i, deps=deps, zk=ens,
                         overrides={"log_level": "info"})
            d.start(wait=False)
            ds.append(d)
        for d in ds:
            d.wait_ready(60)
        h.wait_until(lambda: all(d.status().get("ready") == "1"
                                 and d.status().get("live_instances")
                                 == str(N) for d in ds), 60, 0.2,
                     "fleet ready")
        log("fleet: %d instances; each application offers %d calls/s "
            "(%d/s in all); dependency capacity %d/s, warm-up %d ms; "
            "ramp %s" % (N, RATE_PER_APP, N * RATE_PER_APP, CAPACITY,
                         WARMUP_MS, json.dumps(RAMP)))
        step = one_run(ens, ds, flaky, "step")
        peak_step = print_run("without a ramp (baseline)", *step)
        ramp = one_run(ens, ds, flaky, "ramp")
        peak_ramp = print_run("with the ramp", *ramp)
        log("\nherd: peak vs the ramp curve: no ramp %.2fx, ramp %.2fx "
            "(target <= 1.2x); OPEN events after the close (re-trips): "
            "no ramp %d, ramp %d (target 0)"
            % (peak_step, peak_ramp, len(step[1]), len(ramp[1])))
        if peak_ramp > 1.2:
            log("  MISSED: the ramp's peak is above 1.2x its curve")
        if ramp[1]:
            log("  MISSED: the herd re-tripped the breaker with the ramp")
        plot(args.png, step[0], ramp[0], ramp[2])
        zk_cost(ens, ds)
    finally:
        for d in [d for d in h.current().daemons if d.alive()]:
            d.signal(signal.SIGTERM)
        for p in h.end_test():
            failures.append(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--png", type=Path,
                    default=ROOT / "build" / "bench" / "recovery-ramp.png")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not (h.BUILD / "breakerd").exists():
        raise SystemExit("%s/breakerd not built (make)" % h.BUILD)
    topdir = Path(tempfile.mkdtemp(prefix="breakerd-bench-herd-"))
    h.install_signal_handlers()
    t = time.monotonic()
    ens = h.Ensemble(size=3, tick_ms=500, rdir=topdir / "zk")
    try:
        ens.start()
        bench(ens, args, topdir)
    except Exception as exc:
        log("bench_herd: ERROR %s: %s" % (type(exc).__name__, exc))
        failures.append(str(exc))
    finally:
        ens.stop()
    return h.finish_run("bench_herd", t, failures, topdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
