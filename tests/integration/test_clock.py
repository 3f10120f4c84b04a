"""test_clock.py - skewed wall clocks change no answer.

Instances run with their wall clock two hours ahead or behind (libfaketime
preloaded, FAKETIME_DONT_FAKE_MONOTONIC=1: a host whose wall clock is
wrong still has a correct monotonic clock).  Covered, skewing the leader,
a follower and both, at +2 h and -2 h:

- an override with a ttl is in force on every instance within the
  propagation bound, shows its time left, and ends on every instance
  within ttl + a small bound (+ the failover time when its leader stops
  or is killed: the next leader times it from its own first sight);
  nobody ends it early (the old bug of a clock ahead) or late (behind);
- a skewed leader's open wait and backoff, and its lease, are the same;
- a skewed standalone daemon's open wait and half-open limit are the same;
- scripts/check-clock.sh passes on the tree and fails on planted wall-clock
  reads (the guard of the rule can fail).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

from bdlib import (BUILD, ROOT, Daemon, FlakyService, faketime_env,
                   run_tool, wait_ready, wait_until)

SHARED_ENSEMBLE = True
TIMEOUT = 150

DEP = "payments"
PROPAGATION_S = 3.0  # generous: ~2 ms on an idle machine
SLACK_S = 2.5        # leader's timer + delete + watch + re-read, loaded


def _skew_env(offset):
    if offset is None:
        return {}
    env = faketime_env(offset)
    assert env is not None, "libfaketime missing (scripts/install-deps.sh)"
    return env


def _daemon(ens, name, offset, dep_cfg=None):
    return Daemon(name, deps=[DEP], zk=ens, env=_skew_env(offset),
                  dep_overrides={DEP: dep_cfg or {}})


def _leads(d):
    return d.status().get("leader.%s" % DEP) == "1"


def _fleet(ens, offsets, dep_cfg=None):
    """Start inst-a first and wait until it leads, then the others: the
    first offset is the leader's."""
    names = ["inst-a", "inst-b", "inst-c"][:len(offsets)]
    ds = []
    for i, (n, off) in enumerate(zip(names, offsets)):
        d = _daemon(ens, n, off, dep_cfg).start()
        ds.append(d)
        if i == 0:
            wait_until(lambda: _leads(d), 15, 0.05, "%s never led" % n)
    wait_ready(ds, 15, 0.05)
    assert _leads(ds[0]), [d.status().get("leader.%s" % DEP) for d in ds]
    return ds


def _states(ds):
    return [d.state(DEP)["state"] for d in ds]


def _wall_skew_seen(d, offset):
    """The daemon really runs skewed: its registration's started_ms (a
    wall time) differs from ours by about the offset."""
    if offset is None:
        return
    log = d.log_text()
    assert "starting" in log, log[-500:]
    env = dict(os.environ, **_skew_env(offset))
    out = subprocess.run(["date", "+%s"], env=env, capture_output=True,
                         text=True).stdout.strip()
    delta = int(out) - int(time.time())
    want = 7200 if offset.startswith("+") else -7200
    assert abs(delta - want) < 60, (offset, delta)


def _override_round(ds, forcer, ttl_s, stop_leader=False):
    """FORCE open with a ttl on forcer; every instance FORCED_OPEN within
    the propagation bound, none CLOSED before the ttl, all CLOSED within
    ttl (+ failover) + slack.  stop_leader: SIGTERM ds[0] (the leader)
    once it is in force, or signal.SIGKILL to kill it (its session must
    expire first: T + tickTime).  Returns seconds from FORCE to all
    CLOSED."""
    t0 = time.monotonic()
    reply = forcer.cmd("FORCE %s open %d clock test" % (DEP, ttl_s))
    assert reply.startswith("OK "), reply
    wait_until(lambda: _states(ds) == ["FORCED_OPEN"] * len(ds),
               PROPAGATION_S, 0.02, "not FORCED_OPEN everywhere in %ss: %s"
               % (PROPAGATION_S, _states(ds)))
    for d in ds:
        st = d.state(DEP)
        left = [w for w in st["rest"] if w.startswith("ttl_left_ms=")]
        assert left, (d.name, st)
        ms = int(left[0].split("=", 1)[1])
        assert 0 < ms <= ttl_s * 1000, (d.name, st)
    alive = ds
    t_stop = None
    if stop_leader:
        if stop_leader == signal.SIGKILL:
            ds[0].kill()
        else:
            ds[0].stop()
        t_stop = time.monotonic()
        alive = ds[1:]
    # Nobody ends it early: a clock ahead used to end it at once.
    early = t0 + ttl_s - 0.5
    while time.monotonic() < early:
        assert all(s == "FORCED_OPEN" for s in _states(alive)), \
            (time.monotonic() - t0, _states(alive))
        time.sleep(0.1)
    failover = 0
    if stop_leader:
        failover = 3.0 if stop_leader != signal.SIGKILL else \
            2.0 + 0.5 + 3.0   # T + tickTime + election and takeover
    bound = ttl_s + SLACK_S + failover
    wait_until(lambda: _states(alive) == ["CLOSED"] * len(alive),
               max(0.5, t0 + bound - time.monotonic()), 0.05,
               "not all CLOSED %ss after FORCE (ttl %ss%s): %s" % (
                   bound, ttl_s, ", leader stopped" if t_stop else "",
                   _states(alive)))
    took = time.monotonic() - t0
    print("override ttl %ss ended everywhere after %.2fs%s" % (
        ttl_s, took, " (leader stopped)" if stop_leader else ""))
    return took


def test_override_skewed_leader_ahead_followers_behind_and_right(ens):
    """Leader +2 h, one follower -2 h, one follower right: the leader and
    a follower skewed, and two skewed instances at once."""
    ds = _fleet(ens, ["+2h", "-2h", None])
    _wall_skew_seen(ds[0], "+2h")
    _wall_skew_seen(ds[1], "-2h")
    _override_round(ds, ds[2], 4)   # forced on the right clock
    _override_round(ds, ds[1], 4)   # forced on the clock behind
    # The leader stops: the next one (-2 h) re-arms from its first sight.
    _override_round(ds, ds[2], 4, stop_leader=True)


def test_override_skewed_leader_behind_follower_ahead(ens):
    ds = _fleet(ens, ["-2h", "+2h", None])
    _wall_skew_seen(ds[0], "-2h")
    _override_round(ds, ds[1], 4)   # forced on the clock ahead
    _override_round(ds, ds[0], 3)   # forced on the leader itself
    # The leader dies with a 1 s override in force: it outlives its ttl
    # by the failover (the next leader, +2 h, deletes it at once).
    took = _override_round(ds, ds[2], 1, stop_leader=signal.SIGKILL)
    assert took >= 1.0, took



def _skewed_leader_waits(ens, offset):
    """A skewed leader opens the fleet on failed checks, waits open_wait_ms
    before its first probe and twice that (backoff) before the next."""
    f = FlakyService()
    f.start()
    cfg = {"breaker": {"open_wait_ms": 1000, "open_wait_max_ms": 60000,
                       "backoff_multiplier_pct": 200, "jitter_pct": 0},
           "probe": {"count": 1, "interval_ms": 100},
           "health": {"http": f.url("/health"), "interval_ms": 300,
                      "jitter_ms": 0, "timeout_ms": 250,
                      "unhealthy_threshold": 2, "healthy_threshold": 1}}
    ds = _fleet(ens, [offset, None], cfg)
    leader = ds[0]
    st = leader.status()
    lease = int(st["lease_ms_left"])
    timeout = int(st["zk_timeout_ms"])
    assert 0 < lease <= 2 * timeout // 3 + 1, st
    f.set_mode("error")
    wait_until(lambda: _states(ds) == ["OPEN", "OPEN"], 15, 0.02,
               "skewed leader never opened: %s" % _states(ds))
    t_open = time.monotonic() * 1000
    f.reset()
    # The leader's own probes; a witness's checks (X-Breakerd-Witness, a
    # second opinion before each reopening) are not probes.
    def probes():
        return [r["t_ms"] for r in f.stats()["recent"]
                if not r.get("witness")]
    wait_until(lambda: len(probes()) >= 2, 15, 0.05,
               "no two probes after OPEN: %s" % f.stats())
    t = probes()
    first, gap = t[0] - t_open, t[1] - t[0]
    print("%s leader: first probe %.0f ms after OPEN seen (open_wait 1000),"
          " next %.0f ms later (backoff: 2000)" % (offset, first, gap))
    assert 500 <= first <= 3000, first
    assert 1700 <= gap <= 4500, gap
    assert list(f.stats()["by_instance"]) == [leader.name], f.stats()


def test_open_wait_and_backoff_leader_ahead(ens):
    _skewed_leader_waits(ens, "+2h")


def test_open_wait_and_backoff_leader_behind(ens):
    _skewed_leader_waits(ens, "-2h")


def _local_waits(offset):
    """Standalone under skew: the local breaker's open wait and half-open
    limit run on the monotonic clock."""
    d = Daemon("solo", deps=[DEP], env=_skew_env(offset), dep_overrides={
        DEP: {"breaker": {"window_size": 4, "minimum_calls": 4,
                          "failure_rate_pct": 50, "open_wait_ms": 1000,
                          "jitter_pct": 0, "half_open_calls": 1,
                          "half_open_max_ms": 1000}}}).start()
    with d.client() as c:
        for _ in range(4):
            assert c.cmd("REPORT %s fail 5" % DEP) == "OK"
        t0 = time.monotonic()
        assert c.cmd("ALLOW %s" % DEP) == "OK DENY OPEN"
        wait_until(lambda: c.cmd("ALLOW %s" % DEP) == "OK ALLOW", 5, 0.02,
                   "open wait never ended under %s" % offset)
        waited = time.monotonic() - t0
        # The permit is taken and nothing reported: the half-open limit
        # sends it back to OPEN after half_open_max_ms.
        t1 = time.monotonic()
        wait_until(lambda: d.state(DEP)["state"] == "OPEN", 5, 0.02,
                   "half-open limit never ran out under %s" % offset)
        limit = time.monotonic() - t1
    print("%s standalone: open wait %.2fs (1.0), half-open limit %.2fs "
          "(1.0)" % (offset, waited, limit))
    assert 0.8 <= waited <= 3.0, waited
    assert 0.7 <= limit <= 3.0, limit


def test_local_waits_ahead():
    _local_waits("+2h")


def test_local_waits_behind():
    _local_waits("-2h")


def test_standalone_override_ttl_under_skew():
    """Standalone, the daemon ends its own override on its monotonic
    clock: 2 s under +2 h and -2 h alike."""
    for offset in ("+2h", "-2h"):
        d = Daemon("solo%s" % offset[0].replace("+", "p").replace("-", "m"),
                   deps=[DEP], env=_skew_env(offset)).start()
        t0 = time.monotonic()
        assert d.cmd("FORCE %s open 2" % DEP).startswith("OK ")
        assert d.state(DEP)["state"] == "FORCED_OPEN"
        wait_until(lambda: d.state(DEP)["state"] == "CLOSED", 6, 0.05,
                   "standalone override never ended under %s" % offset)
        took = time.monotonic() - t0
        assert 1.8 <= took <= 4.0, (offset, took)
        d.stop()


def test_check_clock_guard(run_dir):
    """The guard passes on the tree and fails on a planted wall-clock read
    in a pure module, and on an unmarked one in a listed file."""
    script = ROOT / "scripts" / "check-clock.sh"

    def guard(*tree):
        return subprocess.run([str(script)] + [str(t) for t in tree],
                              capture_output=True, text=True)

    def planted(path, code):
        """The guard's verdict on the tree with code added to path (the
        file is restored after)."""
        text = path.read_text()
        path.write_text(text + code)
        r = guard(path.parent)
        path.write_text(text)
        return r

    r = guard()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fleet.c" in r.stdout, r.stdout
    tree = run_dir / "src"
    shutil.copytree(ROOT / "src", tree)
    r = guard(tree)
    assert r.returncode == 0, r.stdout
    r = planted(tree / "registry.c",
                "uint64_t bad(void) { return now_wall_ms(); }\n")
    assert r.returncode == 1 and "registry.c" in r.stdout, r.stdout
    r = planted(tree / "fleet.c",
                "static uint64_t t2(void) { return now_wall_ms(); }\n")
    assert r.returncode == 1 and "not marked" in r.stdout, r.stdout
    r = planted(tree / "breaker.c",
                "/* */ static struct timespec ts; "
                "static int g(void) { return clock_gettime("
                "CLOCK_REALTIME, &ts); }\n")
    assert r.returncode == 1 and "breaker.c" in r.stdout, r.stdout


def test_breakerctl_shows_time_left():
    """`breakerctl get` and `status` show an override's time left, as the
    answering daemon measures it; nothing when the override has no ttl."""
    ctl = str(BUILD / "breakerctl")
    d = Daemon("solo-ctl", deps=[DEP]).start()
    assert d.cmd("FORCE %s open 60 window" % DEP).startswith("OK ")
    r = run_tool([ctl, "-s", d.socket_path, "get", DEP])
    assert r.returncode == 1, r.stdout + r.stderr   # FORCED_OPEN denies
    m = re.search(r"override ends in (\d+)\.(\d{3})s", r.stdout)
    assert m and 55 <= int(m.group(1)) <= 60, r.stdout
    r = run_tool([ctl, "-s", d.socket_path, "--json", "get", DEP])
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["state"] == "FORCED_OPEN" and \
        55000 <= doc["ttl_left_ms"] <= 60000, doc
    r = run_tool([ctl, "-s", d.socket_path, "status"])
    line = [ln for ln in r.stdout.splitlines()
            if ln.startswith("override.%s" % DEP)]
    assert line and "ttl_ms=60000" in line[0] and "ttl_left_ms=" in line[0], \
        r.stdout
    assert d.cmd("FORCE %s open" % DEP).startswith("OK ")
    r = run_tool([ctl, "-s", d.socket_path, "get", DEP])
    assert "override ends" not in r.stdout, r.stdout
    r = run_tool([ctl, "-s", d.socket_path, "status"])
    assert "ttl_ms=0" in r.stdout, r.stdout
