"""test_breakerctl.py - breakerctl, the client examples and the C client
library against a real daemon (standalone: no ZooKeeper needed).

Covers breakerctl's commands and exit codes (0 allow/closed, 1 deny/open,
2 usage, 3 unreachable, 4 ERR reply), that every --json output parses,
that an unreachable or silent socket gives 3 quickly, the shell example
(socat and nc one-liners), the Python example module, and the C example
compiled against build/libbreakerd_client.a.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import bdlib
from bdlib import BUILD, Daemon, require, wait_until

ROOT = bdlib.ROOT
CTL = BUILD / "breakerctl"
EXAMPLES = ROOT / "docs" / "examples"


def _daemon(deps=("payments", "ledger")):
    require((BUILD / "breakerd").exists() and CTL.exists(),
            "%s and %s" % (BUILD / "breakerd", CTL), "make")
    return Daemon("inst-a", deps=list(deps), zk=None).start()


def ctl(d, *args, env=None, timeout=10):
    """Run breakerctl against daemon d (or a socket path); CompletedProcess."""
    path = d if isinstance(d, str) else d.socket_path
    e = dict(os.environ, NO_COLOR="1")
    e.pop("BREAKERD_SOCKET", None)
    e.update(env or {})
    return subprocess.run([str(CTL), "-s", path] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          env=e)


def ctl_json(d, *args):
    r = ctl(d, "--json", *args)
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    return r.returncode, json.loads(r.stdout)


def test_ping_status_list():
    d = _daemon()
    r = ctl(d, "ping")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "PONG"
    rc, st = ctl_json(d, "status")
    assert rc == 0 and isinstance(st, dict) and st, st
    assert all(isinstance(v, str) for v in st.values())
    rc, lst = ctl_json(d, "list")
    assert rc == 0
    assert sorted(v["dep"] for v in lst) == ["ledger", "payments"]
    for v in lst:
        assert v["state"] == "CLOSED"
        assert isinstance(v["version"], int)
        assert v["authority"] in ("authoritative", "stale", "local")
    r = ctl(d, "list")
    assert r.returncode == 0
    assert "payments" in r.stdout and "ledger" in r.stdout
    assert "\033[" not in r.stdout  # not a TTY, and NO_COLOR set


def test_get_allow_force_exit_codes():
    d = _daemon()
    rc, v = ctl_json(d, "get", "payments")
    assert rc == 0 and v["dep"] == "payments" and v["state"] == "CLOSED"
    r = ctl(d, "allow", "payments")
    assert (r.returncode, r.stdout.strip()) == (0, "ALLOW")

    r = ctl(d, "force", "payments", "open", "--ttl", "300",
            "--reason", "1 maintenance window")
    assert r.returncode == 0, r.stderr
    rc, v = ctl_json(d, "get", "payments")
    assert (rc, v["state"]) == (1, "FORCED_OPEN")
    r = ctl(d, "get", "payments")
    assert r.returncode == 1 and "FORCED_OPEN" in r.stdout
    rc, a = ctl_json(d, "allow", "payments")
    assert rc == 1 and a == {"dep": "payments", "allow": False,
                             "state": "FORCED_OPEN"}
    assert d.cmd("ALLOW payments") == "OK DENY FORCED_OPEN"
    rc, other = ctl_json(d, "get", "ledger")
    assert (rc, other["state"]) == (0, "CLOSED")

    r = ctl(d, "--json", "force", "payments", "auto")
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), dict)
    rc, a = ctl_json(d, "allow", "payments")
    assert rc == 0 and a["allow"] is True


def test_report_and_metrics():
    d = _daemon()
    for outcome, ms in (("ok", "5"), ("fail", "12"), ("slow", None)):
        args = ["report", "payments", outcome] + ([ms] if ms else [])
        r = ctl(d, *args)
        assert r.returncode == 0, (args, r.stderr)
    rc, j = ctl_json(d, "report", "ledger", "ok")
    assert (rc, j) == (0, {"ok": True})
    r = ctl(d, "metrics")
    assert r.returncode == 0 and 'dep="payments"' in r.stdout
    assert "END" not in r.stdout.split()
    rc, m = ctl_json(d, "metrics")
    assert rc == 0 and any('dep="payments"' in k for k in m)
    key = 'breakerd_calls_total{dep="payments",outcome="fail"}'
    assert m.get(key) == 1, {k: v for k, v in m.items() if "calls" in k}


def test_errors_and_usage():
    d = _daemon()
    r = ctl(d, "get", "nope")
    assert r.returncode == 4 and "ENOENT" in r.stderr, r
    r = ctl(d, "--json", "allow", "nope")
    assert r.returncode == 4 and r.stdout == ""
    for args in ([], ["frob"], ["get"], ["get", "a", "b"],
                 ["report", "payments", "meh"],
                 ["report", "payments", "ok", "12ms"],
                 ["force", "payments", "sideways"],
                 ["force", "payments", "open", "--ttl", "soon"],
                 ["get", "payments", "--ttl", "5"],
                 ["--timeout", "abc", "ping"], ["--nope", "ping"]):
        r = ctl(d, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "breakerctl:" in r.stderr
    r = ctl(d, "--help")
    assert r.returncode == 0 and "exit status" in r.stdout
    r = ctl(d, "-V")
    assert r.returncode == 0 and r.stdout.startswith("breakerctl ")


def test_socket_from_environment():
    d = _daemon()
    e = dict(os.environ, BREAKERD_SOCKET=d.socket_path)
    r = subprocess.run([str(CTL), "ping"], capture_output=True, text=True,
                       timeout=10, env=e)
    assert r.returncode == 0 and r.stdout.strip() == "PONG"


def test_unreachable_exits_3_quickly(run_dir):
    require(CTL.exists(), str(CTL), "make")
    for args in (["ping"], ["get", "payments"], ["allow", "payments"],
                 ["list"], ["watch", "payments"]):
        t0 = time.monotonic()
        r = ctl(str(run_dir / "none.sock"), *args)
        assert r.returncode == 3, (args, r.returncode, r.stderr)
        assert time.monotonic() - t0 < 5
    # A socket that accepts but never answers: the timeout gives 3.
    path = str(run_dir / "silent.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(path)
        s.listen(8)
        t0 = time.monotonic()
        r = ctl(path, "--timeout", "200", "get", "payments")
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "timed out" in r.stderr
        assert time.monotonic() - t0 < 5
    finally:
        s.close()


def test_watch_streams_until_interrupted():
    d = _daemon()
    p = subprocess.Popen([str(CTL), "-s", d.socket_path, "--json", "watch",
                          "payments"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["dep"] == "payments" and first["state"] == "CLOSED"
        assert ctl(d, "force", "payments", "open").returncode == 0
        ev = json.loads(p.stdout.readline())
        assert ev["dep"] == "payments" and ev["state"] == "FORCED_OPEN"
        assert ctl(d, "force", "ledger", "open").returncode == 0
        assert ctl(d, "force", "payments", "auto").returncode == 0
        ev = json.loads(p.stdout.readline())
        assert ev["dep"] == "payments" and ev["state"] == "CLOSED"
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=5) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    r = ctl(d, "watch", "nope")
    assert r.returncode == 4 and "ENOENT" in r.stderr


def test_shell_example():
    d = _daemon()
    require(shutil.which("socat") or shutil.which("nc"), "socat or nc")
    e = dict(os.environ, BREAKERD_SOCKET=d.socket_path, BREAKERCTL=str(CTL))
    r = subprocess.run(["sh", str(EXAMPLES / "example.sh"), "payments"],
                       capture_output=True, text=True, timeout=20, env=e)
    assert r.returncode == 0, r.stderr
    assert "breakerctl: payments allowed" in r.stdout
    assert "raw: payments allowed" in r.stdout
    assert "report: OK" in r.stdout
    assert "get: OK payments CLOSED" in r.stdout
    if shutil.which("socat"):
        r = subprocess.run("printf 'ALLOW payments\\n' | socat - "
                           "UNIX-CONNECT:%s" % d.socket_path, shell=True,
                           capture_output=True, text=True, timeout=10)
        assert r.stdout.strip() == "OK ALLOW", r
    if shutil.which("nc"):
        r = subprocess.run("printf 'GET payments\\n' | nc -N -w 2 -U %s"
                           % d.socket_path, shell=True,
                           capture_output=True, text=True, timeout=10)
        assert r.stdout.startswith("OK payments CLOSED "), r
    assert ctl(d, "force", "payments", "open").returncode == 0
    r = subprocess.run(["sh", str(EXAMPLES / "example.sh"), "payments"],
                       capture_output=True, text=True, timeout=20, env=e)
    assert "breakerctl: payments denied" in r.stdout
    assert "raw: payments denied (FORCED_OPEN)" in r.stdout


def test_python_example(run_dir):
    d = _daemon()
    sys.path.insert(0, str(EXAMPLES))
    try:
        import example
    finally:
        sys.path.remove(str(EXAMPLES))
    bd = example.Breakerd(d.socket_path, timeout=2)
    assert bd.allow("payments") is True
    bd.report("payments", "fail", 12)
    bd.report("payments", "ok")
    v = bd.get("payments")
    assert v["dep"] == "payments" and v["state"] == "CLOSED"
    assert isinstance(v["version"], int)
    try:
        bd.get("nope")
        raise AssertionError("GET nope did not raise")
    except example.BreakerdError as exc:
        assert exc.code == "ENOENT"
    assert ctl(d, "force", "payments", "open").returncode == 0
    assert bd.allow("payments") is False
    assert ctl(d, "force", "payments", "auto").returncode == 0
    bd.close()
    gone = str(run_dir / "gone.sock")
    assert example.Breakerd(gone, fail_open=True).allow("payments") is True
    assert example.Breakerd(gone, fail_open=False).allow("payments") is False
    # The daemon restarts: the example reconnects after its back-off.
    d.stop()
    bd = example.Breakerd(d.socket_path, timeout=1, fail_open=False,
                          reconnect=0.05)
    assert bd.allow("payments") is False
    d.start()
    wait_until(lambda: bd.allow("payments"), 10, msg="reconnect")


def _sanitized(lib):
    """Was the library built with ASan (make SANITIZER=...)?"""
    try:
        r = subprocess.run(["nm", str(lib)], capture_output=True, text=True,
                           timeout=30)
    except OSError:
        return BUILD.name.endswith("-san")
    return "__asan_" in r.stdout


def test_c_example(run_dir):
    d = _daemon()
    cc = shutil.which("cc") or shutil.which("gcc")
    lib = BUILD / "libbreakerd_client.a"
    require(cc and lib.exists(), "a C compiler and %s" % lib)
    exe = run_dir / "example"
    args = [cc, str(EXAMPLES / "example.c"), "-I" + str(ROOT / "include"),
            str(lib), "-lpthread", "-o", str(exe)]
    if _sanitized(lib):  # a SANITIZER= build needs the runtime linked in
        args.append("-fsanitize=address,undefined")
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    e = dict(os.environ, BREAKERD_SOCKET=d.socket_path)
    r = subprocess.run([str(exe), "payments"], capture_output=True,
                       text=True, timeout=10, env=e)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("payments: allowed; state CLOSED"), r.stdout
    assert ctl(d, "force", "payments", "open").returncode == 0
    r = subprocess.run([str(exe), "payments"], capture_output=True,
                       text=True, timeout=10, env=e)
    assert r.returncode == 1 and "denied" in r.stdout
    # Daemon gone: the example fails open on ALLOW, then GET says 3.
    d.stop()
    t0 = time.monotonic()
    r = subprocess.run([str(exe), "payments"], capture_output=True,
                       text=True, timeout=10, env=e)
    assert r.returncode == 3 and "unreachable" in r.stderr, r
    assert time.monotonic() - t0 < 5
