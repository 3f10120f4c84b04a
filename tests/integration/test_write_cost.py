"""test_write_cost.py - what a transition costs ZooKeeper, counted on the
servers' side.

Issue 17: one transition costs one leader multi plus at most one coalesced
acknowledgement per instance; a quiet fleet writes nothing.  The counts
come from ZooKeeper, not from the daemons: the ensemble's zxid (srvr) and
the versions of the state znode and of every instance znode
(scripts/zkwrites.py).  The fleet of 20 is measured by
tests/bench/bench_fleet.py (footprint); here a fleet of N = 5 keeps the
same per-instance rule, bounded in time.
"""

from bdlib import Daemon, wait_until
from zkwrites import (WriteCounter, burst_bound, transition_cost,
                      transition_problems, zxid)

SHARED_ENSEMBLE = True
TIMEOUT = 150
N = 5
DEP = "payments"
QUIET_S = 6


def start_fleet(ens):
    """N daemons on one dependency (a longer session timeout than the
    harness default of 2 s: an expiry on a loaded machine would be a write);
    returns (daemons, leader) once every one sees N live instances."""
    ds = [Daemon("wc-%d" % i, deps=[DEP], zk=ens,
                 overrides={"log_level": "info",
                            "zookeeper": {"session_timeout_ms": 6000}})
          for i in range(N)]
    for d in ds:
        d.start(wait=False)
    for d in ds:
        d.wait_ready(30)
        wait_until(lambda d=d: d.status().get("ready") == "1" and
                   d.status().get("live_instances") == str(N), 30,
                   msg="%s ready with %d instances" % (d.name, N))
    lead = wait_until(lambda: (lambda ls: ls[0] if len(ls) == 1 else None)(
        [d for d in ds if d.status().get("leader.%s" % DEP) == "1"]), 30,
        msg="one leader")
    return ds, lead


def settle(ens, wc, lead):
    """Evidence that start-up is over: every instance znode acknowledges
    the current version authoritatively, then the zxid stands still for
    two readings a second apart (a fleet that kept writing would time out
    here, failing the test)."""
    version = int(lead.cmd("GET %s" % DEP).split()[3])
    wc.wait_acked(DEP, version)
    last = {"z": None}

    def still():
        wc.hold(1.0)
        z, prev = zxid(ens), last["z"]
        last["z"] = z
        return z == prev
    wait_until(still, 30, 0, "the fleet kept writing after start-up")


def assert_quiet(wc, when):
    d = WriteCounter.delta(wc.snap(), (wc.hold(QUIET_S), wc.snap())[1])
    assert d["zxid"] == 0, "%d writes in %d quiet seconds %s: %s" % (
        d["zxid"], QUIET_S, when, d)


def test_one_transition_costs_one_multi_and_one_ack_per_instance(ens):
    ds, lead = start_fleet(ens)
    with WriteCounter(ens, [DEP], [d.name for d in ds]) as wc:
        settle(ens, wc, lead)
        assert_quiet(wc, "before the transitions")
        for state in ("OPEN", "CLOSED"):
            d = transition_cost(wc, lead, DEP, state)
            assert not transition_problems(d, N), (
                transition_problems(d, N), d)
            # Every instance acknowledged (the evidence waited for it).
            assert d["acks"] == N and d["zxid"] == 1 + N, d
        # A burst: each instance still writes at most once a second.
        a = wc.snap()
        with lead.client(10) as c:
            for i in range(6):
                r = c.cmd("PUBLISH %s %s burst" % (
                    DEP, "OPEN" if i % 2 == 0 else "CLOSED"), 10)
                assert r.startswith("OK "), r
        wc.wait_acked(DEP, int(r.split()[1]))
        bound, per = burst_bound(6, N, wc.snap()["t"] - a["t"])
        wc.hold(3.0)
        d = WriteCounter.delta(a, wc.snap())
        assert d["multis"] == 6 and d["other"] == 0, d
        assert max(d["inst"].values()) <= per and d["zxid"] <= bound, (
            bound, per, d)
        assert_quiet(wc, "after the transitions")
