"""test_converge.py - acknowledgements and the convergence view.

Every instance acknowledges the state version it applied in its instance
znode (coalesced: at most one write a second, none while quiet); the
leader measures publish -> last acknowledgement (breakerd_converged,
breakerd_propagation_seconds); `breakerctl fleet` shows every instance's
applied version, authority and leader marks, and marks a laggard.
"""

import json
import os
import re
import signal
import subprocess
import time

from bdlib import BUILD, Daemon, wait_ready, wait_until

SHARED_ENSEMBLE = True
TIMEOUT = 120
CTL = BUILD / "breakerctl"


def metric(d, name):
    """The value of one sample line (name with labels), or None."""
    with d.client() as c:
        lines = c.cmd_multi("METRICS")
    for ln in lines:
        if ln.startswith(name + " "):
            return float(ln.split()[-1])
    return None


def fleet_json(d):
    r = subprocess.run([str(CTL), "-s", d.socket_path, "--json", "fleet"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def start(ens, n=3, session_ms=2000):
    ds = [Daemon("inst-%s" % "abc"[i], deps=["payments"], zk=ens,
                 overrides={"zookeeper": {"session_timeout_ms": session_ms}})
          .start() for i in range(n)]
    wait_ready(ds)
    ld = wait_until(lambda: (lambda l: l[0] if len(l) == 1 else None)(
        [d for d in ds if d.status().get("leader.payments") == "1"]), 20,
        msg="one leader")
    return ds, ld


def publish(d, state):
    r = d.cmd("PUBLISH payments %s test" % state)
    assert r.startswith("OK "), r
    return int(r.split()[1])


def test_leader_measures_convergence_and_fleet_view(ens):
    ds, ld = start(ens)
    v = publish(ld, "OPEN")
    wait_until(lambda: metric(ld, 'breakerd_converged{dep="payments"}')
               == 1, 15, msg="leader saw every acknowledgement")
    assert metric(ld, "breakerd_propagation_seconds_count") >= 1
    assert metric(ld, 'breakerd_propagation_seconds_bucket{le="+Inf"}') \
        >= 1
    doc = fleet_json(ds[0])
    insts = {i["instance"]: i for i in doc["instances"]}
    assert set(insts) == {d.name for d in ds}, doc
    for i in insts.values():
        assert i["acks"]["payments"] == v, doc
        assert i["auth"]["payments"] == "authoritative", doc
        assert i["ack_age_ms"] >= 0
    assert doc["deps"]["payments"]["leader"] == ld.name, doc
    assert doc["deps"]["payments"]["version"] == v, doc
    # The table: one row per instance, the leader marked, no laggard.
    r = subprocess.run([str(CTL), "-s", ds[1].socket_path, "fleet",
                        "payments"], capture_output=True, text=True,
                       timeout=10, env=dict(os.environ, NO_COLOR="1"))
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split()[:2] == ["INSTANCE", "payments"], rows
    body = [x for x in rows[1:] if x.startswith("inst-")]
    assert len(body) == 3 and "LAG" not in r.stdout, r.stdout
    assert re.search(r"^%s\s+v%d\* authoritative" % (ld.name, v),
                     r.stdout, re.M), r.stdout
    # Only the leader exports converged.
    follower = [d for d in ds if d is not ld][0]
    assert metric(follower, 'breakerd_converged{dep="payments"}') is None


def test_laggard_is_shown_and_blocks_convergence(ens):
    ds, ld = start(ens, session_ms=8000)
    lag = [d for d in ds if d is not ld][0]
    ok = [d for d in ds if d is not ld and d is not lag][0]
    lag.signal(signal.SIGSTOP)
    try:
        v = publish(ld, "OPEN")
        # Evidence first: the others have acknowledged v.
        wait_until(lambda: all(
            i.get("acks", {}).get("payments") == v for i in fleet_json(ok)
            ["instances"] if i["instance"] != lag.name), 10,
            msg="the others acknowledged")
        assert metric(ld, 'breakerd_converged{dep="payments"}') == 0
        r = subprocess.run([str(CTL), "-s", ok.socket_path, "fleet"],
                           capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, NO_COLOR="1"))
        row = [x for x in r.stdout.splitlines()
               if x.startswith(lag.name)]
        assert row and row[0].rstrip().endswith("LAG"), r.stdout
        others = [x for x in r.stdout.splitlines()
                  if x.startswith("inst-") and not x.startswith(lag.name)]
        assert others and not any("LAG" in x for x in others), r.stdout
    finally:
        lag.signal(signal.SIGCONT)
    wait_until(lambda: metric(ld, 'breakerd_converged{dep="payments"}')
               == 1, 15, msg="converged once the laggard applied it")


def test_acks_coalesced_and_quiet(ens):
    ds, ld = start(ens)
    f = [d for d in ds if d is not ld][0]
    wait_until(lambda: (metric(f, "breakerd_ack_writes_total") or 0) >= 1,
               10, msg="first acknowledgement written")
    w0 = metric(f, "breakerd_ack_writes_total")
    t0 = time.monotonic()
    for i in range(10):
        publish(ld, "OPEN" if i % 2 == 0 else "CLOSED")
    last = publish(ld, "CLOSED")
    wait_until(lambda: any(i["instance"] == f.name and
                           i.get("acks", {}).get("payments") == last
                           for i in fleet_json(ld)["instances"]), 10,
               msg="burst acknowledged")
    dt = time.monotonic() - t0
    w1 = metric(f, "breakerd_ack_writes_total")
    assert w1 - w0 <= dt / 1.0 + 2, (w0, w1, dt)
    assert w1 > w0, (w0, w1)
    # Quiet: nothing changes, nothing is written (3 s, evidence above).
    time.sleep(3)
    assert metric(f, "breakerd_ack_writes_total") == w1
