"""test_probes.py - the leader's health checks, half-open probes and trip
votes on a real fleet: three breakerd daemons, a real 3-node ZooKeeper
ensemble and the flaky HTTP dependency, which counts requests per instance
(X-Breakerd-Instance) so a test can tell that only the leader probes.

Covered: the dependency goes down -> OPEN on every instance, requests from
the leader only; it comes back -> exactly one probe sequence, then CLOSED
everywhere; the leader SIGKILLed during HALF_OPEN -> the new leader finishes
the recovery; one instance's local trip below quorum stays local, a second
vote reaches quorum -> OPEN everywhere; an override with a TTL ->
FORCED_OPEN everywhere, automatic again after it.  See docs/health-checks.md.
"""

import re
import signal
import time

from bdlib import Daemon, FlakyService, wait_until

SHARED_ENSEMBLE = True
TIMEOUT = 150

DEP = "payments"
NAMES = ("inst-a", "inst-b", "inst-c")


def _dep_config(f, health_ms=1000, probe_ms=300, probes=3, wait_ms=3000):
    """payments, checked on the flaky service (f None: no health check)."""
    cfg = {
        "breaker": {"open_wait_ms": wait_ms, "open_wait_max_ms": 60000,
                    "backoff_multiplier_pct": 200, "jitter_pct": 0},
        "probe": {"count": probes, "interval_ms": probe_ms},
        "quorum": {"min_votes": 2, "fraction_pct": 50},
    }
    if f is not None:
        cfg["health"] = {"http": f.url("/health"), "interval_ms": health_ms,
                         "jitter_ms": 0, "timeout_ms": 500,
                         "unhealthy_threshold": 3, "healthy_threshold": 1}
    return cfg


def _fleet(ens, dep_cfg, names=NAMES):
    """Start one daemon per name, all with the same dependency config."""
    return [Daemon(n, deps=[DEP], zk=ens, dep_overrides={DEP: dep_cfg})
            .start() for n in names]


def _leads(d):
    """Does d say (STATUS) that its prober leads payments?"""
    try:
        return ("probe.%s.state" % DEP) in d.status()
    except (OSError, AssertionError):
        return False


def _wait_leader(daemons, timeout=20):
    """The one daemon whose prober leads payments."""
    found = []

    def one():
        found[:] = [d for d in daemons if d.alive() and _leads(d)]
        return len(found) == 1
    wait_until(one, timeout, 0.1, "no single leader of %s" % DEP)
    return found[0]


def _states(daemons):
    return [d.state(DEP)["state"] for d in daemons]


def _wait_all(daemons, state, timeout, why=""):
    wait_until(lambda: _states(daemons) == [state] * len(daemons), timeout,
               0.05, "not all %s %s: %s" % (state, why, _states(daemons)))


def _transitions(d, pattern):
    """The prober's transition lines in d's log ("dep: A -> B (why) [vN]")."""
    rx = re.compile(r"%s: %s \[v\d+\]" % (DEP, pattern))
    return [ln for ln in d.log_text().splitlines() if rx.search(ln)]


def test_down_then_back_leader_only(ens):
    f = FlakyService()
    f.start()
    ds = _fleet(ens, _dep_config(f, health_ms=1500, probe_ms=300))
    leader = _wait_leader(ds)
    wait_until(lambda: f.stats()["total"] >= 2, 10, 0.1, "no health checks")
    _wait_all(ds, "CLOSED", 10)

    # Down: three failed checks open the fleet on every instance.
    f.set_mode("error")
    _wait_all(ds, "OPEN", 20, "after the dependency failed")
    assert list(f.stats()["by_instance"]) == [leader.name], f.stats()
    assert _transitions(leader, r"CLOSED -> OPEN \(health check: 3 "
                        r"consecutive failures \(HTTP 500\)(; witness \S+ "
                        r"agrees \(HTTP 500\))?\)"), \
        leader.log_text()[-3000:]

    # Back: nothing is sent while OPEN, then one sequence of 3 probes.
    f.set_mode("ok")
    f.reset()
    _wait_all(ds, "CLOSED", 30, "after the dependency came back")
    st = f.stats()
    assert list(st["by_instance"]) == [leader.name], st
    rec = st["recent"]
    assert len(rec) >= 3, rec
    t = [r["t_ms"] for r in rec]
    # The three probes, probe.interval_ms apart (the daemon spaces them).
    assert t[1] - t[0] >= 250 and t[2] - t[1] >= 250, t
    # Whatever follows is a health check a full interval later, not a
    # second probe sequence.
    if len(t) > 3:
        assert t[3] - t[2] >= 1200, t
    assert len(_transitions(leader, r"OPEN -> HALF_OPEN \(open wait "
                            r"\d+ ms over\)")) == 1
    assert _transitions(leader, r"HALF_OPEN -> CLOSED \(probe 3/3 ok\)")
    # The others never probed and never wrote.
    for d in ds:
        if d is not leader:
            assert not _transitions(d, r".* -> .*"), d.name


def test_leader_killed_during_half_open(ens):
    f = FlakyService()
    f.start()
    # 3 probes 2 s apart: HALF_OPEN lasts over 4 s, room to kill.
    ds = _fleet(ens, _dep_config(f, health_ms=500, probe_ms=2000,
                                 wait_ms=2000))
    leader = _wait_leader(ds)
    f.set_mode("error")
    _wait_all(ds, "OPEN", 20)
    f.set_mode("ok")
    wait_until(lambda: "HALF_OPEN" in _states(ds), 20, 0.05,
               "never HALF_OPEN: %s" % _states(ds))
    leader.kill()
    rest = [d for d in ds if d is not leader]
    f.reset()
    new = _wait_leader(rest, timeout=30)
    _wait_all(rest, "CLOSED", 40, "after the leader died")
    assert list(f.stats()["by_instance"]) == [new.name], f.stats()
    assert _transitions(new, r"HALF_OPEN -> CLOSED \(probe 3/3 ok\)")
    # Nobody is left (or goes back) in HALF_OPEN: checked once the leader
    # has run two more health checks (every 500 ms) after closing.
    seen = f.stats()["total"]
    wait_until(lambda: f.stats()["total"] >= seen + 2, 10, 0.1,
               "no health checks after CLOSED")
    assert _states(rest) == ["CLOSED"] * len(rest)


test_leader_killed_during_half_open.timeout = 150


def _report_failures(d, n=12):
    with d.client() as c:
        for _ in range(n):
            assert c.cmd("REPORT %s fail 5" % DEP) == "OK"


def test_votes_below_and_at_quorum(ens):
    # No health check: only the apps' reports and the votes count.
    cfg = _dep_config(None, wait_ms=60000)
    cfg["breaker"].update({"window": "count", "window_size": 10,
                           "minimum_calls": 5, "failure_rate_pct": 50})
    ds = _fleet(ens, cfg)
    leader = _wait_leader(ds)
    a, b, c = ds
    _wait_all(ds, "CLOSED", 10)

    # One vote of three, min_votes 2: a opens locally, the fleet stays
    # (checked once the leader has counted that vote).
    _report_failures(a)
    assert a.state(DEP)["state"] == "OPEN"
    wait_until(lambda: leader.status().get("probe.%s.votes" % DEP) ==
               "1/3", 10, 0.1, "the leader never counted a's vote")
    assert b.state(DEP)["state"] == "CLOSED"
    assert c.state(DEP)["state"] == "CLOSED"
    assert a.state(DEP)["state"] == "OPEN"

    # A second vote reaches the quorum: OPEN everywhere, c included.
    _report_failures(b)
    _wait_all(ds, "OPEN", 15, "after the second vote")
    st = c.state(DEP)
    assert st["authority"] == "authoritative", st
    assert int(st["version"]) > 0, st


def test_override_ttl(ens):
    f = FlakyService()
    f.start()
    ds = _fleet(ens, _dep_config(f, health_ms=500))
    _wait_leader(ds)
    _wait_all(ds, "CLOSED", 10)
    wait_until(lambda: f.stats()["total"] >= 2, 10, 0.1, "no health checks")
    t_force = time.monotonic() * 1000
    reply = ds[1].cmd("FORCE %s open 3 maintenance" % DEP)
    assert reply.startswith("OK"), reply
    _wait_all(ds, "FORCED_OPEN", 10, "after FORCE")
    # The ttl (3 s) runs on the leader's monotonic clock, which then
    # deletes the override: generous room for propagation.
    _wait_all(ds, "CLOSED", 15, "after the override's ttl")
    # The override paused the leader (checks every 500 ms otherwise): none
    # in the middle of it, well clear of its start and its end.
    quiet = [r for r in f.stats()["recent"]
             if t_force + 1000 <= r["t_ms"] <= t_force + 2800]
    assert quiet == [], quiet
    # Health checks resume after it.
    f.reset()
    wait_until(lambda: f.stats()["total"] >= 1, 10, 0.1,
               "health checks did not resume")
