"""test_spread.py - leadership spreads over the fleet: three daemons
started one after another with six dependencies.  The first one leads
everything at first; it hands dependencies over one at a time until every
instance leads between 1 and 3 (fair share ceil(6/3) = 2, plus the
hysteresis).  No dependency ever has two leaders, and no state changes
hands with the leadership: an OPEN published before stays OPEN.
"""

import time

from bdlib import Daemon, wait_until

SHARED_ENSEMBLE = True
TIMEOUT = 90
DEPS = ["dep-%d" % i for i in range(6)]


def _leads(statuses):
    """{dep: [names of instances whose STATUS says leader.<dep>=1]}"""
    out = {dep: [] for dep in DEPS}
    for name, st in statuses.items():
        for dep in DEPS:
            if st.get("leader.%s" % dep) == "1":
                out[dep].append(name)
    return out


def _check_no_double(ds):
    """Poll every instance; a dep claimed twice is polled again in the
    other order (a handover between two polls is not two leaders).
    Returns the polled {name: STATUS}."""
    byname = {d.name: d for d in ds}
    sts = {d.name: d.status() for d in ds}
    for dep, names in _leads(sts).items():
        if len(names) > 1:
            again = [n for n in reversed(names)
                     if byname[n].status().get("leader.%s" % dep) == "1"]
            assert len(again) <= 1, "two leaders of %s: %r" % (dep, again)
    return sts


def test_leadership_spreads(ens):
    a = Daemon("inst-a", deps=DEPS, zk=ens).start()
    wait_until(lambda: a.status().get("leaders") == str(len(DEPS)), 15,
               msg="inst-a leads every dependency")
    r = a.cmd("PUBLISH dep-0 OPEN before spreading")
    assert r.startswith("OK"), r
    ds = [a]
    for name in ("inst-b", "inst-c"):
        d = Daemon(name, deps=DEPS, zk=ens).start()
        wait_until(lambda d=d: d.status().get("ready") == "1", 15,
                   msg="%s ready" % name)
        ds.append(d)
    t0 = time.monotonic()
    deadline = t0 + 30
    spread = placed = None
    while time.monotonic() < deadline:
        sts = _check_no_double(ds)
        lead = _leads(sts)
        counts = {n: sum(1 for v in lead.values() if n in v) for n in sts}
        if (all(len(v) == 1 for v in lead.values())
                and all(1 <= c <= 3 for c in counts.values())):
            spread, placed = counts, lead
            break
        time.sleep(0.1)
    assert spread is not None, "not spread after 30 s: %r" % counts
    print("spread after %.1f s: %r" % (time.monotonic() - t0, spread))
    for d in ds:
        st = d.status()
        assert st["fair_share"] == "2", st
        assert st["leading"] == str(spread[d.name]), (d.name, st)
        assert st["live_instances"] == "3", st
    # Hysteresis: every dependency stays with the instance it went to (no
    # flapping), polled for 2 s.
    for _ in range(20):
        now = _leads(_check_no_double(ds))
        assert now == placed, "leadership moved after the spread: %r -> " \
            "%r" % (placed, now)
        time.sleep(0.1)
    for dep in DEPS:
        want = "OPEN" if dep == "dep-0" else "CLOSED"
        for d in ds:
            st = d.state(dep)
            assert st["state"] == want, (d.name, dep, st)
            assert st["authority"] == "authoritative", (d.name, dep, st)
    final = _leads({d.name: d.status() for d in ds})
    assert final == placed, (final, placed)
    # The handovers are logged by the instance that gave them up.
    assert "handing leadership over" in a.log_text()
    # The new leaders publish: a dep led by inst-b or inst-c accepts it.
    dep = next(dep for dep, v in final.items() if v[0] != "inst-a")
    owner = [d for d in ds if d.name == final[dep][0]][0]
    r = owner.cmd("PUBLISH %s OPEN after spreading" % dep)
    assert r.startswith("OK"), r
    for d in ds:
        wait_until(lambda d=d: d.state(dep)["state"] == "OPEN", 5,
                   msg="%s sees %s OPEN" % (d.name, dep))
