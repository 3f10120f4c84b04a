"""test_history.py - the transition history of a dependency.

Every transition the leader publishes adds a history entry in the same
ZooKeeper multi as the state write (the state version the entry names is
the one ZooKeeper holds); an override set through FORCE is recorded by the
leader with the operator's uid; HISTORY answers on every instance; the
history survives a leader change and a restart of the whole fleet; it
never grows past zookeeper.history_keep.
"""

import json
import os
import subprocess

from bdlib import BUILD, Daemon, run_tool, wait_ready, wait_until, zk_root

SHARED_ENSEMBLE = True
TIMEOUT = 120
ZKCTL = BUILD / "tools" / "zkctl"
CTL = BUILD / "breakerctl"
UID = "uid %d" % os.getuid()


def zkctl(ens, *args):
    r = run_tool([ZKCTL, ens.hosts] + [str(a) for a in args])
    return r.returncode == 0, r.stdout.strip()


def history(d, dep="payments", n=None):
    """HISTORY as a list of dicts (oldest first)."""
    with d.client() as c:
        lines = c.cmd_multi("HISTORY %s%s" % (dep, "" if n is None
                                              else " %d" % n))
    assert lines[0].startswith("OK "), lines
    body = lines[1:-1]
    assert int(lines[0].split()[1]) == len(body), lines
    return [json.loads(ln) for ln in body]


def metrics_text(d):
    with d.client() as c:
        return "\n".join(c.cmd_multi("METRICS"))


def fleet(ens, names=("inst-a", "inst-b"), keep=None):
    over = {"zookeeper": {"history_keep": keep}} if keep else None
    ds = [Daemon(n, deps=["payments"], zk=ens, overrides=over).start()
          for n in names]
    return wait_ready(ds)


def leader(ds):
    return wait_until(lambda: (lambda l: l[0] if len(l) == 1 else None)(
        [d for d in ds if d.alive()
         and d.status().get("leader.payments") == "1"]), 20,
        msg="one leader of payments")


def publish(d, state, reason):
    r = d.cmd("PUBLISH payments %s %s" % (state, reason))
    assert r.startswith("OK "), r
    return int(r.split()[1])


def test_publish_appends_in_same_write_and_every_instance_reads_it(ens):
    ds = fleet(ens)
    ld = leader(ds)
    other = [d for d in ds if d is not ld][0]
    assert history(other) == []
    v1 = publish(ld, "OPEN", "drill one")
    v2 = publish(ld, "CLOSED", "drill two")
    for d in ds:
        h = wait_until(lambda d=d: (lambda h: h if len(h) == 2 else None)(
            history(d)), 10, msg="two entries on %s" % d.name)
        assert [(e["from"], e["to"]) for e in h] == \
            [("CLOSED", "OPEN"), ("OPEN", "CLOSED")], h
        assert h[0]["version"] == v1 and h[1]["version"] == v2, (h, v1, v2)
        assert h[0]["by"] == UID and "drill one" in h[0]["reason"], h
        assert h[0]["leader"] == ld.name and h[0]["kind"] == "publish", h
        assert h[0]["term"] >= 1 and h[0]["seq"] < h[1]["seq"], h
    # The newest n, oldest first; bad arguments get a usage error.
    assert [e["to"] for e in history(ld, n=1)] == ["CLOSED"]
    assert ld.cmd("HISTORY payments 0").startswith("ERR EPROTO")
    assert ld.cmd("HISTORY nosuch").startswith("ERR ENOENT")
    # breakerctl: a table, and --json with the same entries.
    r = subprocess.run([str(CTL), "-s", other.socket_path, "history",
                        "payments", "-n", "5"], capture_output=True,
                       text=True, timeout=10, env=dict(os.environ,
                                                      NO_COLOR="1"))
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split()[:2] == ["SEQ", "TIME"] and len(rows) == 3, rows
    assert "CLOSED" in rows[1] and "OPEN" in rows[1] and UID in rows[1] \
        and "drill one" in rows[1], rows
    r = subprocess.run([str(CTL), "-s", other.socket_path, "--json",
                        "history", "payments"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == history(other), r.stdout
    r = subprocess.run([str(CTL), "-s", other.socket_path, "history",
                        "payments", "-n", "0"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "-n" in r.stderr, r
    # The entry's znode exists: one per transition.
    ok, out = zkctl(ens, "ls", "%s/deps/payments/history" % zk_root())
    assert ok and len(out.split()) == 2, out


def test_override_recorded_with_uid(ens):
    ds = fleet(ens)
    ld = leader(ds)
    other = [d for d in ds if d is not ld][0]
    r = other.cmd("FORCE payments open 60 maintenance window")
    assert r.startswith("OK "), r
    h = wait_until(lambda: [e for e in history(other)
                            if e["kind"] == "override"], 10,
                   msg="override entry")
    assert h[0]["to"] == "FORCED_OPEN" and h[0]["by"] == UID, h
    assert "maintenance window" in h[0]["reason"], h
    assert other.cmd("FORCE payments auto").startswith("OK ")
    wait_until(lambda: [e for e in history(other)
                        if e["kind"] == "override-removed"], 10,
               msg="override removal entry")


def test_survives_leader_change_and_restart(ens):
    ds = fleet(ens, names=("inst-a", "inst-b", "inst-c"))
    ld = leader(ds)
    publish(ld, "OPEN", "by the first leader")
    ld.stop()
    rest = [d for d in ds if d is not ld]
    ld2 = leader(rest)
    publish(ld2, "CLOSED", "by the second leader")
    # Stop with nothing in flight (a multi pending at zookeeper_close is
    # leaked by the client library): every acknowledgement in, then the
    # follower first, so that nobody takes over while stopping.
    wait_until(lambda: 'breakerd_converged{dep="payments"} 1' in
               metrics_text(ld2), 15, msg="fleet converged")
    for d in [d for d in rest if d is not ld2] + [ld2]:
        d.stop()
    ds2 = fleet(ens, names=("inst-d",))
    h = history(ds2[0])
    assert [(e["to"], e["leader"]) for e in h] == \
        [("OPEN", ld.name), ("CLOSED", ld2.name)], h
    assert h[1]["term"] > h[0]["term"], h


def test_bounded_retention(ens):
    ds = fleet(ens, keep=3)
    ld = leader(ds)
    for i in range(6):
        publish(ld, "OPEN" if i % 2 == 0 else "CLOSED", "step %d" % i)
    h = history(ld, n=100)
    assert [e["reason"].split(": ", 1)[-1] for e in h] == \
        ["step 3", "step 4", "step 5"], h
    ok, out = zkctl(ens, "ls", "%s/deps/payments/history" % zk_root())
    assert ok and len(out.split()) == 3, out
