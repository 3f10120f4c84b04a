"""test_drills.py - the local fleet (scripts/fleet.sh) and the failover
drills (scripts/drill.sh) end to end.

One fleet for the module, on free private ports in its own run directory:
`up` brings it to ready and is idempotent (a second `up` starts nothing),
`drill.sh --short all` must pass every verdict, and `down` must leave no
process behind (every pid recorded is gone, and no process's command line
names the run directory).  The fleet's znodes refuse writes without the
credential fleet.sh made in the run directory.  The status parser of drill.py is also checked
on its own.  Bounded: about a minute and a half on a 2-core machine.
"""

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import drill  # scripts/drill.py (run.py puts scripts/ on sys.path)
from bdlib import (BUILD, ROOT, ZK_JAR, Client, MiniZk, Skip, free_ports,
                   require, run_tool, try_dep_writes, wait_until)

FLEET = ROOT / "scripts" / "fleet.sh"
DRILL = ROOT / "scripts" / "drill.sh"
TIMEOUT = 240
DRILLS = ("outage", "kill-leader", "stop-leader", "zk-loss")

_fleet = {"dir": None, "up": False, "pids": {}}


def fleet(*args, timeout=150):
    """Run fleet.sh on the module's fleet; CompletedProcess."""
    return subprocess.run([str(FLEET), "-d", _fleet["dir"]] +
                          [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def pids():
    """{pid file name: pid} of the fleet's breakerd and flaky processes,
    plus the ZooKeeper servers."""
    d = Path(_fleet["dir"])
    out = {}
    for f in list(d.glob("*.pid")) + list(d.glob("zk/server*/zk.pid")):
        try:
            out[str(f.relative_to(d))] = int(f.read_text())
        except (OSError, ValueError):
            pass
    return out


def alive(pid):
    """kill -0, and not a zombie."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def procs_naming(path):
    """Pids whose command line names path (our fleet's processes)."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        exe = os.path.basename(cmd.split(b" ", 1)[0].decode("utf-8",
                                                            "replace"))
        if path.encode() + b"/" in cmd and \
                exe in ("breakerd", "flaky_service", "java"):
            found.append(int(p.name))
    return found


def test_status_parser():
    """drill.py reads STATUS lines the way docs/protocol.md writes them."""
    st = drill.parse_status([
        "instance_id=inst-b", "ready=1", "zk_session=connected",
        "deps=2", "zk_timeout_ms=3000",
        "dep.payments=OPEN 12 stale leader",
        "dep.ledger-db=CLOSED 0 authoritative", "leader.ledger-db=1"])
    assert st["instance_id"] == "inst-b" and st["deps"] == "2"
    assert st["_deps"]["payments"] == {"state": "OPEN", "version": 12,
                                       "authority": "stale",
                                       "leader": True}
    assert st["_deps"]["ledger-db"]["leader"] is True
    assert st["_deps"]["ledger-db"]["state"] == "CLOSED"


def test_usage_errors():
    """Clear errors, distinct exit codes, nothing started."""
    d = tempfile.mkdtemp(prefix="bd-nofleet-")
    try:
        r = run_tool([FLEET, "-d", d, "bogus"])
        assert r.returncode == 2 and "unknown command" in r.stderr, r
        r = run_tool([FLEET, "-d", d, "status"])
        assert r.returncode == 1 and "no fleet" in r.stderr, r
        r = run_tool([FLEET, "-d", d, "-n", "0", "--no-install",
                      "--no-build", "up"])
        assert r.returncode == 1 and "-n" in r.stderr, r
        r = run_tool([DRILL, "-d", d, "outage"])
        assert r.returncode == 2 and "no fleet" in r.stderr, r
        r = run_tool([DRILL, "nonsense"])
        assert r.returncode == 2, r
        assert procs_naming(d) == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_fleet_up_is_ready_and_idempotent():
    require(ZK_JAR.exists(), "ZooKeeper server (%s)" % ZK_JAR,
            "run scripts/install-deps.sh")
    for exe in (BUILD / "breakerd", BUILD / "tools" / "flaky_service"):
        if not exe.exists():
            raise AssertionError("%s not built" % exe)
    # A short path: Unix socket paths are limited to 107 bytes.
    _fleet["dir"] = tempfile.mkdtemp(prefix="bd-fleet-")
    base = free_ports(12, consecutive=True)[0]
    r = fleet("-p", base, "--no-install", "--no-build", "up")
    _fleet["up"] = True
    assert r.returncode == 0, "fleet.sh up failed:\n%s%s" % (r.stdout,
                                                              r.stderr)
    out = r.stdout
    for n in ("inst-a", "inst-b", "inst-c"):
        assert re.search(r"^%s\s+\d+\s+1\s+connected" % n, out, re.M), \
            "%s not ready in the table:\n%s" % (n, out)
        assert "%s/%s.sock" % (_fleet["dir"], n) in out
    assert "breakerctl -s" in out and "flaky error" in out, out
    # One leader per dependency in the table.
    assert out.count(" *") == 2, "expected one leader mark per " \
        "dependency:\n%s" % out
    before = pids()
    assert len(before) == 3 + 1 + 3, before
    r = fleet("--no-install", "--no-build", "up")
    assert r.returncode == 0, r.stderr
    assert pids() == before, "second up changed pids: %r -> %r" % (
        before, pids())
    assert len(procs_naming(_fleet["dir"])) == 7, procs_naming(_fleet["dir"])
    st = fleet("status")
    assert st.returncode == 0 and st.stdout.count(" connected ") == 3, \
        st.stdout


test_fleet_up_is_ready_and_idempotent.timeout = 150


def test_fleet_znodes_need_the_credential():
    """The fleet runs with a ZooKeeper digest credential made in its run
    directory (mode 0600): without it, no write to the state, override or
    election znodes is accepted (NOAUTH); with it, reading still works
    for anyone."""
    if not _fleet["up"]:
        raise Skip("no fleet (previous test failed)")
    d = Path(_fleet["dir"])
    cred = d / "zk-credential"
    assert cred.stat().st_mode & 0o777 == 0o600, oct(cred.stat().st_mode)
    assert re.fullmatch(r"breakerd:[0-9a-f]{36}\n", cred.read_text())
    env = dict(ln.split("=", 1) for ln in
               (d / "fleet.env").read_text().splitlines()
               if "=" in ln and not ln.startswith("#"))
    assert env["ZK_CREDENTIAL_FILE"] == str(cred), env
    base = env["ZK_ROOT"] + "/deps/payments"
    with MiniZk(env["ZK_HOSTS"].split(",")[0]) as z:
        data, _ = z.get(base + "/state")
        assert b'"state"' in data, data
        for i, exc in enumerate(try_dep_writes(z, base)):
            assert exc is not None, "unauthenticated write %d succeeded" % i
            assert exc.code == -102, "write %d: %s" % (i, exc)
    st = fleet("status")
    assert st.stdout.count(" connected ") == 3, st.stdout


def test_drills_all_pass():
    if not _fleet["up"]:
        raise Skip("no fleet (previous test failed)")
    r = subprocess.run([str(DRILL), "-d", _fleet["dir"], "--short", "all"],
                       capture_output=True, text=True, timeout=200)
    text = r.stdout + r.stderr
    for d in DRILLS + (("blind-leader",) if os.geteuid() == 0 else ()):
        assert "VERDICT %s: PASS" % d in text, "%s did not pass:\n%s" % (
            d, text)
    assert re.search(r"t\+\d+\s+SIGKILL inst-\w \(pid \d+, leader of "
                     r"[^)]*payments", text), text
    assert "check  FAIL" not in text, text
    assert r.returncode == 0, text
    # The fleet is whole again after the drills.
    st = fleet("status")
    assert st.stdout.count(" connected ") == 3, st.stdout


test_drills_all_pass.timeout = 210


def _payments_states():
    """{instance: payments state} over each instance's socket."""
    out = {}
    for n in ("inst-a", "inst-b", "inst-c"):
        try:
            with Client(os.path.join(_fleet["dir"], "%s.sock" % n)) as c:
                out[n] = c.cmd("GET payments").split()[2]
        except (OSError, AssertionError, IndexError):
            out[n] = None
    return out


def test_drill_waits_for_its_start_state():
    """A user breaks the demo dependency, mends it, and runs the outage
    drill at once: the drill waits for the fleet's backoff (or says SKIP
    when its wait is too short), never FAIL."""
    if not _fleet["up"]:
        raise Skip("no fleet (previous test failed)")
    drill_py = [sys.executable, str(ROOT / "scripts" / "drill.py"),
                "-d", _fleet["dir"]]
    assert subprocess.run(drill_py + ["flaky", "error"], timeout=30,
                          capture_output=True).returncode == 0
    try:
        wait_until(lambda: set(_payments_states().values()) == {"OPEN"}, 60,
                   msg="payments OPEN everywhere")
        # The drill mends the dependency itself, then looks once (no time
        # to wait): the fleet is still OPEN, in its open wait: SKIP with
        # the reason, exit 3, no FAIL.
        r = subprocess.run([str(DRILL), "-d", _fleet["dir"], "--short",
                            "--start-wait", "0", "outage"],
                           capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(drill_py + ["flaky", "ok"], timeout=30,
                       capture_output=True)
    text = r.stdout + r.stderr
    assert "VERDICT outage: SKIP" in text, text
    assert "payments CLOSED everywhere" in text and "FAIL" not in text, text
    assert r.returncode == 3, (r.returncode, text)
    # The default wait covers the backoff: the drill then judges the promise.
    r = subprocess.run([str(DRILL), "-d", _fleet["dir"], "--short",
                        "outage"], capture_output=True, text=True,
                       timeout=150)
    text = r.stdout + r.stderr
    assert "VERDICT outage: PASS" in text and r.returncode == 0, text


test_drill_waits_for_its_start_state.timeout = 200


def test_fleet_down_leaves_nothing():
    if not _fleet["dir"]:
        raise Skip("no fleet (previous test failed)")
    before = pids()
    r = fleet("down", timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        assert "no process left" in r.stdout, r.stdout
        left = [f for f, p in before.items() if alive(p)]
        assert not left, "still running after down: %r" % left
        assert procs_naming(_fleet["dir"]) == []
        r = fleet("down", timeout=60)
        assert r.returncode == 0, "second down: %s" % r.stderr
    finally:
        shutil.rmtree(_fleet["dir"], ignore_errors=True)
        _fleet["up"] = False


def _cleanup():
    """At exit, whatever happened: stop the module's fleet."""
    d = _fleet["dir"]
    if d and os.path.isdir(d):
        fleet("down", timeout=60)
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)
