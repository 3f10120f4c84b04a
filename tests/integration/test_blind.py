"""test_blind.py - a leader that cannot see the dependency must not open it
for the whole fleet (docs/health-checks.md, "A second opinion").

Three daemons, a real 3-node ZooKeeper ensemble and the flaky dependency.
The first daemon (the leader) runs under a uid of its own (setpriv), and
this test's iptables rule (OUTPUT, -m owner --uid-owner, comment bd13)
rejects only that uid's connections to the dependency; the rule is
removed afterwards.  Covered:

- blind leader: its checks fail, its witness (the next candidate) sees the
  dependency healthy; the fleet stays CLOSED on every instance, the leader
  marks itself blind (STATUS, METRICS, log) and leadership moves to a
  seeing instance; the dependency's log shows one health-check source at a
  time apart from the witness checks;
- really down: OPEN everywhere within the old bound plus one interval,
  the witness agreeing (its checks are in the dependency's log, marked);
- blind in half-open: the dependency recovered but the leader's probes
  fail; the fleet closes through a seeing leader;
- the fleet's own traffic as the second vantage point: another instance's
  trip vote standing, the leader opens without asking a witness;
- no witness: a single instance opens alone; a witness that cannot answer
  within one interval (its check hangs) leaves the leader to open alone.
"""

import os
import re
import shutil
import time

from bdlib import (Daemon, FlakyService, Skip, UidBlock, UidDaemon,
                   health_dep_config, leaders, states, wait_ready,
                   wait_until)

SHARED_ENSEMBLE = True
TIMEOUT = 150

DEP = "payments"
BLIND_UID = 61313          # this test's own uid for the blind leader
HEALTH_MS = 1000
THRESHOLD = 3


def _dep_config(f, wait_ms=3000, probe_ms=300, breaker=None):
    """payments, checked every second on the flaky service."""
    return health_dep_config(f, wait_ms, probe_ms, breaker, HEALTH_MS,
                             THRESHOLD)


def _need_root():
    if os.geteuid() != 0 or not shutil.which("iptables") \
            or not shutil.which("setpriv"):
        raise Skip("needs root, iptables and setpriv (uid rule)")


def _leader(ds):
    """The daemons whose STATUS says they lead payments."""
    return leaders(ds, DEP, quiet=True)


def _states(ds):
    return states(ds, DEP)


def _open_everywhere(ds, f, mode):
    """Put the service in `mode`; the seconds until all three are OPEN."""
    t0 = time.monotonic()
    f.set_mode(mode)
    wait_until(lambda: _states(ds) == ["OPEN"] * 3, 30, 0.05,
               "not OPEN everywhere: %s" % _states(ds))
    return time.monotonic() - t0


def _fleet(ens, f, blind_first=True, **kw):
    """inst-a (under BLIND_UID) first, so it leads; then inst-b, inst-c."""
    cfg = _dep_config(f, **kw)
    a = UidDaemon("inst-a", BLIND_UID, deps=[DEP], zk=ens,
                  dep_overrides={DEP: cfg}).start()
    wait_until(lambda: _leader([a]) == [a], 20, 0.1, "inst-a never led")
    ds = [a] + [Daemon(n, deps=[DEP], zk=ens, dep_overrides={DEP: cfg})
                .start() for n in ("inst-b", "inst-c")]
    wait_ready(ds, 20, 0.1)
    wait_until(lambda: _states(ds) == ["CLOSED"] * 3, 10, 0.1,
               "not CLOSED at start: %s" % _states(ds))
    return ds


def _turns(recent):
    """The sequence of instances whose own checks (not witness checks)
    reached the dependency, repeats collapsed; and the witness checks."""
    order, wit = [], []
    for r in sorted(recent, key=lambda r: r["t_ms"]):
        if r.get("witness"):
            wit.append((r["instance"], r["witness"]))
            continue
        if not order or order[-1] != r["instance"]:
            order.append(r["instance"])
    return order, wit


def _log_has(d, pattern):
    return re.search(pattern, d.log_text()) is not None


def test_blind_leader_hands_over(ens):
    _need_root()
    f = FlakyService()
    f.start()
    ds = _fleet(ens, f)
    a = ds[0]
    try:
        with UidBlock(BLIND_UID, f.port):
            f.reset()
            t0 = time.monotonic()
            seen = []

            def moved():
                st = _states(ds)
                seen.append(st)
                assert st == ["CLOSED"] * 3, "fleet moved: %s" % st
                lead = _leader(ds)
                return len(lead) == 1 and lead[0] is not a
            wait_until(moved, 30, 0.05, "leadership did not move off "
                       "the blind leader")
            took = time.monotonic() - t0
            new = _leader(ds)[0]
            # Bound: the failed checks, one witness round, the handover.
            assert took < (THRESHOLD + 1) * HEALTH_MS / 1000.0 + 10, took
            st = a.status()
            assert st.get("blind.%s" % DEP) == "1", st
            assert "saw it healthy" in st.get("blind.%s.reason" % DEP, ""), st
            assert _log_has(a, r"payments: blind: witness inst-[bc] saw it "
                            r"healthy .*connect refused"), a.log_text()[-3000:]
            with a.client() as c:
                metrics = c.cmd_multi("METRICS")
            assert 'breakerd_blind{dep="payments"} 1' in metrics, metrics
            assert any(ln.startswith('breakerd_witness_requests_total{'
                                     'dep="payments",outcome="blind"} 1')
                       for ln in metrics), metrics
            # The new leader's own checks reach the dependency; meanwhile
            # the fleet stays CLOSED everywhere.
            wait_until(lambda: sum(
                1 for r in f.stats()["recent"]
                if r["instance"] == new.name and not r.get("witness")) >= 3,
                20, 0.1, "the new leader does not check")
            assert _states(ds) == ["CLOSED"] * 3, _states(ds)
            assert all(s == ["CLOSED"] * 3 for s in seen), seen
            order, wit = _turns(f.stats()["recent"])
            assert len(order) == len(set(order)), order
            assert a.name not in order, order
            assert wit and all(w == a.name for _, w in wit), wit
            assert len(wit) <= 2, wit  # witness_checks, one round
            assert a.status().get("leader.%s" % DEP) != "1"
        for d in ds:
            assert not _log_has(d, r"payments: CLOSED -> OPEN \(health"), \
                d.name
        print("blind handover: %.1f s from the rule to a seeing leader"
              % took)
    finally:
        a.cleanup()


def test_really_down_opens(ens):
    _need_root()
    f = FlakyService()
    f.start()
    ds = _fleet(ens, f)
    try:
        leader = _leader(ds)[0]
        f.reset()
        took = _open_everywhere(ds, f, "error")
        # The old bound (threshold x interval, with slack) + one interval.
        assert took < (THRESHOLD + 1) * HEALTH_MS / 1000.0 + 8, took
        assert _log_has(leader, r"CLOSED -> OPEN \(health check: 3 "
                        r"consecutive failures \(HTTP 500\); witness "
                        r"inst-[bc] agrees \(HTTP 500\)\)"), \
            leader.log_text()[-3000:]
        order, wit = _turns(f.stats()["recent"])
        assert order == [leader.name], order
        assert 1 <= len(wit) <= 2 and all(w == leader.name
                                          for _, w in wit), wit
        print("really down: OPEN everywhere %.1f s after the failure" % took)
    finally:
        ds[0].cleanup()


def test_blind_in_half_open(ens):
    _need_root()
    f = FlakyService()
    f.start()
    ds = _fleet(ens, f, wait_ms=3000)
    a = ds[0]
    try:
        _open_everywhere(ds, f, "error")
        assert _leader(ds) == [a]
        with UidBlock(BLIND_UID, f.port):
            f.set_mode("ok")
            wait_until(lambda: _states(ds) == ["CLOSED"] * 3, 40, 0.1,
                       "not CLOSED again: %s" % _states(ds))
            closer = [d for d in ds if _log_has(
                d, r"payments: HALF_OPEN -> CLOSED \(probe 3/3 ok\) \[v\d+\]")]
            assert closer and a not in closer, [d.name for d in closer]
            assert _log_has(a, r"payments: blind: witness inst-[bc] saw it "
                            r"healthy .*probe 1/3 failed"), \
                a.log_text()[-3000:]
            assert a.status().get("blind.%s" % DEP) == "1"
    finally:
        a.cleanup()


def test_votes_of_others_corroborate(ens):
    _need_root()
    f = FlakyService()
    f.start()
    ds = _fleet(ens, f, breaker={"window": "count", "window_size": 10,
                                 "minimum_calls": 5, "failure_rate_pct": 50})
    a = ds[0]
    try:
        leader = _leader(ds)[0]
        other = [d for d in ds if d is not leader][0]
        with other.client() as c:
            for _ in range(12):
                assert c.cmd("REPORT %s fail 5" % DEP) == "OK"
        assert other.state(DEP)["state"] == "OPEN"  # its local breaker
        wait_until(lambda: leader.status().get("votes.%s" % DEP) == "1",
                   10, 0.05, "the leader does not count the vote")
        assert _states([d for d in ds if d is not other]) == \
            ["CLOSED", "CLOSED"]  # one vote, min_votes 2: no fleet trip
        f.reset()
        _open_everywhere(ds, f, "error")
        assert _log_has(leader, r"CLOSED -> OPEN \(health check: 3 "
                        r"consecutive failures \(HTTP 500\); trip votes "
                        r"of 1 other\(s\) agree\) \[v\d+\]"), \
            leader.log_text()[-3000:]
        assert not f.stats().get("by_witness"), f.stats()
        assert leader.status().get(
            "witness.%s.votes_agreed" % DEP) == "1"
    finally:
        a.cleanup()


def _plain_fleet(ens, f, names, **health):
    """Daemons under our own uid (no cut needed), names[0] leading."""
    cfg = _dep_config(f)
    cfg["health"].update(health)
    ds = []
    for n in names:
        ds.append(Daemon(n, deps=[DEP], zk=ens,
                         dep_overrides={DEP: cfg}).start())
        if len(ds) == 1:
            wait_until(lambda: _leader(ds) == ds, 20, 0.1, "no leader")
    return wait_ready(ds, 20, 0.1)


def test_single_instance_opens_alone(ens):
    f = FlakyService()
    f.start()
    (a,) = _plain_fleet(ens, f, ("inst-a",))
    f.set_mode("error")
    wait_until(lambda: a.state(DEP)["state"] == "OPEN", 20, 0.05,
               "not OPEN")
    assert _log_has(a, r"CLOSED -> OPEN \(health check: 3 consecutive "
                    r"failures \(HTTP 500\); no witness \(no other "
                    r"candidate\)\) \[v\d+\]"), a.log_text()[-3000:]
    assert a.status().get("witness.%s.asked_alone" % DEP) == "1"


def test_witness_too_slow_opens_alone(ens):
    # Checks time out after a full interval: the witness's first check
    # cannot come back before the leader's deadline (one interval).
    f = FlakyService()
    f.start()
    ds = _plain_fleet(ens, f, ("inst-a", "inst-b", "inst-c"),
                      timeout_ms=HEALTH_MS)
    a = ds[0]
    took = _open_everywhere(ds, f, "hang")
    assert took < (THRESHOLD + 2) * HEALTH_MS / 1000.0 + 8, took
    assert _log_has(a, r"CLOSED -> OPEN \(health check: 3 consecutive "
                    r"failures \(timeout after 1000 ms\); no witness \(no "
                    r"answer in time\)\) \[v\d+\]"), a.log_text()[-3000:]
    wit = [r for r in f.stats()["recent"] if r.get("witness")]
    assert len(wit) == 1 and wit[0]["witness"] == a.name, wit
    # The leader gave up and deleted the request: the witness stopped, or
    # (its check timing out just as the deadline passed) found no request
    # to answer.
    m = re.search(r"witness: payments: asked (inst-\w) for 2 check\(s\) "
                  r"\(request 1\)", a.log_text())
    assert m, a.log_text()[-3000:]
    w = [d for d in ds if d.name == m.group(1)][0]
    wait_until(lambda: _log_has(w, r"witness: payments: (request 1 of "
                                r"inst-a withdrawn; checks stopped|answer "
                                r"not written \(no node\))"), 10,
               0.1, "the witness did not stop")
    assert not _log_has(a, r"witness: (confirmed|blind)")
