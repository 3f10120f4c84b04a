"""test_reload.py - SIGHUP and `breakerctl reload` (RELOAD, admin).

The new file is validated fully first: a bad one changes nothing and says
why with file:line:col; log_level changes live; every other difference
(socket, ZooKeeper settings) is reported by name as needing a restart,
and nothing of it is applied; a dependency's health check, quorum and
probe settings change live, its fleet state and window kept (its breaker
settings too: test_reload_breaker.py; dependencies added or removed:
test_reload_deps.py).
"""

import os
import signal
import subprocess

from bdlib import BUILD, Daemon, FlakyService, wait_until

CTL = BUILD / "breakerctl"


def reload(d):
    r = subprocess.run([str(CTL), "-s", d.socket_path, "reload"],
                       capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout, r.stderr


def daemon(**over):
    cfg = {"log_level": "info"}
    cfg.update(over)
    return Daemon("inst-a", deps=["payments", "ledger"],
                  overrides=cfg).start()


def test_bad_file_changes_nothing():
    d = daemon()
    d.config_path.write_text('{"instance_id": "inst-a",\n  "log_level": 7}\n')
    rc, out, err = reload(d)
    assert rc == 4, (rc, out, err)
    assert "%s:2:" % d.config_path in err and "log_level" in err, err
    # Nothing changed: still serving both dependencies; a good file
    # (the original) reloads with no change.
    assert d.cmd("GET ledger").startswith("OK ledger")
    d.write_config()
    rc, out, err = reload(d)
    assert rc == 0 and out.strip() == "no change", (rc, out, err)


def test_log_level_live_and_restart_needed_reported():
    d = daemon()
    d.cmd("REPORT payments ok")
    assert " debug: " not in d.log_text()
    d.config["log_level"] = "debug"
    d.config["socket"]["mode"] = "0600"
    d.config["dependencies"] = [{"name": "payments",
                                 "breaker": {"failure_rate_pct": 10}},
                                {"name": "ledger"}]
    d.write_config()
    rc, out, err = reload(d)
    assert rc == 0, err
    lines = out.splitlines()
    assert "applied: log_level info -> debug" in lines, lines
    assert "restart needed: socket (path, mode or group) changed" in lines
    # A breaker change is applied live (test_reload_breaker.py).
    assert "applied: dependency payments breaker settings (window kept: " \
        "1 of 1 calls)" in lines, lines
    # Nothing else took effect: the dependencies are as they were.
    assert d.cmd("GET ledger").startswith("OK ledger")
    # ... and debug lines are now written.
    d.cmd("REPORT payments ok")
    wait_until(lambda: " debug: " in d.log_text(), 10,
               msg="debug logging after reload")


def test_sighup_reloads_and_non_admin_refused():
    d = daemon()
    d.config["log_level"] = "debug"
    d.write_config()
    d.signal(signal.SIGHUP)
    wait_until(lambda: "applied: log_level info -> debug" in d.log_text(),
               10, msg="SIGHUP reload logged")
    d.config_path.write_text("{ nope\n")
    d.signal(signal.SIGHUP)
    wait_until(lambda: "nothing changed" in d.log_text(), 10,
               msg="bad file on SIGHUP logged")
    d2 = Daemon("inst-b", deps=["payments"],
                overrides={"socket": {"admin_uids": [0]}}).start()
    if os.getuid() != 0:
        assert d2.cmd("RELOAD").startswith("ERR EPERM")
    rc, out, _ = reload(d)
    assert rc == 4


def test_zookeeper_change_needs_restart(ens):
    d = Daemon("inst-a", deps=["payments"], zk=ens).start()
    wait_until(lambda: d.status().get("zk_connected") == "1", 20,
               msg="connected")
    d.config["zookeeper"]["session_timeout_ms"] = 4000
    d.write_config()
    rc, out, err = reload(d)
    assert rc == 0 and "restart needed: zookeeper settings changed" in out, \
        (out, err)
    st = d.status()
    assert st.get("zk_connected") == "1" and st["zk_timeout_ms"] == "2000", st


def test_health_check_changed_live_fleet_state_kept(ens):
    flaky = FlakyService(mode="ok")
    flaky.start()
    d = Daemon("inst-a", deps=["payments"], zk=ens).start()
    wait_until(lambda: d.status().get("leader.payments") == "1", 20,
               msg="leader")
    r = d.cmd("PUBLISH payments CLOSED before reload")
    assert r.startswith("OK "), r
    before = d.state("payments")
    assert flaky.stats()["total"] == 0
    d.config["dependencies"][0]["health"] = {
        "http": flaky.url(), "interval_ms": 200, "jitter_ms": 0,
        "timeout_ms": 100}
    d.config["dependencies"][0]["quorum"] = {"min_votes": 1}
    d.write_config()
    rc, out, err = reload(d)
    assert rc == 0, err
    assert "applied: dependency payments health, quorum and probe " \
        "settings (fleet state and window kept)" in out, out
    # The new health check runs, from the same daemon, without a restart.
    wait_until(lambda: flaky.stats()["total"] > 0, 15,
               msg="health checks to the new URL")
    after = d.state("payments")
    assert (after["state"], after["version"]) == \
        (before["state"], before["version"]), (before, after)
    assert d.status().get("leader.payments") == "1"
    assert d.proc.alive()
