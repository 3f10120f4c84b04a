"""test_reload_fwin.py - a dependency with a fleet window added and
removed live (SIGHUP or `breakerctl reload`), on a real fleet (2 daemons,
the shared ensemble, 1 s summary interval).

The daemons start with no fleet window at all (so none is set up).  Two
dependencies with fleet windows are added on both: their summaries
appear in the instance znodes and the fleet window trips one of them
(30 % failures, threshold 25 %, the local breakers' 50 % never trip).
Removed live from the non-leader first: its key is withdrawn from its
instance znode and the leader stops counting it; then from both: it
stays out of the instance znodes while the other one's summaries go on being written; the
daemons stay up.  Added once more, its summaries come back.  A fleet
window switched on for one dependency and off for another in one reload:
the first is summarised (and its leader sums both instances), the
second's summary withdrawn.  Run under
ASan too (BREAKERD_BUILD=build-san).
"""

import json

from test_fleet_window import LOCAL, opened, report, zkctl
from test_reload_deps import one_leader, reload, set_deps

from bdlib import Daemon, wait_until, zk_root

SHARED_ENSEMBLE = True
TIMEOUT = 120
FW = "payments"     # tripped by its fleet window, then removed
KEPT = "orders"     # with a fleet window, kept: evidence of later ticks
PLAIN = "ledger"    # no fleet window, there from the start
# minimum_calls above one local window (100): it takes both instances
FWC = {"interval_ms": 1000, "failure_rate_pct": 25, "minimum_calls": 150}


def windows(ens, name):
    """The "windows" key of an instance znode ({} without one)."""
    ok, out = zkctl(ens, "get", "%s/instances/%s" % (zk_root(), name))
    if not ok:
        return {}
    try:
        return json.loads(out).get("windows", {})
    except ValueError:
        return {}


def deps(*names):
    return [dict(LOCAL, name=n, fleet_window=FWC) if n != PLAIN
            else dict(LOCAL, name=n) for n in names]


def test_fleet_window_added_trips_removed_withdrawn(ens):
    ds = [Daemon(n, deps=deps(PLAIN), zk=ens).start()
          for n in ("inst-a", "inst-b")]
    for d in ds:
        wait_until(lambda d=d: d.status().get("ready") == "1", 30,
                   msg="%s ready" % d.name)
        assert "fleet_window.writes" not in d.status()  # none set up

    # added live on both: summaries appear, the fleet window trips it
    for d in ds:
        set_deps(d, deps(PLAIN, FW, KEPT))
        out = reload(d)
        assert "applied: dependency %s added (election joined, fleet " \
            "window started)" % FW in out, out
        assert not [ln for ln in out if "restart" in ln], out
    one_leader(ds, FW)
    for d in ds:
        report(d, [KEPT], 5, 0)

    def traffic():
        for d in ds:
            report(d, [FW], 30, 3)  # 1 in 3 fails: 33 %
        return opened(ens, FW)
    rec = wait_until(traffic, 40, 0.2, msg="the added fleet window trips")
    print("tripped:", rec["reason"])
    assert rec["reason"].startswith("fleet failure rate "), rec
    assert "from 2 instances" in rec["reason"], rec
    for d in ds:
        wait_until(lambda d=d: set(windows(ens, d.name)) == {FW, KEPT}, 15,
                   0.2, msg="%s summarises both" % d.name)
        assert d.state(PLAIN)["state"] == "CLOSED"

    # removed live on the other instance first: its summary is withdrawn
    # and the leader, which still has the dependency, stops counting it
    lead = one_leader(ds, FW)
    other = [d for d in ds if d is not lead][0]
    wait_until(lambda: lead.status().get(
        "fleet_window.%s.instances" % FW) == "2", 15, 0.2,
        msg="the leader sums both instances")
    set_deps(other, deps(PLAIN, KEPT))
    assert "applied: dependency %s removed (election left, vote withdrawn, " \
        "fleet window stopped)" % FW in reload(other)
    wait_until(lambda: lead.status().get(
        "fleet_window.%s.instances" % FW) == "1", 15, 0.2,
        msg="the leader drops the withdrawn summary")

    # removed from the leader too: withdrawn, and not written again
    for d in (other, lead):
        set_deps(d, deps(PLAIN, KEPT))
        out = reload(d)
        if d is other:
            assert out == ["no change"], out
            continue
        assert "applied: dependency %s removed (election left, vote " \
            "withdrawn, fleet window stopped)" % FW in out, out
        assert not [ln for ln in out if "restart" in ln], out
    for d in ds:
        wait_until(lambda d=d: set(windows(ens, d.name)) == {KEPT}, 15, 0.2,
                   msg="%s withdraws the removed summary" % d.name)
    for d in ds:
        report(d, [KEPT, PLAIN], 20, 0)
    for d in ds:
        # KEPT's summary moved on (a later tick wrote): FW still absent
        wait_until(lambda d=d: windows(ens, d.name).get(KEPT, {}).get(
            "total") == 25, 15, 0.2, msg="%s publishes again" % d.name)
        assert set(windows(ens, d.name)) == {KEPT}
        assert d.alive(), d.name
        assert FW not in [ln.split()[0] for ln in
                          d.client().cmd_multi("LIST")[1:-1]]
        assert "fleet_window.%s.calls" % FW not in d.status()

    # added once more: its summaries come back
    for d in ds:
        set_deps(d, deps(PLAIN, KEPT, FW))
        out = reload(d)
        assert "applied: dependency %s added (election joined, fleet " \
            "window started)" % FW in out, out
    for d in ds:
        report(d, [FW], 10, 0)
    for d in ds:
        wait_until(lambda d=d: set(windows(ens, d.name)) == {FW, KEPT}, 15,
                   0.2, msg="%s summarises the re-added one" % d.name)
        assert d.alive(), d.name


def test_fleet_window_switched_on_and_off(ens):
    on = {"name": PLAIN, "fleet_window": FWC}
    ds = [Daemon(n, deps=deps(KEPT, PLAIN), zk=ens).start()
          for n in ("inst-a", "inst-b")]
    for d in ds:
        wait_until(lambda d=d: d.status().get("ready") == "1", 30,
                   msg="%s ready" % d.name)
        report(d, [KEPT, PLAIN], 5, 0)
    for d in ds:
        wait_until(lambda d=d: set(windows(ens, d.name)) == {KEPT}, 15, 0.2,
                   msg="%s summarises the one with a window" % d.name)

    # PLAIN's switched on, KEPT's off, in one reload
    for d in ds:
        set_deps(d, [dict(LOCAL, name=KEPT), dict(LOCAL, **on)])
        out = reload(d)
        assert "applied: dependency %s fleet_window added (fleet window " \
            "started)" % PLAIN in out, out
        assert "applied: dependency %s fleet_window removed (fleet window " \
            "stopped)" % KEPT in out, out
        assert not [ln for ln in out if "restart" in ln], out
    for d in ds:
        report(d, [KEPT, PLAIN], 10, 0)
    for d in ds:
        wait_until(lambda d=d: windows(ens, d.name).get(PLAIN, {}).get(
            "total") == 15, 15, 0.2, msg="%s summarises PLAIN" % d.name)
        assert set(windows(ens, d.name)) == {PLAIN}
        assert d.alive(), d.name
    one_leader(ds, PLAIN)
    wait_until(lambda: any(d.status().get(
        "fleet_window.%s.instances" % PLAIN) == "2" for d in ds), 15, 0.2,
        msg="PLAIN's leader sums both instances")
