#!/usr/bin/env python3
"""bench_witness.py - what the second opinion before a fleet trip costs and
buys, each figure beside its baseline from the same run, on one 3-node
ensemble.

    python3 tests/bench/bench_witness.py [--rounds N] [--only trip,blind]

  trip   a dependency that really is down (the flaky service switched to
         HTTP 500): time from the switch to OPEN on every instance, for a
         fleet with witness checks off (health.witness_checks 0: the
         leader trips alone, as before) and one with them on (2), side by
         side, the two fleets on their own flaky services switched at the
         same moment.  The witness may add at most one health check
         interval.
  blind  only the leader is cut off from the dependency (an iptables
         OUTPUT rule for its uid, comment bd13; needs root): witness off,
         the fleet opens for everyone (time from the leader's first failed
         check to OPEN everywhere); witness on, the leader hands over
         (time from its first failed check to a seeing leader) and the
         fleet stays CLOSED.

Both fleets: health interval 1000 ms, no jitter, unhealthy_threshold 3,
timeout 500 ms.  Timing never fails the run.  Every process is started
through scripts/bdlib.py and killed at the end; the iptables
rules are removed.  Python 3 standard library only.
"""

import argparse
import datetime
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bdlib as h  # noqa: E402

DEP = "payments"
INTERVAL_MS = 1000
UID = 61314  # the bench's own uid for blind leaders


def log(msg=""):
    print(msg, flush=True)


def dep_cfg(f, witness):
    cfg = h.health_dep_config(f, wait_ms=1000, probe_ms=100)
    cfg["probe"]["count"] = 1
    cfg["health"]["witness_checks"] = witness
    return cfg


def start_fleet(ens, f, root, witness, names, blind_uid=None):
    """names[0] first (it leads, logging at debug level: its failed checks
    are timed from its log), under blind_uid if given."""
    cfg = dep_cfg(f, witness)
    ds = []
    for i, n in enumerate(names):
        over = {"zookeeper": {"root": root},
                "log_level": "debug" if i == 0 else "info"}
        kw = dict(deps=[DEP], zk=ens, dep_overrides={DEP: cfg},
                  overrides=over)
        if i == 0 and blind_uid is not None:
            d = h.UidDaemon(n, blind_uid, **kw).start()
        else:
            d = h.Daemon(n, **kw).start()
        ds.append(d)
        if i == 0:
            h.wait_until(lambda: leading([d]) == [d], 20, 0.1,
                         "%s never led" % n)
    return h.wait_ready(ds, 20, 0.1)


def leading(ds):
    """Those of ds leading DEP (one not answering: not leading)."""
    return h.leaders(ds, DEP, quiet=True)


def all_in(ds, state):
    return h.states(ds, DEP) == [state] * len(ds)


def p50(v):
    s = sorted(v)
    return s[len(s) // 2] if s else float("nan")


def row(label, vals):
    return "  %-34s p50 %6.0f ms  min %6.0f  max %6.0f  (n=%d)" % (
        label, p50(vals), min(vals), max(vals), len(vals))


def bench_trip(ens, rounds):
    log("\ntrip: a dependency that really is down -> OPEN on every instance")
    f0, f1 = h.FlakyService(name="flaky-off"), h.FlakyService(name="flaky-on")
    f0.start()
    f1.start()
    off = start_fleet(ens, f0, "/bench-witness/trip-off", 0,
                      ("off-a", "off-b", "off-c"))
    on = start_fleet(ens, f1, "/bench-witness/trip-on", 2,
                     ("on-a", "on-b", "on-c"))
    t_off, t_on, f_off, f_on = [], [], [], []
    for _ in range(rounds):
        h.wait_until(lambda: all_in(off, "CLOSED") and all_in(on, "CLOSED"),
                     30, 0.05, "not CLOSED before a round")
        time.sleep(1.2)  # a full interval of healthy checks after CLOSED
        t0, w0 = time.monotonic(), time.time()
        f0.set_mode("error")
        f1.set_mode("error")
        got = {}
        while len(got) < 2 and time.monotonic() - t0 < 30:
            for key, ds in (("off", off), ("on", on)):
                if key not in got and all_in(ds, "OPEN"):
                    got[key] = (time.monotonic() - t0, time.time())
            time.sleep(0.02)
        if len(got) < 2:
            raise SystemExit("trip: not OPEN everywhere after 30 s")
        t_off.append(got["off"][0] * 1000)
        t_on.append(got["on"][0] * 1000)
        for key, ds, out in (("off", off, f_off), ("on", on, f_on)):
            tf = first_line(ds[0], r"prober: payments: health check failed",
                            w0)
            if tf is not None:
                out.append((got[key][1] - tf) * 1000)
        f0.set_mode("ok")
        f1.set_mode("ok")
    witness_checks = sum(f1.stats().get("by_witness", {}).values())
    if sum(f0.stats().get("by_witness", {}).values()):
        raise SystemExit("trip: witness checks with witnesses off")
    log(" from the leader's first failed check (its log) to OPEN everywhere:")
    log(row("witness off (the leader alone)", f_off))
    log(row("witness on (next candidate asked)", f_on))
    d = p50(f_on) - p50(f_off)
    log("  added by the witness: %+.0f ms at p50 (ratio %.2f); bound: one "
        "health interval = %d ms -> %s" % (
            d, p50(f_on) / p50(f_off), INTERVAL_MS,
            "within" if d <= INTERVAL_MS else "MISSED"))
    log(" from the switch (includes where each leader's check phase was):")
    log(row("witness off", t_off))
    log(row("witness on", t_on))
    log("  witness checks seen at the dependency: %d" % witness_checks)
    for d_ in off + on:
        d_.stop()


def wall(line):
    """The wall time (s) of a daemon log line."""
    ts = line.split()[0].rstrip("Z")
    return datetime.datetime.fromisoformat(ts).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def first_line(d, pattern, after):
    rx = re.compile(pattern)
    for ln in d.log_text().splitlines():
        if rx.search(ln):
            try:
                t = wall(ln)
            except ValueError:
                continue
            if t >= after:
                return t
    return None


def blind_round(ens, n, witness):
    f = h.FlakyService(name="flaky-blind-%d-%d" % (witness, n))
    f.start()
    tag = "on" if witness else "off"
    names = tuple("b%s%d-%s" % (tag, n, x) for x in "abc")
    ds = start_fleet(ens, f, "/bench-witness/blind-%s-%d" % (tag, n),
                     witness, names, blind_uid=UID)
    a = ds[0]
    try:
        with h.UidBlock(UID, f.port):
            t_rule = time.time()
            if witness:
                h.wait_until(lambda: any(d is not a for d in leading(ds)),
                             30, 0.02, "no seeing leader")
                closed = all_in(ds, "CLOSED")
                t_end = first_line(ds[1], r"fleet: leader of payments", t_rule)
                if t_end is None:
                    t_end = first_line(ds[2], r"fleet: leader of payments",
                                       t_rule)
            else:
                h.wait_until(lambda: all_in(ds, "OPEN"), 30, 0.02,
                             "never OPEN")
                closed = False
                t_end = time.time()
            t_fail = first_line(a, r"prober: payments: health check failed",
                                t_rule)
        if t_fail is None or t_end is None:
            raise SystemExit("blind: log lines not found")
        return (t_end - t_fail) * 1000, closed
    finally:
        a.cleanup()
        for d in ds[1:]:
            d.stop()
        f.proc.kill()


def bench_blind(ens, rounds):
    log("\nblind: only the leader cut off from the dependency (uid rule)")
    if os.geteuid() != 0 or not shutil.which("iptables") \
            or not shutil.which("setpriv"):
        log("  skipped: needs root, iptables and setpriv")
        return
    opened, handed, stayed = [], [], 0
    for n in range(rounds):
        ms_, _ = blind_round(ens, n, 0)
        opened.append(ms_)
        ms_, closed = blind_round(ens, n, 2)
        handed.append(ms_)
        stayed += closed
    log(row("witness off: first failure -> OPEN", opened))
    log(row("witness on: first failure -> handover", handed))
    log("  witness off: the fleet OPEN for everyone in %d of %d rounds; "
        "witness on: CLOSED everywhere at the handover in %d of %d" % (
            len(opened), rounds, stayed, rounds))
    log("  handover vs the blind trip it replaces: ratio %.2f" % (
        p50(handed) / p50(opened)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="trip,blind")
    a = ap.parse_args()
    only = [x for x in a.only.split(",") if x]
    top = Path(tempfile.mkdtemp(prefix="breakerd-bench-witness-"))
    h.install_signal_handlers()
    h.begin_test("bench_witness", top)
    log("bench_witness: %s, %d CPUs, load %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S"), os.cpu_count(),
        " ".join(open("/proc/loadavg").read().split()[:3])))
    ens = h.Ensemble(size=3, tick_ms=500, rdir=top / "zk")
    try:
        ens.start()
        if "trip" in only:
            bench_trip(ens, a.rounds)
        if "blind" in only:
            bench_blind(ens, max(1, a.rounds // 2))
    finally:
        ens.stop()
        h.end_test()
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
