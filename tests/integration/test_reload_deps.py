"""test_reload_deps.py - dependencies added to or removed from the file
take effect on a reload (SIGHUP or `breakerctl reload`), without a
restart.

Standalone: an added dependency answers GET/ALLOW/LIST at once and gets
a shared-memory slot that a client already mapping the table finds; a
removed one is gone from LIST, GET says unknown dependency, and a client
holding its old slot falls back to the socket.

In a fleet (a shared 3-node ensemble, 2-3 daemons): an added dependency's
state is read (held like a joining instance's until then), its election
joined: the instance that already leads it keeps leading, and if none
did one of them becomes leader; a transition the leader publishes reaches
the others that have it.  Removed from its leader: our candidate node and
vote znode are deleted (checked in ZooKeeper with zkctl), another
instance leads within the failover bound, the fleet's state znode stays.
A remove + add cycle, and a reload that adds and removes at once.  An
added dependency is held like a joining instance's (ZooKeeper out of
reach), and one added while the session is disconnected is set up when
the same session reconnects (parents created, state read, election
joined).  Run under ASan too (BREAKERD_BUILD=build-san): completions
still in flight for a removed dependency must find valid memory.
"""

import os
import subprocess
import time

from bdlib import (BUILD, Daemon, free_port, leaders, run_tool, wait_until,
                   zk_root)
from test_shm import Tool, _dir

SHARED_ENSEMBLE = True
TIMEOUT = 120
CTL = BUILD / "breakerctl"
ZKCTL = BUILD / "tools" / "zkctl"
# Our candidate node goes at once: the next one's watch fires; with
# polling and a loaded 2-core machine, generously bounded.
FAILOVER_S = 5
TRIP = {"window": "count", "window_size": 4, "minimum_calls": 4,
        "failure_rate_pct": 50}


def reload(d):
    r = subprocess.run([str(CTL), "-s", d.socket_path, "reload"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.splitlines()


def set_deps(d, deps):
    d.config["dependencies"] = [dict(x) if isinstance(x, dict)
                                else {"name": x} for x in deps]
    d.write_config()


def names(d):
    with d.client() as c:
        lines = c.cmd_multi("LIST")
    assert lines[0].startswith("OK"), lines
    return sorted(ln.split()[0] for ln in lines[1:-1])


def zkctl(ens, *args):
    r = run_tool([ZKCTL, ens.hosts] + [str(a) for a in args])
    return r.returncode == 0, r.stdout.strip()


def dep_dir(dep):
    return "%s/deps/%s" % (zk_root(), dep)


def candidates(ens, dep):
    """Instance ids of the election's candidate nodes (their data)."""
    ok, out = zkctl(ens, "ls", dep_dir(dep) + "/election")
    if not ok:
        return []
    ids = []
    for child in out.split():
        ok, data = zkctl(ens, "get", "%s/election/%s" % (dep_dir(dep), child))
        if ok:
            ids.append(data)
    return sorted(ids)


def voters(ens, dep):
    ok, out = zkctl(ens, "ls", dep_dir(dep) + "/votes")
    return sorted(out.split()) if ok else []


def one_leader(ds, dep, timeout=15):
    return wait_until(lambda: (lambda l: l[0] if len(l) == 1 else None)(
        leaders(ds, dep)), timeout, msg="exactly one leader of %s" % dep)


def fleet(ens, deps, n=3, dep_overrides=None, short=False):
    """n daemons with deps; short: sockets in a short directory (the
    shared-memory table's client needs a path it can map)."""
    ds = []
    for i in range(n):
        d = Daemon("inst-%s" % "abc"[i], deps=deps, zk=ens,
                   dep_overrides=dep_overrides,
                   overrides={"zookeeper": {"startup_wait_ms": 4000}})
        if short:
            d.socket_path = os.path.join(short, "%s.sock" % d.name)
            d.config["socket"]["path"] = d.socket_path
        ds.append(d.start())
    for d in ds:
        wait_until(lambda d=d: d.status().get("ready") == "1", 30,
                   msg="%s ready" % d.name)
    return ds


def authoritative(d, dep, state=None):
    try:
        st = d.state(dep)
    except AssertionError:
        return False
    return st["authority"] == "authoritative" and \
        (state is None or st["state"] == state)


def test_standalone_add_remove_and_table():
    with _dir() as sdir:
        sock = os.path.join(sdir, "s.sock")
        d = Daemon("inst-a", deps=["payments", "ledger"],
                   overrides={"socket": {"path": sock, "mode": "0660"}})
        d.socket_path = sock
        d.start()
        t = Tool(sock)
        assert t.allow("ledger", 10) == (10, 0)
        f0 = int(t.stats()["fallbacks"])
        assert t.stats()["mapped"] == "1"
        watcher = d.client()
        assert watcher.cmd("WATCH ledger") == "OK"
        assert watcher.readline().startswith("EVENT ledger ")

        set_deps(d, ["payments", "orders"])
        lines = reload(d)
        assert "applied: dependency orders added" in lines, lines
        assert "applied: dependency ledger removed" in lines, lines
        assert not any(l.startswith("restart needed") for l in lines), lines
        assert names(d) == ["orders", "payments"]
        assert d.cmd("GET ledger").startswith("ERR ENOENT")
        assert d.cmd("ALLOW ledger").startswith("ERR ENOENT")
        assert d.cmd("GET orders").startswith("OK orders CLOSED ")
        assert d.cmd("ALLOW orders") == "OK ALLOW"
        # The client held ledger's slot: it falls back to the socket
        # (which denies an unknown dependency: fail closed).
        assert t.allow("ledger", 3) == (0, 3)
        assert int(t.stats()["fallbacks"]) >= f0 + 3
        # orders: in a slot the client finds once it maps again.
        wait_until(lambda: (lambda f: t.allow("orders", 1) == (1, 0) and
                            int(t.stats()["fallbacks"]) == f)(
                                int(t.stats()["fallbacks"])), 10,
                   msg="orders answered from the table")
        assert t.allow("payments", 5) == (5, 0)
        # The watcher of ledger is still served.
        assert watcher.cmd("PING") == "OK PONG"
        watcher.close()

        # Back again: ledger is a new dependency, orders goes.
        d.cmd("REPORT orders fail")
        set_deps(d, ["payments", "ledger"])
        lines = reload(d)
        assert "applied: dependency ledger added" in lines, lines
        assert "applied: dependency orders removed" in lines, lines
        assert names(d) == ["ledger", "payments"]
        assert d.cmd("GET ledger").startswith("OK ledger CLOSED ")
        assert d.cmd("GET orders").startswith("ERR ENOENT")
        assert reload(d) == ["no change"]
        # Several cycles: slots are freed and reused.
        for i in range(5):
            set_deps(d, ["payments", "x%d" % i])
            lines = reload(d)
            assert "applied: dependency x%d added" % i in lines, lines
        assert names(d) == ["payments", "x4"]
        wait_until(lambda: t.allow("x4", 1) == (1, 0), 10,
                   msg="x4 answered")
        assert d.alive()
        assert d.stop() == 0
        t.kill()


def test_added_held_like_a_joining_instance():
    """ZooKeeper out of reach: an added dependency's answers are held
    (STATUS says held, ready=0) for startup_wait_ms from the reload, then
    given from the local breaker, as a joining instance's are."""
    dead = "127.0.0.1:%d" % free_port()
    d = Daemon("inst-a", deps=["payments"], zk=dead, overrides={
        "zookeeper": {"startup_wait_ms": 1500}}).start()
    wait_until(lambda: d.status().get("startup_wait") == "over", 10,
               msg="the start-up wait ends")
    assert d.cmd("GET payments").endswith(" local")
    set_deps(d, ["payments", "search"])
    t0 = time.monotonic()
    assert "applied: dependency search added (election joined)" in \
        reload(d)
    st = d.status()
    assert st["dep.search"].endswith(" held"), st
    assert st["ready"] == "0"
    got = d.cmd("GET search", timeout=10)  # answered once the wait ends
    took = time.monotonic() - t0
    print("GET search answered %.2f s after the reload" % took)
    assert got.startswith("OK search CLOSED 0 local"), got
    assert took >= 1.0, took  # held, not answered at once
    assert "held" not in d.status()["dep.search"]
    wait_until(lambda: "search: startup_wait_ms (1500) over" in
               d.log_text(), 5, msg="the wait's end logged")


def test_fleet_add_on_one_then_all(ens):
    ds = fleet(ens, ["payments"])
    a, b, c = ds
    set_deps(a, ["payments", "search"])
    lines = reload(a)
    assert "applied: dependency search added (election joined)" in lines, \
        lines
    assert names(a) == ["payments", "search"]
    wait_until(lambda: authoritative(a, "search", "CLOSED"), 15,
               msg="a reads search's fleet state")
    assert one_leader(ds, "search") is a
    assert candidates(ens, "search") == ["inst-a"]
    assert a.status()["ready"] == "1"
    assert b.cmd("GET search").startswith("ERR ENOENT")
    # b has it too: reads the state, a keeps leading.
    set_deps(b, ["payments", "search"])
    assert "applied: dependency search added (election joined)" in \
        reload(b)
    wait_until(lambda: authoritative(b, "search", "CLOSED"), 15,
               msg="b reads search's fleet state")
    wait_until(lambda: candidates(ens, "search") == ["inst-a", "inst-b"],
               10, msg="b's candidate node")
    # A transition published for it reaches the other that has it.
    assert a.cmd("PUBLISH search OPEN test").startswith("OK")
    wait_until(lambda: authoritative(b, "search", "OPEN"), 10,
               msg="b sees the OPEN published by a")
    # c last: reads OPEN at once; still exactly one leader, a.
    set_deps(c, ["payments", "search"])
    reload(c)
    wait_until(lambda: authoritative(c, "search", "OPEN"), 15,
               msg="c reads OPEN")
    wait_until(lambda: len(candidates(ens, "search")) == 3, 10,
               msg="three candidates")
    assert leaders(ds, "search") == [a]
    # payments was never touched.
    assert len(leaders(ds, "payments")) == 1


def test_fleet_added_everywhere_one_leader(ens):
    ds = fleet(ens, ["payments"], n=3)
    for d in ds:
        set_deps(d, ["payments", "catalog"])
    for d in ds:
        assert "applied: dependency catalog added (election joined)" in \
            reload(d)
    lead = one_leader(ds, "catalog")
    for d in ds:
        wait_until(lambda d=d: authoritative(d, "catalog"), 15,
                   msg="%s reads catalog" % d.name)
    wait_until(lambda: candidates(ens, "catalog") ==
               ["inst-a", "inst-b", "inst-c"], 10, msg="three candidates")
    # every instance joined: still the one leader
    assert leaders(ds, "catalog") == [lead]


def test_fleet_remove_from_leader(ens):
    with _dir() as sdir:
        ds = fleet(ens, ["payments", "search"], dep_overrides={
            "search": {"breaker": TRIP}}, short=sdir)
        lead = one_leader(ds, "search")
        others = [d for d in ds if d is not lead]
        wait_until(lambda: authoritative(lead, "search"), 10,
                   msg="search read")
        t = Tool(lead.socket_path)
        wait_until(lambda: t.cmd("get search").endswith(" authoritative"),
                   10, msg="the table answers search")
        # Our local breaker trips: our vote is in ZooKeeper.
        for _ in range(4):
            lead.cmd("REPORT search fail")
        wait_until(lambda: lead.name in voters(ens, "search"), 10,
                   msg="the leader's vote znode")
        assert lead.name in candidates(ens, "search")
        before = int(t.stats()["fallbacks"])

        set_deps(lead, ["payments"])
        t0 = time.monotonic()
        lines = reload(lead)
        assert "applied: dependency search removed (election left, vote " \
            "withdrawn)" in lines, lines
        nxt = wait_until(lambda: (lambda l: l[0] if len(l) == 1 else None)(
            leaders(others, "search")), 15, msg="another leader")
        took = time.monotonic() - t0
        print("search: %s leads %.2f s after the removal from %s" % (
            nxt.name, took, lead.name))
        assert took < FAILOVER_S, took
        wait_until(lambda: lead.name not in candidates(ens, "search"), 10,
                   msg="our candidate node deleted")
        wait_until(lambda: lead.name not in voters(ens, "search"), 10,
                   msg="our vote znode deleted")
        assert sorted(candidates(ens, "search")) == \
            sorted(d.name for d in others)
        ok, _ = zkctl(ens, "get", dep_dir("search") + "/state")
        assert ok, "the fleet's state znode must stay"
        assert lead.cmd("GET search").startswith("ERR ENOENT")
        assert names(lead) == ["payments"]
        assert "leader.search" not in lead.status()
        # The fast-path client falls back to the socket.
        assert t.allow("search", 2) == (0, 2)
        assert int(t.stats()["fallbacks"]) >= before + 2
        # Still leading (or not) payments as before; the others serve on.
        assert len(leaders(ds, "payments")) == 1
        for d in others:
            assert authoritative(d, "search")
        t.kill()


def test_fleet_remove_add_cycle_and_both_at_once(ens):
    ds = fleet(ens, ["payments", "search"], n=2)
    a, b = ds
    lead = one_leader(ds, "search")
    assert lead.cmd("PUBLISH search OPEN cycle").startswith("OK")
    for d in ds:
        wait_until(lambda d=d: authoritative(d, "search", "OPEN"), 10,
                   msg="%s sees OPEN" % d.name)
    # One reload removes search and adds orders.
    set_deps(a, ["payments", "orders"])
    lines = reload(a)
    assert "applied: dependency search removed (election left, vote " \
        "withdrawn)" in lines, lines
    assert "applied: dependency orders added (election joined)" in lines
    assert names(a) == ["orders", "payments"]
    wait_until(lambda: authoritative(a, "orders", "CLOSED"), 15,
               msg="orders read")
    assert one_leader(ds, "orders") is a
    assert one_leader(ds, "search") is b
    wait_until(lambda: candidates(ens, "search") == ["inst-b"], 10,
               msg="a left search's election")
    # And back: search's state is read again (OPEN, as the fleet has it).
    set_deps(a, ["payments", "search"])
    lines = reload(a)
    assert "applied: dependency search added (election joined)" in lines
    assert "applied: dependency orders removed (election left, vote " \
        "withdrawn)" in lines
    wait_until(lambda: authoritative(a, "search", "OPEN"), 15,
               msg="a reads search again")
    wait_until(lambda: candidates(ens, "search") == ["inst-a", "inst-b"],
               10, msg="a rejoined search's election")
    assert leaders(ds, "search") == [b]
    wait_until(lambda: candidates(ens, "orders") == [], 10,
               msg="a left orders' election")
    # Quick cycles while completions may still be in flight.
    for i in range(4):
        set_deps(a, ["payments"] + (["search"] if i % 2 else []))
        reload(a)
    assert names(a) == ["payments", "search"]
    wait_until(lambda: authoritative(a, "search", "OPEN"), 15,
               msg="a reads search after the cycles")
    wait_until(lambda: candidates(ens, "search") == ["inst-a", "inst-b"],
               10, msg="one candidate node of a after the cycles")
    for d in ds:
        assert d.alive()
        assert d.stop() == 0, d.name


def test_fleet_add_while_disconnected(ens):
    """Added while the session is disconnected (the ensemble paused): it
    is held; once the same session reconnects its parents are created
    (its directory does not exist yet), its state read and its election
    joined."""
    ds = []
    for name in ("inst-a", "inst-b"):
        ds.append(Daemon(name, deps=["payments"], zk=ens, overrides={
            "zookeeper": {"session_timeout_ms": 8000,
                          "startup_wait_ms": 30000}}).start())
    a, b = ds
    for d in ds:
        wait_until(lambda d=d: d.status().get("ready") == "1", 30,
                   msg="%s ready" % d.name)
    sid = a.status()["zk_session_id"]
    ok, _ = zkctl(ens, "stat", dep_dir("late"))
    assert not ok, "late's directory must not exist yet"
    try:
        for n in range(1, ens.size + 1):
            ens.pause(n)
        wait_until(lambda: a.status().get("zk_connected") == "0", 20,
                   msg="a sees the session disconnected")
        set_deps(a, ["payments", "late"])
        assert "applied: dependency late added (election joined)" in \
            reload(a)
        assert a.status()["dep.late"].endswith(" held")
    finally:
        for n in range(1, ens.size + 1):
            ens.resume(n)
    # Resumed servers re-elect and resync before they serve again, and a
    # session may reconnect to one that does not serve yet (its requests
    # time out and it moves on): wait for the quorum, then for the read,
    # generously (each failed attempt costs 2/3 of the session timeout).
    ens.wait()
    wait_until(lambda: a.status().get("zk_connected") == "1", 30,
               msg="a reconnects")
    print("session %s -> %s" % (sid, a.status()["zk_session_id"]))
    wait_until(lambda: authoritative(a, "late"), 60, msg="late read")
    assert one_leader(ds, "late") is a
    wait_until(lambda: candidates(ens, "late") == ["inst-a"], 10,
               msg="a's candidate node")
    ok, _ = zkctl(ens, "stat", dep_dir("late") + "/votes")
    assert ok, "late's parents were created"
    assert len(leaders(ds, "payments")) == 1
