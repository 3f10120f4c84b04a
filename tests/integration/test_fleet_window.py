"""test_fleet_window.py - tripping on the fleet's numbers, on a real fleet
(3-node ZooKeeper ensemble, 1 s summary interval).  30 % failures on every
instance trip a dependency with a fleet window (threshold 25 %) and not the
same traffic on one without it (local threshold 50 %); the reason gives the
fleet's figures.  The SLO rule (short windows) trips with an explaining
reason.  A SIGKILLed instance's summary leaves with its ephemeral node.
A hostile instance znode is rejected and counted, and changes nothing.
Idle instances write nothing.  See docs/recovery.md.
"""

import json
import re
import time

from bdlib import (BUILD, Daemon, leaders, run_tool, wait_ready, wait_until,
                   zk_root)

SHARED_ENSEMBLE = True
TIMEOUT = 150
FW = "payments"     # with a fleet window
PLAIN = "ledger"    # the same traffic, no fleet window
ZKCTL = BUILD / "tools" / "zkctl"
LOCAL = {"breaker": {"window_size": 100, "minimum_calls": 20,
                     "failure_rate_pct": 50, "open_wait_ms": 60000,
                     "open_wait_max_ms": 60000}}


def zkctl(ens, *args):
    r = run_tool([ZKCTL, ens.hosts] + [str(a) for a in args])
    return r.returncode == 0, r.stdout.strip()


def read_state(ens, dep):
    ok, out = zkctl(ens, "get", "%s/deps/%s/state" % (zk_root(), dep))
    try:
        return json.loads(out) if ok else None
    except ValueError:
        return None


def start(ens, names, fw, plain=True):
    """One daemon per name; without plain only FW (one dependency: its
    leadership never moves to spread the load, so a test may keep its
    leader)."""
    deps = [dict(LOCAL, name=FW, fleet_window=fw)]
    if plain:
        deps.append(dict(LOCAL, name=PLAIN))
    ds = [Daemon(n, deps=deps, zk=ens) for n in names]
    return wait_ready([d.start() for d in ds])


def leader_of(ds, dep):
    found = []

    def one():
        found[:] = leaders(ds, dep)
        return len(found) == 1
    wait_until(one, 20, 0.1, msg="one leader of %s" % dep)
    return found[0]


def report(d, deps, n, fail_every):
    """n REPORTs per dependency, pipelined; every fail_every-th fails
    (0: none)."""
    lines = []
    for i in range(n):
        bad = fail_every and i % fail_every == 0
        for dep in deps:
            lines.append("REPORT %s %s\n" % (dep, "fail" if bad else "ok"))
    with d.client(timeout=10) as c:
        c.send_raw("".join(lines).encode())
        for _ in lines:
            assert c.readline() == "OK"


def opened(ens, dep):
    r = read_state(ens, dep)
    return r if r and r["state"] == "OPEN" else None


def test_thirty_percent_everywhere_trips_only_with_fleet_window(ens):
    # a local window holds 100 calls: 250 fleet-wide needs all three
    fw = {"interval_ms": 1000, "failure_rate_pct": 25, "minimum_calls": 250}
    ds = start(ens, ["inst-a", "inst-b", "inst-c"], fw)
    lead = leader_of(ds, FW)

    def traffic():
        for d in ds:
            report(d, [FW, PLAIN], 30, 10 // 3)  # fail 0,3,6,9..: 1 in 3
        return opened(ens, FW)
    # 1 in 3 fails: 33 %; the local windows (50 %) never trip
    rec = wait_until(traffic, 30, 0.2, msg="the fleet window trips")
    print("tripped:", rec["reason"])
    m = re.match(r"fleet failure rate (\d+)% over (\d+) calls from "
                 r"(\d+) instances$", rec["reason"])
    assert m, rec
    assert 30 <= int(m.group(1)) <= 36 and int(m.group(2)) >= 250, rec
    assert m.group(3) == "3", rec
    # the same traffic without a fleet window: the local breakers saw it
    # (a full window at 33 %) and none tripped, so no vote, no trip
    for d in ds:
        metrics = d.client().cmd_multi("METRICS")
        calls = {}
        for ln in metrics:
            m = re.match(r'breakerd_calls_total\{dep="%s",outcome="(\w+)"\} '
                         r'(\d+)$' % PLAIN, ln)
            if m:
                calls[m.group(1)] = int(m.group(2))
        seen = calls.get("ok", 0) + calls.get("fail", 0)
        assert seen >= 20 and calls["fail"] * 3 >= seen - 3, calls
        assert d.state(PLAIN)["state"] == "CLOSED", d.name
    assert read_state(ens, PLAIN)["state"] == "CLOSED"
    assert int(lead.status()["fleet_window.writes"]) >= 1
    # only the dependency with a fleet window is summarised
    ok, out = zkctl(ens, "get", "%s/instances/inst-b" % zk_root())
    assert ok and set(json.loads(out)["windows"]) == {FW}, out
    for d in ds:
        assert d.state(FW)["state"] == "OPEN"


def test_dead_instance_summary_drops_out(ens):
    fw = {"interval_ms": 1000, "minimum_calls": 100000}
    ds = start(ens, ["inst-a", "inst-b", "inst-c"], fw, plain=False)
    lead = leader_of(ds, FW)
    for d in ds:
        report(d, [FW], 50, 0)
    wait_until(lambda: lead.status().get(
        "fleet_window.%s.instances" % FW) == "3", 15, 0.2,
        msg="the leader sums three instances")
    assert lead.status()["fleet_window.%s.calls" % FW] == "150"
    victim = [d for d in ds if d is not lead][0]
    victim.kill()
    wait_until(lambda: lead.status().get(
        "fleet_window.%s.instances" % FW) == "2", 15, 0.2,
        msg="the dead instance's summary drops out")
    assert lead.status()["fleet_window.%s.calls" % FW] == "100"
    # a newcomer (it may take the gone instance's slot) is summed again
    newcomer = Daemon("inst-d", deps=[dict(LOCAL, name=FW, fleet_window=fw)],
                      zk=ens).start()
    wait_until(lambda: newcomer.status().get("ready") == "1", 20,
               msg="inst-d ready")
    report(newcomer, [FW], 30, 0)

    def summed():
        # leadership may move to the newcomer (spreading): ask the leader
        for d in ds + [newcomer]:
            if not d.alive():
                continue
            st = d.status()
            if st.get("leader.%s" % FW) == "1":
                return st.get("fleet_window.%s.calls" % FW) == "130" and \
                    st.get("fleet_window.%s.instances" % FW) == "3"
        return False
    wait_until(summed, 20, 0.2, msg="the newcomer's summary is summed")


def test_slo_burn_trips_with_reason(ens):
    fw = {"interval_ms": 1000, "failure_rate_pct": 100, "minimum_calls": 20,
          "objective_bp": 9000, "short_window_ms": 3000,
          "long_window_ms": 10000, "burn_rate_pct": 200}
    ds = start(ens, ["inst-a", "inst-b", "inst-c"], fw, plain=False)
    leader_of(ds, FW)

    def traffic():
        for d in ds:
            report(d, [FW], 10, 3)  # 1 in 3 fails: burn 3.3x of 10 %
        time.sleep(0.2)
        return opened(ens, FW)
    rec = wait_until(traffic, 40, 0.1, msg="the SLO rule trips")
    print("tripped:", rec["reason"])
    m = re.match(r"error budget burn (\d+\.\d)x over 3s and 10s$",
                 rec["reason"])
    assert m and 2.0 <= float(m.group(1)) <= 4.5, rec


def test_hostile_summary_rejected_and_counted(ens):
    fw = {"interval_ms": 1000, "failure_rate_pct": 25, "minimum_calls": 10}
    ds = start(ens, ["inst-a", "inst-b"], fw, plain=False)
    lead = leader_of(ds, FW)
    before = int(lead.status()["fleet_window.rejected"])
    path = "%s/instances/evil" % zk_root()
    evil = {"host": "x", "windows": {FW: {
        "calls": 10, "failures": 10000, "slow": 0, "total": 10,
        "total_failures": 10}}}
    ok, out = zkctl(ens, "create", path, json.dumps(evil))
    assert ok, out
    try:
        wait_until(lambda: int(lead.status()["fleet_window.rejected"])
                   > before, 15, 0.2, msg="the leader rejects it")
        # valid JSON, not integers: rejected too
        evil["windows"][FW] = {"calls": "many"}
        assert zkctl(ens, "set", path, json.dumps(evil))[0]
        wait_until(lambda: int(lead.status()["fleet_window.rejected"])
                   > before + 1, 15, 0.2, msg="the leader rejects it")
        st = lead.status()
        assert st["fleet_window.%s.rejected" % FW] == str(
            int(st["fleet_window.rejected"]) - before), st
        assert st.get("fleet_window.%s.instances" % FW) == "0", st
        assert read_state(ens, FW)["state"] == "CLOSED"
        metrics = "\n".join(lead.client().cmd_multi("METRICS"))
        assert re.search(r"^breakerd_fleet_window_rejected_total [1-9]",
                         metrics, re.M), metrics[-800:]
    finally:
        zkctl(ens, "delete", path)


def _acked(ens, d):
    """d's instance znode holds its summaries and the version it applied
    (its ack): both writers have written."""
    ok, out = zkctl(ens, "get", "%s/instances/%s" % (zk_root(), d.name))
    try:
        node = json.loads(out) if ok else {}
    except ValueError:
        return False
    want = int(d.state(FW)["version"])
    return node.get("acks", {}).get(FW) == want and \
        node.get("auth", {}).get(FW) == "authoritative" and \
        node.get("windows", {}).get(FW, {}).get("total") == 5


def test_idle_fleet_writes_nothing(ens):
    fw = {"interval_ms": 1000}
    ds = start(ens, ["inst-a", "inst-b"], fw, plain=False)
    for d in ds:
        report(d, [FW], 5, 0)
    for d in ds:
        wait_until(lambda d=d: int(d.status()["fleet_window.writes"]) >= 1,
                   10, 0.2, msg="%s published" % d.name)
    # The acknowledgements share the node: wait until both are in.
    for d in ds:
        wait_until(lambda d=d: _acked(ens, d), 10, 0.2,
                   msg="%s acknowledged" % d.name)
    counts = [int(d.status()["fleet_window.writes"]) for d in ds]
    # one node: the registration record and the summaries side by side
    ok, out = zkctl(ens, "get", "%s/instances/inst-a" % zk_root())
    node = json.loads(out)
    assert {"host", "pid", "socket", "windows"} <= set(node), node
    assert node["windows"][FW]["total"] == 5, node
    time.sleep(3.5)  # three intervals of silence, after the evidence above
    assert [int(d.status()["fleet_window.writes"]) for d in ds] == counts
    # and under traffic at most one write per interval
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4:
        for d in ds:
            report(d, [FW], 5, 0)
        time.sleep(0.1)
    took = time.monotonic() - t0
    for d, c in zip(ds, counts):
        w = int(d.status()["fleet_window.writes"]) - c
        print("%s: %d writes in %.1f s of traffic" % (d.name, w, took))
        assert 1 <= w <= took / 1.0 + 1, (d.name, w)
