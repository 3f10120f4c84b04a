"""test_ramp.py - the recovery ramp on a real fleet (3-node ZooKeeper
ensemble): after the leader closes an open breaker, five instances admit
the configured share of ALLOWs step by step (measured fleet-wide against
each step, +-10 %), GET and WATCH show the ramp and its share, METRICS
counts the calls held back, and the ramp ends with an event.  Failures
during the ramp trip the local breakers, their votes re-open the fleet, and
the leader backs off one step further (the record's failed_recoveries and
open_wait_ms say so).  See docs/recovery.md.
"""

import json
import threading
import time

from bdlib import BUILD, Daemon, run_tool, wait_ready, wait_until, zk_root

SHARED_ENSEMBLE = True
TIMEOUT = 150
DEP = "payments"
ZKCTL = BUILD / "tools" / "zkctl"
STEPS = [20, 40, 60, 80]


def read_state(ens):
    r = run_tool([ZKCTL, ens.hosts, "get",
                  "%s/deps/%s/state" % (zk_root(), DEP)])
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def start(ens, names, dep_cfg):
    ds = [Daemon(n, deps=[DEP], zk=ens, dep_overrides={DEP: dep_cfg})
          for n in names]
    return wait_ready([d.start() for d in ds])


def leader(ds):
    found = []

    def one():
        found[:] = [d for d in ds
                    if d.status().get("leader.%s" % DEP) == "1"]
        return len(found) == 1
    wait_until(one, 20, 0.1, msg="one leader of %s" % DEP)
    return found[0]


def publish(d, state):
    reply = d.cmd("PUBLISH %s %s test" % (DEP, state))
    assert reply.startswith("OK"), reply
    return int(reply.split()[1])


def ramp_word(view):
    """"20.0" from GET's trailing ramp=20.0% word; None if not ramping."""
    for w in view["rest"]:
        if w.startswith("ramp=") and w.endswith("%"):
            return w[5:-1]
    return None


def sample(d, tally, stop):
    """Batches of 40 pipelined ALLOWs between two GETs that agree on the
    share: the batch counts for that share (a batch across a step edge
    is dropped)."""
    with d.client(timeout=10) as c:
        while not stop.is_set():
            before = ramp_word(_get(c))
            time.sleep(0.005)  # leave the shared machine some CPU
            c.send_raw(("ALLOW %s\n" % DEP).encode() * 40)
            replies = [c.readline() for _ in range(40)]
            after = ramp_word(_get(c))
            if before is None and after is None and tally.get("seen"):
                return
            if before is None or before != after:
                continue
            tally["seen"] = True
            ok = sum(1 for r in replies if r == "OK ALLOW")
            held = sum(1 for r in replies if r == "OK DENY RAMPING")
            assert ok + held == 40, replies
            n, a = tally.get(before, (0, 0))
            tally[before] = (n + 40, a + ok)


def _get(c):
    w = c.cmd("GET %s" % DEP).split()
    assert len(w) >= 5 and w[0] == "OK", w
    return {"state": w[2], "rest": w[5:]}


def test_ramp_share_follows_steps_on_five_instances(ens):
    cfg = {"ramp": {"duration_ms": 12000, "steps_pct": STEPS}}
    ds = start(ens, ["inst-%s" % c for c in "abcde"], cfg)
    lead = leader(ds)
    publish(lead, "OPEN")
    for d in ds:
        wait_until(lambda d=d: d.state(DEP)["state"] == "OPEN", 10,
                   msg="%s OPEN" % d.name)
        reply = d.cmd("ALLOW %s" % DEP)
        assert reply == "OK DENY OPEN", (d.name, reply)
    watch = ds[1].client(timeout=30)
    watch.send("WATCH %s" % DEP)
    reply = watch.readline()
    assert reply == "OK", reply
    tallies = [dict() for _ in ds]
    stop = threading.Event()
    threads = [threading.Thread(target=sample, args=(d, t, stop))
               for d, t in zip(ds, tallies)]
    version = publish(lead, "CLOSED")
    for t in threads:
        t.start()
    ev = wait_until(lambda: (lambda ln: ln if ln and "CLOSED" in ln
                             else None)(watch.readline(timeout=1)), 10,
                    msg="WATCH sees the close")
    assert ev == "EVENT %s CLOSED %d authoritative ramp=20.0%%" % (
        DEP, version), ev
    end = wait_until(lambda: (lambda ln: ln if ln and "ramp" not in ln
                              else None)(watch.readline(timeout=1)), 30,
                     msg="WATCH sees the ramp end")
    assert end == "EVENT %s CLOSED %d authoritative" % (DEP, version), end
    stop.set()
    for t in threads:
        t.join(30)
    watch.close()
    print("per step, fleet-wide: share -> calls, admitted")
    for pct in STEPS:
        key = "%d.0" % pct
        n = sum(t.get(key, (0, 0))[0] for t in tallies)
        a = sum(t.get(key, (0, 0))[1] for t in tallies)
        seen = sum(1 for t in tallies if key in t)
        print("  %3d%%: %5d calls, %5d admitted = %5.1f%% (%d instances)"
              % (pct, n, a, 100.0 * a / max(n, 1), seen))
        assert seen == 5, (key, tallies)
        assert n >= 400, (key, n)
        assert abs(100.0 * a / n - pct) <= pct * 0.10, (key, n, a)
    for d in ds:
        # each instance ends its own ramp, from when it applied the close
        wait_until(lambda d=d: ramp_word(d.state(DEP)) is None, 10,
                   msg="%s ends its ramp" % d.name)
        assert d.cmd("ALLOW %s" % DEP) == "OK ALLOW", d.name
    with ds[0].client() as c:
        metrics = c.cmd_multi("METRICS")
    held = [ln for ln in metrics
            if ln.startswith('breakerd_ramp_held_total{dep="%s"}' % DEP)]
    ramps = [ln for ln in metrics
             if ln.startswith('breakerd_ramps_total{dep="%s"}' % DEP)]
    assert held and int(held[0].split()[1]) > 0, held
    assert ramps and ramps[0].split()[1] == "1", ramps
    # the end of an operator's forced outage ramps every instance too
    reply = ds[2].cmd("FORCE %s open maintenance" % DEP)
    assert reply.startswith("OK"), reply
    for d in ds:
        wait_until(lambda d=d: d.state(DEP)["state"] == "FORCED_OPEN", 10,
                   msg="%s FORCED_OPEN" % d.name)
    reply = ds[2].cmd("FORCE %s auto" % DEP)
    assert reply.startswith("OK"), reply
    for d in ds:
        wait_until(lambda d=d: ramp_word(d.state(DEP)) is not None, 10,
                   msg="%s ramps after the override" % d.name)


def fail_until_open(d):
    """Report every admitted call as failed until the local breaker trips
    (the effective answer then stops admitting: OK DENY OPEN)."""
    with d.client(timeout=10) as c:
        for _ in range(5000):
            r = c.cmd("ALLOW %s" % DEP)
            if r == "OK ALLOW":
                assert c.cmd("REPORT %s fail" % DEP) == "OK"
            elif r.startswith("OK DENY") and r != "OK DENY RAMPING":
                return r
        raise AssertionError("%s never tripped locally" % d.name)


def test_failures_during_ramp_reopen_with_next_backoff(ens):
    cfg = {"ramp": {"duration_ms": 60000, "min_pct": 50},
           "breaker": {"window_size": 10, "minimum_calls": 10,
                       "failure_rate_pct": 50, "open_wait_ms": 2000,
                       "backoff_multiplier_pct": 200,
                       "open_wait_max_ms": 60000, "jitter_pct": 0},
           "quorum": {"min_votes": 2, "fraction_pct": 50}}
    ds = start(ens, ["inst-a", "inst-b", "inst-c"], cfg)
    lead = leader(ds)
    publish(lead, "OPEN")
    for d in ds:
        wait_until(lambda d=d: d.state(DEP)["state"] == "OPEN", 10,
                   msg="%s OPEN" % d.name)
    publish(lead, "CLOSED")
    closed = read_state(ens)
    assert closed["state"] == "CLOSED", closed
    for d in ds:
        wait_until(lambda d=d: ramp_word(d.state(DEP)) is not None, 10,
                   msg="%s ramping" % d.name)
    share = float(ds[0].status()["ramp.%s" % DEP].rstrip("%"))
    assert 50.0 <= share < 60.0, share
    # breakerctl (an old-style client) sees a held call as a denial
    seen = set()
    for _ in range(40):
        r = run_tool([BUILD / "breakerctl", "-s", ds[0].socket_path,
                      "allow", DEP])
        seen.add((r.returncode, r.stdout.strip()))
        if len(seen) == 2:
            break
    assert seen == {(0, "ALLOW"), (1, "DENY RAMPING")}, seen
    r = run_tool([BUILD / "breakerctl", "-s", ds[0].socket_path, "get", DEP])
    assert r.returncode == 0 and "CLOSED" in r.stdout, (r.stdout, r.stderr)
    for d in ds:
        fail_until_open(d)
    rec = wait_until(lambda: (lambda r: r if r and r["state"] == "OPEN"
                              else None)(read_state(ens)), 15,
                     msg="the fleet re-opens")
    print("re-opened:", rec["reason"], "failed_recoveries",
          rec["failed_recoveries"], "open_wait_ms", rec["open_wait_ms"])
    assert "during the recovery ramp" in rec["reason"], rec
    assert rec["failed_recoveries"] == closed["failed_recoveries"] + 1, rec
    assert rec["open_wait_ms"] == 2000 * 2 ** rec["failed_recoveries"], rec
    for d in ds:
        wait_until(lambda d=d: d.state(DEP)["state"] == "OPEN", 10,
                   msg="%s OPEN" % d.name)
        assert ramp_word(d.state(DEP)) is None
