"""test_reload_breaker.py - a dependency's breaker settings change live.

A two-instance fleet on a real ZooKeeper ensemble.  Calls are recorded with
REPORT, the breaker settings are rewritten in the file and reloaded (with
`breakerctl reload` and with SIGHUP): the reply says what the window kept,
the window's counts (METRICS breakerd_window_*) are kept, the new threshold
is what trips next, the fleet state (its ZooKeeper record, its version) and
the leader are the same on both instances across the reload, a change of
window kind restarts the window and says so, and a bad file changes nothing.
A running recovery ramp goes on from the same fraction of its course when
its duration changes, and ends when it is switched off.
"""

import signal
import subprocess

from bdlib import BUILD, Daemon, run_tool, wait_until, zk_root

SHARED_ENSEMBLE = True
TIMEOUT = 90
CTL = BUILD / "breakerctl"
ZKCTL = BUILD / "tools" / "zkctl"
BREAKER = {"window_size": 20, "minimum_calls": 10, "failure_rate_pct": 50}


def reload(d):
    r = subprocess.run([str(CTL), "-s", d.socket_path, "reload"],
                       capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout.splitlines(), r.stderr


def window(d, dep="payments"):
    """(calls, failures) of dep's local window, from METRICS."""
    with d.client() as c:
        lines = c.cmd_multi("METRICS")
    got = {}
    for name in ("calls", "failures"):
        key = 'breakerd_window_%s{dep="%s"} ' % (name, dep)
        vals = [ln[len(key):] for ln in lines if ln.startswith(key)]
        assert len(vals) == 1, (key, lines[:5])
        got[name] = int(vals[0])
    return got["calls"], got["failures"]


def record(ens):
    """The fleet state znode: (data, version)."""
    path = "%s/deps/payments/state" % zk_root()
    r = run_tool([ZKCTL, ens.hosts, "get", path])
    assert r.returncode == 0, r.stderr
    s = run_tool([ZKCTL, ens.hosts, "stat", path])
    assert s.returncode == 0, s.stderr
    ver = dict(ln.split("=", 1) for ln in s.stdout.splitlines()
               if "=" in ln)["version"]
    return r.stdout.strip(), ver


def report(d, outcome, n):
    for _ in range(n):
        assert d.cmd("REPORT payments %s" % outcome) == "OK"


def fleet(ens):
    return start_fleet(ens, {"name": "payments", "breaker": dict(BREAKER)})


def start_fleet(ens, dep):
    """Two instances with the one dependency `dep`, ready, and its leader."""
    ds = [Daemon(n, deps=[dep], zk=ens, overrides={"log_level": "info"})
          for n in ("inst-a", "inst-b")]
    for d in ds:
        d.start()
    for d in ds:
        wait_until(lambda d=d: d.status().get("ready") == "1", 20,
                   msg="%s ready" % d.name)
    lead = wait_until(lambda: (lambda l: l[0] if len(l) == 1 else None)(
        [d for d in ds if d.status().get("leader.payments") == "1"]), 20,
        msg="one leader of payments")
    return ds, lead


def views(ds):
    return [(d.state("payments")["state"], d.state("payments")["version"],
             d.status().get("leader.payments")) for d in ds]


def set_breaker(d, **kw):
    d.config["dependencies"][0]["breaker"].update(kw)
    d.write_config()


def test_threshold_live_window_and_fleet_kept(ens):
    ds, lead = fleet(ens)
    a = [d for d in ds if d is not lead][0]
    report(a, "ok", 7)
    report(a, "fail", 3)
    assert window(a) == (10, 3)
    before, zk_before = views(ds), record(ens)

    # A bad file changes nothing: same window, and the file as it runs
    # reloads as "no change".
    a.config_path.write_text('{"instance_id": "inst-a",\n "dependencies"'
                             ': [{"name": "payments", "breaker": '
                             '{"failure_rate_pct": 0}}]}\n')
    rc, out, err = reload(a)
    assert rc == 4 and "failure_rate_pct" in err, (rc, out, err)
    assert window(a) == (10, 3)

    # 30% is under both thresholds; the next two failures make 36% and
    # 41%: only the second trips at 40%, neither would at 50%.
    set_breaker(a, failure_rate_pct=40)
    rc, out, err = reload(a)
    assert rc == 0, err
    assert out == ["applied: dependency payments breaker settings "
                       "(window kept: 10 of 10 calls)"], out
    assert window(a) == (10, 3)
    assert views(ds) == before and record(ens) == zk_before
    assert "local breaker tripped" not in a.log_text()

    report(a, "fail", 1)
    assert window(a) == (11, 4)
    assert "local breaker tripped" not in a.log_text()
    report(a, "fail", 1)
    wait_until(lambda: "payments: local breaker tripped (12 calls, "
               "failure rate 41%)" in a.log_text(), 10,
               msg="the new threshold trips")

    # The file as it now runs reloads with no change at all.
    rc, out, _ = reload(a)
    assert rc == 0 and out == ["no change"], out


def test_sighup_smaller_window_keeps_newest(ens):
    ds, lead = fleet(ens)
    report(lead, "fail", 2)
    report(lead, "ok", 6)
    assert window(lead) == (8, 2)
    before, zk_before = views(ds), record(ens)
    set_breaker(lead, window_size=5, minimum_calls=5)
    lead.signal(signal.SIGHUP)
    wait_until(lambda: "applied: dependency payments breaker settings "
               "(window kept: 5 of 8 calls)" in lead.log_text(), 10,
               msg="SIGHUP reload line")
    # The newest five calls were ok: the failures fell out.
    assert window(lead) == (5, 0)
    assert views(ds) == before and record(ens) == zk_before
    assert lead.status().get("leader.payments") == "1"


def test_kind_change_restarts_window_fleet_state_kept(ens):
    ds, lead = fleet(ens)
    r = lead.cmd("PUBLISH payments OPEN reload test")
    assert r.startswith("OK "), r
    for d in ds:
        wait_until(lambda d=d: d.state("payments")["state"] == "OPEN", 10,
                   msg="%s sees OPEN" % d.name)
    a = [d for d in ds if d is not lead][0]
    before, zk_before = views(ds), record(ens)
    for d in ds:
        set_breaker(d, window="time", window_size=30)
        rc, out, err = reload(d)
        assert rc == 0, err
        assert "applied: dependency payments breaker settings (window " \
            "restarted: kind changed count -> time)" in out, out
    assert views(ds) == before and record(ens) == zk_before
    assert before[ds.index(lead)][2] == "1" and \
        before[ds.index(a)][2] != "1", before
    # The new window records (the fleet, not the local breaker, is OPEN).
    report(a, "ok", 3)
    assert window(a) == (3, 0)


def ramp_pct(d):
    """The ramp's share in STATUS (ramp.payments=42.5%); None if none."""
    v = d.status().get("ramp.payments")
    return None if v is None else float(v.rstrip("%"))


def test_ramp_reload_keeps_fraction_and_off_ends_it(ens):
    ds, lead = start_fleet(ens, {
        "name": "payments", "ramp": {"duration_ms": 20000, "min_pct": 10}})
    a = [d for d in ds if d is not lead][0]
    assert lead.cmd("PUBLISH payments OPEN t").startswith("OK ")
    wait_until(lambda: a.state("payments")["state"] == "OPEN", 10,
               msg="OPEN seen")
    assert lead.cmd("PUBLISH payments CLOSED t").startswith("OK ")
    wait_until(lambda: (ramp_pct(a) or 0) >= 40.0, 20,
               msg="ramp past 40%")
    before, zk_before = views(ds), record(ens)
    share = ramp_pct(a)
    # Ten times longer, from the same fraction: the share stays (from
    # the elapsed time alone it would fall back to about 13%).
    a.config["dependencies"][0]["ramp"]["duration_ms"] = 200000
    a.write_config()
    rc, out, err = reload(a)
    assert rc == 0, err
    assert out == ["applied: dependency payments ramp settings (a running "
                   "ramp goes on from the same fraction of its course)"], out
    after = ramp_pct(a)
    assert after is not None and share - 0.1 <= after < share + 5.0, \
        (share, after)
    # Switched off: the running ramp ends, the fleet state stays.
    a.config["dependencies"][0]["ramp"] = {"duration_ms": 0}
    a.write_config()
    rc, out, err = reload(a)
    assert rc == 0 and len(out) == 1 and "ramp settings" in out[0], out
    wait_until(lambda: ramp_pct(a) is None, 10, msg="ramp ended")
    assert a.cmd("ALLOW payments").startswith("OK ALLOW"), \
        a.cmd("ALLOW payments")
    assert views(ds) == before and record(ens) == zk_before
