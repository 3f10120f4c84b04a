#!/usr/bin/env python3
"""bench_fleet.py - fleet benchmarks of breakerd, each printed beside a raw
ZooKeeper baseline measured in the same run, on the same 3-node ensemble,
with the ratio.  Where no raw baseline is measured (failover, the quiet
fleet's ping rate, write counts) the reference is printed as a bound
computed from the configuration, the design or the same run, and labelled
so.  A figure that
cannot be read (srvr unanswered, no VmRSS, a znode missing) fails the
run, and so does a write count over its bound (it counts, not times).

    python3 tests/bench/bench_fleet.py [--quick] [--only NAME,...]
        [--instances 5,20,50] [--rounds 50] [--no-fsync] [--keep]
        [--daemon-env KEY=VALUE ...]

Benchmarks (--only takes these names):

  propagation  PUBLISH on the leader -> the EVENT line on every instance's
               WATCH subscriber, vs raw setData -> the watch firing on as
               many other ZooKeeper sessions (tests/bench/zkwatch_bench.c
               times both sides; rounds are interleaved in slices)
  trip         the REPORT that trips the 2nd instance's local breaker
               (quorum min_votes=2) -> every instance answers ALLOW with
               OK DENY, vs two raw write -> watch -> read hops
  failover     SIGKILL / SIGTERM of a dependency's leader -> the new
               leader's takeover record (its mtime on the server), vs the
               session timeout T, T + tickTime and the 500 ms target
  footprint    RSS of an idle daemon with 1, 100, 1000 dependencies,
               standalone and in a fleet; for fleets of 5 and 20: ZooKeeper
               traffic of a quiet fleet (packets, watches per instance)
               and its writes in a quiet window before and after the
               transitions; the writes of single transitions from quiet and
               of a burst of PUBLISHes, each beside its bound (1 leader
               multi + at most 1 acknowledgement per instance and second).
               Writes are counted on the servers: srvr's zxid advance and
               the version advances of the state and instance znodes.
  scale        50 instances x 100 dependencies: a new instance learning
               every state (start -> STATUS ready=1) vs a raw client reading
               100 znodes; a burst of 100 PUBLISHes -> every instance
               holding every final version, vs 100 raw setData -> every
               watch re-read

Timing never fails the run: missed targets are printed.  The exit status is
1 only when something broke (a daemon did not start, a round was not seen,
a write count over its bound).
Every process is started through scripts/bdlib.py and killed at
the end (also on ^C).  Python 3 standard library only.
"""

import argparse
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bdlib as h  # noqa: E402
from zkwrites import (WriteCounter, burst_bound,  # noqa: E402
                      transition_cost, transition_problems, zxid)

TOOL_SRC = HERE / "zkwatch_bench.c"
BENCHES = ("propagation", "trip", "failover", "footprint", "scale")
DAEMON_OVERRIDES = {"log_level": "info"}
DAEMON_ENV = {}  # --daemon-env: for A/B runs (e.g. an LD_PRELOAD shim)
failures = []
ENS_HOST = None  # a server for MiniZk reads
TOOL = None
TOPDIR = None


# ---------------------------------------------------------------- helpers

def log(msg=""):
    print(msg, flush=True)


def pct(vals, p):
    """Nearest-rank percentile of vals (None if empty)."""
    if not vals:
        return None
    s = sorted(vals)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))]


def ms(v):
    """Format milliseconds."""
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f ms" % v
    return "%.2f ms" % v if v < 10 else "%.1f ms" % v


def ratio(a, b):
    if a is None or not b:
        return "-"
    return "%.2fx" % (a / b)


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def table(rows, head):
    """Print rows (lists of str) aligned under head."""
    widths = [max(len(str(r[i])) for r in [head] + rows)
              for i in range(len(head))]
    for r in [head] + rows:
        log("  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))


def dist_row(label, vals):
    """A table row: label, n, p50, p95, p99, max (vals in ms)."""
    return [label, len(vals), ms(pct(vals, 50)), ms(pct(vals, 95)),
            ms(pct(vals, 99)), ms(max(vals) if vals else None)]


DIST_HEAD = ["", "n", "p50", "p95", "p99", "max"]


def tool_path():
    """build/bench/zkwatch_bench, or a private build when it is missing or
    older than its source (it needs only libzookeeper_mt)."""
    exe = h.BUILD / "bench" / "zkwatch_bench"
    if exe.exists() and exe.stat().st_mtime >= TOOL_SRC.stat().st_mtime:
        return exe
    cache = Path(tempfile.gettempdir()) / ("breakerd-bench-%d" % os.getuid())
    cache.mkdir(exist_ok=True)
    out = cache / "zkwatch_bench"
    if out.exists() and out.stat().st_mtime >= TOOL_SRC.stat().st_mtime:
        return out
    r = subprocess.run(["cc", "-std=c11", "-O2", "-DTHREADED",
                        "-D_GNU_SOURCE", "-o", str(out) + ".tmp",
                        str(TOOL_SRC), "-lzookeeper_mt", "-lpthread"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("cannot build zkwatch_bench:\n" + r.stderr)
    os.replace(str(out) + ".tmp", out)
    return out


def run_tool(args, timeout=300):
    """Run zkwatch_bench; its R lines as lists of ints (ms for the four
    times), or raise with its stderr."""
    r = subprocess.run([str(TOOL)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    rows = []
    for line in r.stdout.splitlines():
        w = line.split()
        if w and w[0] == "R":
            rows.append([int(x) / 1000.0 for x in w[2:6]])
        elif w and w[0] == "L":
            rows.append([int(x) / 1000.0 for x in w[1:3]])
    if r.returncode != 0:
        raise RuntimeError("zkwatch_bench %s failed (%d): %s" % (
            args[0], r.returncode, r.stderr.strip()[-800:]))
    return rows


class Context:
    """One benchmark's harness context: everything it started is killed at
    the end, and its run directory is kept only with --keep or on error."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        h.begin_test(self.name, TOPDIR / self.name)
        return self

    def __exit__(self, et, ev, tb):
        # SIGTERM first: the daemons close their sessions at once.  A
        # SIGKILLed daemon's session would expire T later and its
        # closeSession (a write) would land in the next benchmark's
        # zero-writes or writes-per-join window.
        ds = [d for d in h.current().daemons if d.alive()]
        for d in ds:
            d.signal(signal.SIGTERM)
        for d in ds:
            d.wait_exit(5)
        for p in h.end_test():
            log("  problem: %s" % p)
            failures.append(p)
        return False


# ---------------------------------------------------------------- fleets

def status(d):
    try:
        return d.status()
    except (OSError, AssertionError):
        return {}


def start_fleet(n, deps, ens, prefix="inst", dep_overrides=None,
                timeout=120):
    """n daemons in one fleet (started in parallel); waits until every one
    is ready, sees n live instances, and every dep has one leader."""
    ds = []
    for i in range(n):
        d = h.Daemon("%s-%02d" % (prefix, i), deps=deps, zk=ens,
                     overrides=DAEMON_OVERRIDES,
                     dep_overrides=dep_overrides, env=DAEMON_ENV)
        d.start(wait=False)
        ds.append(d)
    for d in ds:
        d.wait_ready(timeout)
    wait_fleet(ds, deps, timeout)
    return ds


def leaders(ds, deps):
    """{dep: daemon} for deps with exactly one confirmed leader."""
    found = {}
    for d in ds:
        st = status(d)
        for dep in deps:
            if st.get("leader.%s" % dep) == "1":
                found.setdefault(dep, []).append(d)
    return {dep: v[0] for dep, v in found.items() if len(v) == 1}


def wait_fleet(ds, deps, timeout=120, stable_s=3.0):
    """Wait until every daemon is ready with len(ds) live instances, every
    dep has one leader, and the leader map has not changed for stable_s
    (leadership spreads over the fleet after a join: measuring while it
    moves would count handovers and aim PUBLISHes at a past leader);
    returns {dep: leader}."""
    n = len(ds)
    last = {"map": None, "since": 0.0}

    def settled():
        for d in ds:
            st = status(d)
            if st.get("ready") != "1" or st.get("live_instances") != str(n):
                return None
        lead = leaders(ds, deps)
        if len(lead) != len(deps):
            return None
        key = sorted((dep, getattr(d, "name", str(d)))
                     for dep, d in lead.items())
        now = time.monotonic()
        if key != last["map"]:
            last["map"], last["since"] = key, now
            return None
        return lead if now - last["since"] >= stable_s else None
    return h.wait_until(settled, timeout, 0.2, "fleet of %d not settled" % n)


def mntr(ens, n):
    """mntr of server n as a dict (numbers as int/float where they are)."""
    out = {}
    for line in (h.four_letter(ens.client_port(n), "mntr") or "").splitlines():
        k, _, v = line.partition("\t")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def rss(d):
    """d's VmRSS in kB; a daemon whose RSS cannot be read is an error,
    never a figure of 0 kB."""
    kb = d.rss_kb()
    if not kb:
        raise AssertionError("cannot read the RSS of %s (pid %s): %s" % (
            d.name, d.pid, "exited" if not d.alive() else "no VmRSS"))
    return kb


def zk_snapshot(ens):
    """Summed counters over the servers, and the zxid."""
    tot = {"packets_received": 0, "packets_sent": 0, "watch_count": 0,
           "connections": 0}
    for n in range(1, ens.size + 1):
        m = mntr(ens, n)
        tot["packets_received"] += m.get("zk_packets_received", 0)
        tot["packets_sent"] += m.get("zk_packets_sent", 0)
        tot["watch_count"] += m.get("zk_watch_count", 0)
        tot["connections"] += m.get("zk_num_alive_connections", 0)
    tot["zxid"] = zxid(ens)
    tot["t"] = time.monotonic()
    return tot


def zk_latency(ens):
    """ZooKeeper's own view: avg/max request latency per server (mntr)."""
    parts = []
    for n in range(1, ens.size + 1):
        m = mntr(ens, n)
        parts.append("%s avg %s max %s" % (
            str(m.get("zk_server_state", "?"))[:1], m.get("zk_avg_latency"),
            m.get("zk_max_latency")))
    return "; ".join(parts)


# ---------------------------------------------------------------- propagation

def bench_propagation(ens, args):
    log("\n== Fleet propagation: PUBLISH on the leader -> EVENT on every "
        "instance's WATCH ==")
    log("baseline: raw setData -> data watch fired on N other sessions "
        "(and re-read), same ensemble, interleaved slices")
    summary = []
    for n in args.instances:
        per = max(2, (args.rounds // args.slices) // 2 * 2)
        with Context("propagation-%d" % n):
            t = time.monotonic()
            ds = start_fleet(n, ["prop"], ens)
            log("\n-- %d instances (fleet up in %.1f s, load %s)" % (
                n, time.monotonic() - t, loadavg()))
            lead = leaders(ds, ["prop"])["prop"]
            rss0 = [rss(d) for d in ds]
            base, ours = [], []
            for s in range(args.slices):
                base += run_tool(["zk", "-h", ens.hosts, "-p",
                                  "/bench-prop-%d" % n, "-n", n, "-r", per,
                                  "-g", args.gap])
                ours += run_tool(["sock", "-l", lead.socket_path, "-d",
                                  "prop", "-r", per, "-g", args.gap] +
                                 [d.socket_path for d in ds])
            rss1 = [rss(d) for d in ds]
            b_ack = [r[0] for r in base]
            b_all = [r[2] for r in base]
            b_read = [r[3] for r in base]
            o_ack = [r[0] for r in ours]
            o_first = [r[1] for r in ours]
            o_all = [r[2] for r in ours]
            table([dist_row("raw setData ack", b_ack),
                   dist_row("raw set -> all %d watches fired" % n, b_all),
                   dist_row("raw set -> all %d re-read" % n, b_read),
                   dist_row("PUBLISH -> OK (fenced multi)", o_ack),
                   dist_row("PUBLISH -> first EVENT", o_first),
                   dist_row("PUBLISH -> all %d EVENTs" % n, o_all)],
                  DIST_HEAD)
            r50 = pct(o_all, 50) / pct(b_all, 50)
            r99 = pct(o_all, 99) / pct(b_all, 99)
            log("  ratio vs watch fired: p50 %.2fx (target <= 1.5x %s), "
                "p99 %.2fx (target <= 2x %s)" % (
                    r50, "met" if r50 <= 1.5 else "MISSED",
                    r99, "met" if r99 <= 2 else "MISSED"))
            log("  ratio vs watch + re-read: p50 %s, p99 %s" % (
                ratio(pct(o_all, 50), pct(b_read, 50)),
                ratio(pct(o_all, 99), pct(b_read, 99))))
            log("  RSS per daemon before/after %d transitions: max %d -> "
                "%d kB (max growth %d kB)" % (
                    len(ours), max(rss0), max(rss1),
                    max(b - a for a, b in zip(rss0, rss1))))
            log("  ZooKeeper (mntr, cumulative): %s" % zk_latency(ens))
            summary.append((n, pct(b_all, 50), pct(o_all, 50),
                            pct(b_all, 99), pct(o_all, 99)))
    log("\nsummary (all instances): n, raw p50, ours p50, ratio, raw p99, "
        "ours p99, ratio")
    for n, b50, o50, b99, o99 in summary:
        log("  %3d  %s  %s  %s   %s  %s  %s" % (
            n, ms(b50), ms(o50), ratio(o50, b50), ms(b99), ms(o99),
            ratio(o99, b99)))


# ---------------------------------------------------------------- trip

TRIP_BREAKER = {"window": "count", "window_size": 4, "minimum_calls": 4,
                "failure_rate_pct": 50, "open_wait_ms": 600000}


def trip_drill(ds, lead, dep, conns):
    """One drill on a fresh dependency; returns (ms to all DENY, ms to the
    state record's mtime) from the tripping REPORT."""
    others = [d for d in ds if d is not lead]
    a, b = (others + [lead])[:2]
    for _ in range(TRIP_BREAKER["window_size"]):
        assert conns[a].cmd("REPORT %s fail" % dep) == "OK"
    h.wait_until(lambda: status(lead).get("votes.%s" % dep) == "1", 10, 0.02,
                 "first vote on %s not counted" % dep)
    for _ in range(TRIP_BREAKER["window_size"] - 1):
        assert conns[b].cmd("REPORT %s fail" % dep) == "OK"
    pending = list(ds)
    t_wall = time.time()
    t0 = time.monotonic()
    conns[b].send("REPORT %s fail" % dep)
    deadline = t0 + 15
    denied = {}
    while pending and time.monotonic() < deadline:
        for d in pending:
            conns[d].send("ALLOW %s" % dep)
        for d in list(pending):
            reply = conns[d].readline(5)
            if d is b and reply == "OK":
                reply = conns[d].readline(5)
            if reply and reply.startswith("OK DENY"):
                denied[d.name] = (time.monotonic() - t0) * 1000
                pending.remove(d)
    if pending:
        raise AssertionError("%s: %d instances never denied" % (
            dep, len(pending)))
    with h.MiniZk(ENS_HOST) as z:
        data, st = z.get("%s/deps/%s/state" % (h.zk_root(), dep))
    rec = json.loads(data)
    assert rec["state"] == "OPEN", rec
    return max(denied.values()), st["mtime"] - t_wall * 1000


def bench_trip(ens, args):
    log("\n== Trip reaction: tripping REPORT on the 2nd voter -> every "
        "instance DENYs ==")
    n, drills = args.trip_instances, args.trip_drills
    deps = ["trip%02d" % i for i in range(drills)]
    dov = {d: {"breaker": TRIP_BREAKER,
               "quorum": {"min_votes": 2, "fraction_pct": 0}} for d in deps}
    with Context("trip"):
        ds = start_fleet(n, deps, ens, dep_overrides=dov)
        log("%d instances, %d drills (one fresh dependency each: window 4 "
            "calls, min_votes 2), load %s" % (n, drills, loadavg()))
        lead = leaders(ds, deps)
        conns = {d: d.client(10) for d in ds}
        base = run_tool(["zk", "-h", ens.hosts, "-p", "/bench-trip", "-n",
                         n, "-r", 20, "-g", args.gap])
        all_ms, commit_ms = [], []
        for dep in deps:
            a, c = trip_drill(ds, lead[dep], dep, conns)
            all_ms.append(a)
            commit_ms.append(c)
        for c in conns.values():
            c.close()
        b_read = [r[3] for r in base]
        floor = [2 * v for v in b_read]
        table([dist_row("REPORT -> state record written (mtime)",
                        commit_ms),
               dist_row("REPORT -> all %d instances DENY" % n, all_ms),
               dist_row("raw 2 x (set -> all %d re-read)" % n, floor)],
              DIST_HEAD)
        log("  ratio vs two raw hops: p50 %s, p99 %s (no target; the chain "
            "is vote create -> leader's children watch -> getChildren -> "
            "fenced multi -> data watches -> getData)" % (
                ratio(pct(all_ms, 50), pct(floor, 50)),
                ratio(pct(all_ms, 99), pct(floor, 99))))


# ---------------------------------------------------------------- failover

def state_record(path):
    with h.MiniZk(ENS_HOST) as z:
        data, st = z.get(path)
    return json.loads(data), st


def failover_drill(ds, sig, path):
    """Kill the leader with sig; ms from the signal to the new leader's
    takeover record (server mtime), and to our seeing it."""
    lead = leaders(ds, ["fo"]).get("fo")
    if lead is None:
        lead = wait_fleet(ds, ["fo"], 30)["fo"]
    rec0, _ = state_record(path)
    with h.MiniZk(ENS_HOST) as z:
        t_wall = time.time()
        t0 = time.monotonic()
        lead.signal(sig)
        deadline = t0 + 20
        while time.monotonic() < deadline:
            data, st = z.get(path)
            rec = json.loads(data)
            if rec.get("leader") != lead.name or \
                    rec.get("term", 0) > rec0.get("term", 0):
                seen = (time.monotonic() - t0) * 1000
                break
            time.sleep(0.005)
        else:
            raise AssertionError("no takeover within 20 s after %s" % sig)
    took = st["mtime"] - t_wall * 1000
    rc = lead.proc.wait(10)
    if rc is None:
        raise AssertionError("%s did not exit on %s" % (lead.name, sig))
    lead.start(wait=True, timeout=30)
    wait_fleet(ds, ["fo"], 60)
    return took, seen, rec


def bench_failover(ens, args):
    log("\n== Failover: leader killed -> the new leader's takeover record ==")
    with Context("failover"):
        ds = start_fleet(args.fo_instances, ["fo"], ens)
        T = int(status(ds[0]).get("zk_timeout_ms", 0))
        tick = ens.tick_ms
        path = "%s/deps/fo/state" % h.zk_root()
        log("%d instances, negotiated session timeout T = %d ms, tickTime "
            "%d ms, %d drills per signal, load %s" % (
                args.fo_instances, T, tick, args.fo_drills, loadavg()))
        res = {}
        for sig in (signal.SIGKILL, signal.SIGTERM):
            res[sig] = [failover_drill(ds, sig, path)
                        for _ in range(args.fo_drills)]
        kill = [r[0] for r in res[signal.SIGKILL]]
        term = [r[0] for r in res[signal.SIGTERM]]
        table([dist_row("SIGKILL -> takeover record", kill),
               dist_row("SIGTERM -> takeover record", term)], DIST_HEAD)
        # Not measured: bounds computed from the negotiated session
        # timeout and the ensemble's tickTime, and the design target.
        log("  bounds (from the configuration, not measured): session "
            "timeout T = %d ms; server expiry bound T + tickTime = %d ms; "
            "SIGKILL target T + tickTime + 1 s = %d ms; SIGTERM target "
            "500 ms" % (T, T + tick, T + tick + 1000))
        log("  SIGKILL: p50 %s of the bound T, max %s of the bound T + "
            "tickTime (%s); SIGTERM: p50 %s, max %s of 500 ms (%s)" % (
                ratio(pct(kill, 50), T), ratio(max(kill), T + tick),
                "met" if max(kill) <= T + tick + 1000 else "MISSED",
                ms(pct(term, 50)), ratio(max(term), 500),
                "met" if max(term) <= 500 else "MISSED"))
        last = res[signal.SIGTERM][-1][2]
        log("  last takeover record: term %s leader %s" % (
            last.get("term"), last.get("leader")))


# ---------------------------------------------------------------- footprint

def idle_rss(ens, k, fleet):
    """RSS (kB) of one idle daemon with k dependencies, 1 s after it is
    ready (fleet: ready=1 and leading all k)."""
    deps = ["d%04d" % i for i in range(k)]
    with Context("rss-%s-%d" % ("fleet" if fleet else "alone", k)):
        d = h.Daemon("rss", deps=deps, zk=ens if fleet else None,
                     overrides=DAEMON_OVERRIDES,
                     env=DAEMON_ENV).start(timeout=30)
        t0 = time.monotonic()
        if fleet:
            h.wait_until(lambda: status(d).get("ready") == "1" and
                         status(d).get("leaders") == str(k), 120, 0.2,
                         "fleet daemon with %d deps not ready" % k)
        ready = time.monotonic() - t0
        time.sleep(1)
        return rss(d), ready


def quiet_window(ens, wc, seconds):
    """seconds of nothing: the writes (zxid, versions) and the requests
    (mntr, less our own reads) the fleet cost ZooKeeper meanwhile."""
    a, sa, r0 = zk_snapshot(ens), wc.snap(), wc.reads
    wc.hold(seconds)
    b, r1 = zk_snapshot(ens), wc.reads
    d = wc.delta(sa, wc.snap())
    dur = b["t"] - a["t"]
    d["pkts"] = (b["packets_received"] - a["packets_received"]
                 - (r1 - r0)) / dur
    d["watches"] = b["watch_count"]
    return d


def quiet_cost(ens, n, args):
    """ZooKeeper traffic of a quiet n-instance fleet; the writes of single
    transitions from quiet, and of a burst of PUBLISHes; quiet again."""
    deps = ["q%02d" % i for i in range(args.quiet_deps)]
    dep = deps[0]
    with Context("quiet-%d" % n):
        ds = start_fleet(n, deps, ens)
        lead = leaders(ds, deps)[dep]
        T = int(status(ds[0]).get("zk_timeout_ms", 0))
        if T <= 0:
            raise AssertionError("no negotiated session timeout in STATUS")
        with WriteCounter(ens, deps, [d.name for d in ds]) as wc:
            wc.hold(2)
            before = quiet_window(ens, wc, args.quiet_s)
            q = {"n": n, "T": T, "before": before, "dur": before["dur"],
                 "pkts": before["pkts"], "watches": before["watches"] / n}
            q["one"] = [transition_cost(wc, lead, dep,
                                        "OPEN" if i % 2 == 0 else "CLOSED")
                        for i in range(args.transitions)]
            problems = [p for d in q["one"]
                        for p in transition_problems(d, n)]
            # A burst: k PUBLISHes 50 ms apart, each instance coalescing.
            k = args.publishes
            a, sa, r0 = zk_snapshot(ens), wc.snap(), wc.reads
            with lead.client(10) as c:
                for i in range(k):
                    r = c.cmd("PUBLISH %s %s cost" % (
                        dep, "OPEN" if i % 2 == 0 else "CLOSED"), 10)
                    assert r.startswith("OK "), r
                    time.sleep(0.05)
            wc.wait_acked(dep, int(r.split()[1]))
            span = time.monotonic() - sa["t"]
            b, r1 = zk_snapshot(ens), wc.reads
            wc.hold(3.0)
            bd = wc.delta(sa, wc.snap())
            bd["bound"], bd["per_inst"] = burst_bound(k, n, span)
            bd["span"] = span
            bd["pkts_per"] = (b["packets_received"] - a["packets_received"]
                              - (r1 - r0) - q["pkts"] * (b["t"] - a["t"])) / k
            q["burst"] = bd
            if bd["multis"] != k:
                problems.append("burst: state versions +%d for %d "
                                "PUBLISHes" % (bd["multis"], k))
            if bd["zxid"] > bd["bound"] or \
                    max(bd["inst"].values()) > bd["per_inst"]:
                problems.append("burst: %d writes (max %d per instance) > "
                                "bound %d (%d per instance)" % (
                                    bd["zxid"], max(bd["inst"].values()),
                                    bd["bound"], bd["per_inst"]))
            q["after"] = quiet_window(ens, wc, args.quiet_s)
            for when in ("before", "after"):
                if q[when]["zxid"] != 0:
                    problems.append("%d writes while quiet (%s the "
                                    "transitions): %s" % (
                                        q[when]["zxid"], when,
                                        {i: v for i, v in q[when]["inst"]
                                         .items() if v}))
        for p in problems:
            log("  problem (%d instances): %s" % (n, p))
            failures.append("quiet-%d: %s" % (n, p))
        return q


def memory_flat(ens, args):
    """RSS of a 5-instance fleet after each of three equal phases of
    transitions: growth after the first phase (warm-up) is a leak."""
    n, per = 5, args.flat_publishes
    with Context("flat"):
        ds = start_fleet(n, ["flat"], ens)
        lead = leaders(ds, ["flat"])["flat"]
        rss_kb = [[rss(d) for d in ds]]
        i = 0
        with lead.client(10) as c:
            for _ in range(3):
                for _ in range(per):
                    r = c.cmd("PUBLISH flat %s flat" % (
                        "OPEN" if i % 2 == 0 else "CLOSED"), 10)
                    assert r.startswith("OK "), r
                    i += 1
                    time.sleep(0.005)
                time.sleep(0.5)
                rss_kb.append([rss(d) for d in ds])
        return rss_kb, per


def bench_footprint(ens, args):
    log("\n== Footprint and cost ==")
    rows = []
    targets = {100: 10 * 1024, 1000: 64 * 1024}
    for k in args.rss_deps:
        alone, _ = idle_rss(ens, k, False)
        fleet, ready = idle_rss(ens, k, True)
        tgt = targets.get(k)
        rows.append([k, "%d kB" % alone, "%d kB" % fleet,
                     "%.1f s" % ready,
                     "%d kB" % tgt if tgt else "-",
                     ratio(fleet, tgt) if tgt else "-"])
    log("idle RSS (VmRSS 1 s after ready; fleet: alone in the fleet, "
        "leading every dependency), load %s" % loadavg())
    table(rows, ["deps", "standalone", "fleet", "fleet ready", "target",
                 "fleet/target"])
    rss_kb, per = memory_flat(ens, args)
    log("\nmemory over a run (5 instances, 3 phases of %d transitions): "
        "max RSS per phase %s kB; growth phase 1 -> 3: max %d kB per "
        "daemon (target: flat)" % (
            per, " -> ".join(str(max(r)) for r in rss_kb),
            max(b - a for a, b in zip(rss_kb[1], rss_kb[3]))))
    qs = [quiet_cost(ens, n, args) for n in args.quiet_instances]
    log("\nquiet fleet (%d deps per instance, %.0f s before and after the "
        "transitions), summed over the 3 servers (mntr; writes: srvr Zxid "
        "advance, and version advances of the state and instance znodes):"
        % (args.quiet_deps, qs[0]["dur"]))
    table([[q["n"], q["before"]["zxid"], q["after"]["zxid"],
            "%.1f" % q["pkts"], "%.2f" % (q["pkts"] / q["n"]),
            "%.1f" % q["watches"]] for q in qs],
          ["instances", "writes before", "writes after", "req/s",
           "req/s/inst", "watches/inst"])
    T = qs[0]["T"]
    log("  bound (from the configuration, not measured): 0 writes while "
        "quiet; an idle ZooKeeper session pings every T/3 = %.2f req/s "
        "(negotiated T = %d ms)" % (3000.0 / T, T))
    log("\none transition from quiet (%d PUBLISHes, each waited for until "
        "every instance znode acknowledged it, + 3 s):" % args.transitions)
    rows = []
    for q in qs:
        one = q["one"]
        rows.append([q["n"], " ".join(str(d["zxid"]) for d in one),
                     max(d["multis"] for d in one),
                     max(d["acks"] for d in one),
                     max(max(d["inst"].values()) for d in one),
                     max(d["other"] for d in one), 1 + q["n"]])
    table(rows, ["instances", "writes (zxid) per transition",
                 "leader multis", "acks", "max acks/inst", "other",
                 "bound"])
    log("  bound: 1 leader multi + at most 1 coalesced acknowledgement per "
        "instance = 1 + N writes")
    log("\nburst of %d PUBLISHes 50 ms apart, from quiet, until every "
        "instance acknowledged the last (+ 3 s):" % args.publishes)
    table([[q["n"], "%.1f s" % q["burst"]["span"], q["burst"]["multis"],
            q["burst"]["acks"], max(q["burst"]["inst"].values()),
            q["burst"]["zxid"], q["burst"]["bound"],
            "%.1f" % q["burst"]["pkts_per"]] for q in qs],
          ["instances", "span", "leader multis", "acks", "max acks/inst",
           "writes (zxid)", "bound", "req/transition"])
    log("  bound: %d multis + N x (floor(span / 1 s) + 1): one write per "
        "instance per started second of the span" % args.publishes)


# ---------------------------------------------------------------- scale

def join_time(ens, deps, name):
    """Spawn one more instance; ms until STATUS says ready=1, and the
    ZooKeeper writes (zxid advance) its start-up cost the quiet fleet,
    read once its instance znode acknowledges every dependency
    authoritatively (its last start-up write; our reading session is
    opened before the first zxid, so its createSession is not counted)."""
    d = h.Daemon(name, deps=deps, zk=ens, overrides=DAEMON_OVERRIDES,
                 env=DAEMON_ENV)
    path = "%s/instances/%s" % (h.zk_root(), name)
    with h.MiniZk(ENS_HOST) as z:
        z0 = zxid(ens)
        t0 = time.monotonic()
        d.start(wait=False)
        h.wait_until(lambda: os.path.exists(d.socket_path), 30, 0.002,
                     "%s socket" % name)

        def ready():
            return status(d).get("ready") == "1"
        h.wait_until(ready, 60, 0.005, "%s not ready" % name)
        took = (time.monotonic() - t0) * 1000

        def acked():
            try:
                o = json.loads(z.get(path)[0] or b"{}")
            except (h.ZkError, ValueError):
                return False
            return all(dep in o.get("acks", {}) and
                       o.get("auth", {}).get(dep) == "authoritative"
                       for dep in deps)
        h.wait_until(acked, 30, 0.05, "%s did not acknowledge" % name)
        writes = zxid(ens) - z0
        acks = z.get(path)[1]["version"]
    d.stop()
    time.sleep(0.5)
    return took, writes, acks


def burst(ds, deps, lead, tag):
    """PUBLISH every dep on its leader at once; ms until every instance
    holds every final version, and until every PUBLISH was answered."""
    sel = selectors.DefaultSelector()
    watchers = []
    for d in ds:
        c = d.client(30)
        assert c.cmd("WATCH") == "OK"
        for _ in deps:
            assert c.readline(10).startswith("EVENT ")
        watchers.append(c)
    by_leader = {}
    for dep in deps:
        by_leader.setdefault(lead[dep], []).append(dep)
    lconns = {d: d.client(30) for d in by_leader}
    seen = {}          # (watcher index, dep) -> [(version, t)]
    final = {}
    acks = []
    state = "OPEN" if tag % 2 == 0 else "CLOSED"
    t0 = time.monotonic()
    for d, dl in by_leader.items():
        lconns[d].send_raw("".join("PUBLISH %s %s burst %d\n" % (
            dep, state, tag) for dep in dl))
    for i, c in enumerate(watchers):
        sel.register(c.sock, selectors.EVENT_READ, ("w", i, c))
    for d, c in lconns.items():
        sel.register(c.sock, selectors.EVENT_READ, ("l", d, c))
    want_acks = len(deps)
    deadline = t0 + 60

    def converged():
        if len(final) < want_acks:
            return False
        for i in range(len(watchers)):
            for dep in deps:
                if not any(v >= final[dep] for v, _ in seen.get((i, dep),
                                                              ())):
                    return False
        return True
    while not converged():
        if time.monotonic() > deadline:
            raise AssertionError("burst %d not converged in 60 s" % tag)
        for key, _ in sel.select(1):
            kind, who, c = key.data
            chunk = c.sock.recv(1 << 20)
            now = time.monotonic()
            if not chunk:
                raise AssertionError("connection closed during burst")
            c.buf += chunk
            while b"\n" in c.buf:
                line, c.buf = c.buf.split(b"\n", 1)
                w = line.decode().split()
                if kind == "w" and w[0] == "EVENT":
                    seen.setdefault((who, w[1]), []).append((int(w[3]), now))
                elif kind == "l":
                    if w[0] != "OK":
                        raise AssertionError("PUBLISH: %s" % line)
                    dep = by_leader[who][len([x for x in acks
                                              if x[0] is who])]
                    acks.append((who, now))
                    final[dep] = int(w[1])
    conv = max(min(t for v, t in seen[(i, dep)] if v >= final[dep])
               for i in range(len(watchers)) for dep in deps)
    for c in watchers + list(lconns.values()):
        sel.unregister(c.sock)
        c.close()
    return (conv - t0) * 1000, (max(t for _, t in acks) - t0) * 1000


def bench_scale(ens, args):
    n, k = args.scale_instances, args.scale_deps
    log("\n== Scale: %d instances x %d dependencies ==" % (n, k))
    deps = ["s%03d" % i for i in range(k)]
    with Context("scale"):
        t = time.monotonic()
        ds = start_fleet(n, deps, ens, timeout=300)
        up = time.monotonic() - t
        lead = wait_fleet(ds, deps, 120)
        log("fleet up (all ready, every dep led) in %.1f s; leaders spread "
            "over %d instances; load %s" % (up, len(set(lead.values())),
                                              loadavg()))
        # Creates the k znodes the raw reader reads.
        run_tool(["zk", "-h", ens.hosts, "-p", "/bench-scale", "-n", 1,
                  "-k", k, "-r", 1])
        jw = [join_time(ens, deps, "join-%d" % i)
              for i in range(args.joins)]
        joins = [j[0] for j in jw]
        reads = [r[1] for r in (run_tool(["read", "-h", ens.hosts, "-p",
                                          "/bench-scale", "-k", k])[0]
                                for _ in range(args.joins))]
        table([dist_row("new instance: start -> ready=1", joins),
               dist_row("raw client: start -> %d znodes read" % k, reads)],
              DIST_HEAD)
        log("  ratio p50 %s (the daemon also registers, joins %d elections "
            "and reads every override)" % (
                ratio(pct(joins, 50), pct(reads, 50)), k))
        log("  ZooKeeper writes (zxid advance) per join: %s, of which "
            "acknowledgements (its znode's version): %s; needed: %d "
            "(session + registration + %d election nodes) + its "
            "acknowledgements (coalesced: at most one a second)" % (
                ", ".join(str(j[1]) for j in jw),
                ", ".join(str(j[2]) for j in jw), k + 2, k))
        wait_fleet(ds, deps, 60)
        lead = leaders(ds, deps)
        convs, ackt = [], []
        base = []
        for b in range(args.bursts):
            base += run_tool(["zk", "-h", ens.hosts, "-p", "/bench-burst",
                              "-n", n, "-k", k, "-r", 1], timeout=600)
            c, a = burst(ds, deps, lead, b)
            convs.append(c)
            ackt.append(a)
        table([dist_row("burst of %d PUBLISH -> all answered" % k, ackt),
               dist_row("burst -> all %d instances hold all %d versions"
                        % (n, k), convs),
               dist_row("raw %d setData -> all answered" % k,
                        [r[0] for r in base]),
               dist_row("raw %d setData -> %d x %d watches re-read"
                        % (k, n, k), [r[3] for r in base])], DIST_HEAD)
        log("  ratio (convergence) p50 %s" % ratio(
            pct(convs, 50), pct([r[3] for r in base], 50)))


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: small fleets, few rounds (< 2 min)")
    ap.add_argument("--only", default=",".join(BENCHES),
                    help="comma-separated subset of " + ",".join(BENCHES))
    ap.add_argument("--instances", default=None,
                    help="propagation fleet sizes (default 5,20,50)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="transitions per fleet size (default 50)")
    ap.add_argument("--no-fsync", action="store_true",
                    help="ZooKeeper forceSync=no (faster, less realistic)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run directory (logs)")
    ap.add_argument("--daemon-env", action="append", default=[],
                    metavar="KEY=VALUE",
                    help="extra environment for every daemon (A/B runs)")
    a = ap.parse_args()
    for kv in a.daemon_env:
        if "=" not in kv:
            ap.error("--daemon-env wants KEY=VALUE: %s" % kv)
        DAEMON_ENV[kv.split("=", 1)[0]] = kv.split("=", 1)[1]
    a.only = [x.strip() for x in a.only.split(",") if x.strip()]
    bad = [x for x in a.only if x not in BENCHES]
    if bad:
        ap.error("unknown benchmark(s): %s" % ",".join(bad))
    q = a.quick
    a.instances = [int(x) for x in (a.instances or
                                    ("3,5" if q else "5,20,50")).split(",")]
    a.rounds = a.rounds or (10 if q else 50)
    a.slices = 2 if q else 5
    a.gap = 30
    a.trip_instances, a.trip_drills = (3, 2) if q else (5, 10)
    a.fo_instances, a.fo_drills = (3, 1) if q else (5, 10)
    a.rss_deps = [1, 100] if q else [1, 100, 1000]
    a.quiet_instances = [3, 5] if q else [5, 20]
    a.quiet_deps = 10
    a.quiet_s = 3 if q else 10
    a.publishes = 6 if q else 20
    a.transitions = 2 if q else 5
    a.flat_publishes = 30 if q else 300
    a.scale_instances, a.scale_deps = (8, 20) if q else (50, 100)
    a.joins = 1 if q else 3
    a.bursts = 1 if q else 3
    return a


def main():
    global TOOL, TOPDIR, ENS_HOST
    args = parse_args()
    if not (h.BUILD / "breakerd").exists():
        raise SystemExit("%s/breakerd not built (make)" % h.BUILD)
    TOOL = tool_path()
    TOPDIR = Path(tempfile.mkdtemp(prefix="breakerd-bench-fleet-"))
    h.install_signal_handlers()
    t_start = time.monotonic()
    log("bench_fleet: %s, %d CPUs, load %s, run dir %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S"), os.cpu_count(), loadavg(),
        TOPDIR))
    ens = h.Ensemble(size=3, tick_ms=500, force_sync=not args.no_fsync,
                     rdir=TOPDIR / "zk")
    try:
        t = time.monotonic()
        ens.start()
        ENS_HOST = ens.host(1)
        log("ensemble: 3 servers on %s, tickTime 500 ms, fsync %s, up in "
            "%.1f s; daemons: %s, session_timeout_ms 2000, log_level info%s"
            % (ens.hosts, "off" if args.no_fsync else "on",
               time.monotonic() - t, h.BUILD / "breakerd",
               "".join(", %s=%s" % kv for kv in DAEMON_ENV.items())))
        for name in args.only:
            try:
                globals()["bench_" + name](ens, args)
            except Exception as exc:  # report, go on with the next one
                log("\n%s: ERROR %s: %s" % (name, type(exc).__name__, exc))
                failures.append("%s: %s" % (name, exc))
    finally:
        ens.stop()
        h.end_test()
    return h.finish_run("bench_fleet", t_start, failures, TOPDIR, args.keep)


if __name__ == "__main__":
    sys.exit(main())
