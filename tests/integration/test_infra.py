"""test_infra.py - tests of the test infrastructure itself: the ZooKeeper
ensemble script (quorum, one leader, losing and regaining servers), the
flaky HTTP service (every mode, the control port, the counters) and the
harness (process clean-up, Daemon config and start-up against a stand-in
daemon, MiniZk).  If these fail, no other integration result means much.
"""

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import bdlib
from bdlib import Daemon, FlakyService, MiniZk, ZkError, wait_until

SHARED_ENSEMBLE = True


def _quorum(ens, expect_up):
    """Status if exactly the servers in expect_up serve and one of them
    leads, else None."""
    st = ens.status()
    serving = {n for n, m in st.items() if m}
    leaders = [n for n, m in st.items() if m == "leader"]
    if serving == set(expect_up) and len(leaders) == 1:
        return st
    return None


def _listening(port):
    """Local addresses with a TCP listener on port (from /proc/net)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if f[3] != "0A" or int(p, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            # /proc prints 32-bit words in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(raw)
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            found.add(str(ip))
    return found


def _connects(port):
    """Does 127.0.0.1:port accept a connection?"""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def _write_read(ens, write_n, read_n, path, value):
    """Create path on server write_n; wait until server read_n has it."""
    with MiniZk(ens.host(write_n)) as z:
        z.create(path, value, makepath=True)

    def seen():
        try:
            with MiniZk(ens.host(read_n)) as z2:
                return z2.get(path)[0] == value
        except (OSError, ZkError):
            return False
    wait_until(seen, 10, 0.1, "server %d never saw %s" % (read_n, path))


# ------------------------------------------------------------- ensemble

def test_ensemble_quorum_one_leader(ens):
    st = wait_until(lambda: _quorum(ens, {1, 2, 3}), 10, 0.1,
                    "no quorum of 3")
    assert sorted(st.values()) == ["follower", "follower", "leader"], st
    assert ens.hosts == ",".join("127.0.0.1:%d" % ens.client_port(n)
                                 for n in (1, 2, 3))
    for n in (1, 2, 3):
        assert bdlib.four_letter(ens.client_port(n), "ruok") == "imok"
        assert ens.pid(n) is not None
    # Replication: written through one server, read from another.
    _write_read(ens, 1, 3, bdlib.zk_root() + "/probe", b"v1")


def test_ensemble_binds_loopback_only(ens):
    # clientPortAddress=127.0.0.1: the client port must not answer on
    # another local address, and the admin server (8080) is disabled.
    for n in (1, 2, 3):
        addrs = _listening(ens.client_port(n))
        assert addrs == {"127.0.0.1"}, (n, addrs)
    cfg = (ens.dir / "server1" / "zoo.cfg").read_text()
    for line in ("admin.enableServer=false", "maxClientCnxns=0",
                 "clientPortAddress=127.0.0.1", "tickTime=500",
                 "forceSync=no"):
        assert line in cfg.splitlines(), (line, cfg)
    assert (ens.dir / "server2" / "data" / "myid").read_text().strip() == "2"


def test_kill_leader_keeps_quorum_and_restart_rejoins(ens):
    wait_until(lambda: _quorum(ens, {1, 2, 3}), 10, 0.1, "no quorum")
    old = ens.leader()
    ens.kill(old)
    assert ens.pid(old) is None
    others = {1, 2, 3} - {old}
    st = wait_until(lambda: _quorum(ens, others), 30, 0.1,
                    "the two survivors did not elect a leader")
    assert st[old] is None
    a, b = sorted(others)
    # A write needs a quorum: it must succeed with one server down.
    path = bdlib.zk_root() + "/while-down"
    _write_read(ens, a, b, path, b"x")
    ens.restart(old)
    wait_until(lambda: _quorum(ens, {1, 2, 3}), 30, 0.1, "no rejoin")
    assert ens.mode(old) == "follower", ens.status()
    # The restarted server caught up with what it missed.
    _write_read(ens, a, old, bdlib.zk_root() + "/after", b"y")
    with MiniZk(ens.host(old)) as z:
        assert z.get(path)[0] == b"x"


def test_kill_two_loses_quorum(ens):
    wait_until(lambda: _quorum(ens, {1, 2, 3}), 10, 0.1, "no quorum")
    ens.kill(1)
    ens.kill(2)
    # A lone server of three must stop serving (no Mode line).
    wait_until(lambda: ens.mode(3) is None, 20, 0.1,
               "server 3 kept serving without a quorum")
    ens.restart(1)
    wait_until(lambda: _quorum(ens, {1, 3}), 30, 0.1, "no quorum of 2")
    ens.restart(2)
    wait_until(lambda: _quorum(ens, {1, 2, 3}), 30, 0.1, "no quorum of 3")


def test_pause_resume(ens):
    wait_until(lambda: _quorum(ens, {1, 2, 3}), 10, 0.1, "no quorum")
    ens.pause(2)
    assert bdlib.four_letter(ens.client_port(2), "ruok", 0.5) in (None, "")
    ens.resume(2)
    wait_until(lambda: _quorum(ens, {1, 2, 3}), 30, 0.1, "no quorum")


def test_standalone_ensemble():
    e = bdlib.zk_ensemble(size=1)
    assert e.status() == {1: "standalone"}
    assert e.hosts == "127.0.0.1:%d" % e.client_port(1)
    with MiniZk(e.hosts) as z:
        z.create("/solo", b"1")
        assert z.exists("/solo")["version"] == 0
    e.stop()
    assert e.pid(1) is None
    assert bdlib.four_letter(e.client_port(1), "ruok", 0.5) is None


def test_zk_script_cli(run_dir):
    script = str(bdlib.ZK_SCRIPT)
    r = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "restart N" in r.stdout
    r = subprocess.run([script, "-d", str(run_dir / "z"), "frob"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = subprocess.run([script, "-d", str(run_dir / "z"), "kill", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no server 4" in r.stderr
    r = subprocess.run([script, "-n", "2", "status"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "size must be" in r.stderr
    # Nothing running in a fresh directory: stop is a no-op, status "down".
    r = subprocess.run([script, "-d", str(run_dir / "z"), "-p", "30000",
                        "stop"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([script, "-d", str(run_dir / "z"), "-p", "30000",
                        "status"], capture_output=True, text=True)
    assert r.stdout.count("down") == 3, r.stdout
    r = subprocess.run([script, "-p", "30000", "hosts"], capture_output=True,
                       text=True, cwd=str(run_dir))
    assert r.stdout.strip() == \
        "127.0.0.1:30000,127.0.0.1:30003,127.0.0.1:30006"


# ------------------------------------------------------------- MiniZk

def test_minizk_operations(ens):
    root = bdlib.zk_root()
    with MiniZk(ens.host(2)) as z:
        assert z.create(root + "/a/b", b"one", makepath=True) == root + "/a/b"
        data, stat = z.get(root + "/a/b")
        assert data == b"one" and stat["version"] == 0
        assert z.set(root + "/a/b", b"two", version=0)["version"] == 1
        try:
            z.set(root + "/a/b", b"three", version=0)
            raise AssertionError("stale version accepted")
        except ZkError as exc:
            assert exc.code == -103
        eph = z.create(root + "/a/e-", ephemeral=True, sequential=True)
        assert z.exists(eph)["ephemeralOwner"] == z.session_id
        assert z.children(root + "/a") == sorted(["b", eph.split("/")[-1]])
        try:
            z.create(root + "/a/b")
            raise AssertionError("duplicate create accepted")
        except ZkError as exc:
            assert exc.code == -110
    # Closing the session removes its ephemeral node at once.
    with MiniZk(ens.host(1)) as z:
        wait_until(lambda: z.exists(eph) is None, 5, 0.05,
                   "ephemeral survived close")
        z.delete(root + "/a/b", version=1)
        assert z.exists(root + "/a/b") is None


# ------------------------------------------------------------- flaky service

def _get(f, timeout=5, headers=None, path="/health"):
    return f.get(path, timeout=timeout, headers=headers)


def test_flaky_ok_and_error():
    f = FlakyService()
    f.start()
    assert _get(f) == (200, "ok\n")
    f.set_mode("error")
    assert _get(f)[0] == 500
    r = urllib.request.urlopen("http://127.0.0.1:%d/_control/mode?m=error"
                               "&code=503" % f.cport, timeout=5)
    assert r.status == 200
    assert _get(f, path="/anything")[0] == 503
    f.set_mode("ok")
    assert _get(f) == (200, "ok\n")
    st = f.stats()
    assert st["total"] == 4 and st["by_mode"]["error"] == 2, st
    assert st["by_mode"]["ok"] == 2 and st["mode"] == "ok"


def test_flaky_bad_control_requests():
    f = FlakyService()
    f.start()
    for q in ("/_control/mode?m=sideways", "/_control/mode?m=slow&delay_ms=x",
              "/_control/mode?m=error&code=99", "/_control/nope"):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d%s" % (f.cport, q),
                                   timeout=5)
            raise AssertionError("%s accepted" % q)
        except urllib.error.HTTPError as exc:
            assert exc.code in (400, 404), (q, exc.code)
    assert f.stats()["mode"] == "ok"
    assert f.stats()["total"] == 0  # control requests are not counted


def test_flaky_slow():
    f = FlakyService(slow_ms=700)
    f.start()
    f.set_mode("slow")
    t0 = time.monotonic()
    assert _get(f, timeout=10) == (200, "ok\n")
    # A timer cannot fire early: the lower bound is exact.
    assert time.monotonic() - t0 >= 0.69
    try:
        _get(f, timeout=0.2)
        raise AssertionError("slow reply came before the client timeout")
    except (socket.timeout, TimeoutError, urllib.error.URLError):
        pass
    f.set_mode("slow", slow_ms=0)
    assert _get(f, timeout=5) == (200, "ok\n")
    assert f.stats()["slow_ms"] == 0
    # The abandoned request is answered (to nobody) and forgotten.
    wait_until(lambda: f.stats()["held"] == 0, 5, 0.05, "held request")


def test_flaky_refuse_keeps_control():
    f = FlakyService()
    f.start()
    f.set_mode("refuse")
    try:
        socket.create_connection(("127.0.0.1", f.port), 2).close()
        raise AssertionError("connection accepted in refuse mode")
    except ConnectionRefusedError:
        pass
    assert f.stats()["mode"] == "refuse"
    f.set_mode("ok")
    assert _get(f) == (200, "ok\n")
    f.set_mode("refuse")
    f.set_mode("error")
    assert _get(f)[0] == 500


def test_flaky_hang():
    f = FlakyService()
    f.start()
    f.set_mode("hang")
    t0 = time.monotonic()
    try:
        _get(f, timeout=0.5)
        raise AssertionError("hang mode answered")
    except (socket.timeout, TimeoutError, urllib.error.URLError):
        pass
    assert time.monotonic() - t0 >= 0.45
    # A raw client keeps its connection open and gets nothing.
    s = socket.create_connection(("127.0.0.1", f.port), 2)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(0.5)
    try:
        got = s.recv(100)
        raise AssertionError("hang mode sent %r" % got)
    except socket.timeout:
        pass
    assert wait_until(lambda: f.stats()["held"] >= 1, 5, 0.05, "not held")
    assert f.stats()["by_mode"]["hang"] == 2
    # Leaving hang releases held requests with 503.
    f.set_mode("ok")
    s.settimeout(5)
    assert s.recv(100).startswith(b"HTTP/1.1 503")
    s.close()
    assert _get(f) == (200, "ok\n")
    assert f.stats()["held"] == 0


def test_flaky_stats_counting():
    f = FlakyService()
    f.start()
    before = time.monotonic() * 1000
    for i in range(4):
        _get(f, headers={"X-Breakerd-Instance": "inst-a"})
    for i in range(3):
        _get(f, headers={"X-Breakerd-Instance": "inst-b"}, path="/other?q=1")
    _get(f, path="/plain")
    after = time.monotonic() * 1000
    st = f.stats()
    assert st["total"] == 8, st
    assert st["by_instance"] == {"inst-a": 4, "inst-b": 3}, st
    assert st["by_path"] == {"/health": 4, "/other": 3, "/plain": 1}, st
    assert st["by_source"] == {"127.0.0.1": 8}, st
    rec = st["recent"]
    assert [r["instance"] for r in rec] == ["inst-a"] * 4 + ["inst-b"] * 3 \
        + [""]
    ts = [r["t_ms"] for r in rec]
    assert ts == sorted(ts)
    # Same CLOCK_MONOTONIC as Python's time.monotonic().
    assert before - 1 <= ts[0] and ts[-1] <= after + 1, (before, ts, after)
    f.reset()
    st = f.stats()
    assert st["total"] == 0 and st["recent"] == [] and st["by_path"] == {}


def test_flaky_recent_ring_bounded():
    f = FlakyService()
    f.start()
    # Keep-alive connection: 300 requests quickly, bounded in count.
    s = socket.create_connection(("127.0.0.1", f.port), 5)
    fp = s.makefile("rb")
    for i in range(300):
        s.sendall(b"GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        while fp.readline() not in (b"\r\n", b""):
            pass
        fp.read(3)
    s.close()
    st = f.stats()
    assert st["total"] == 300
    assert len(st["recent"]) == 256
    assert st["recent"][-1]["path"] == "/r299"
    assert st["recent"][0]["path"] == "/r44"
    # Distinct paths beyond 256 keys are folded into "(other)".
    assert len(st["by_path"]) == 257 and st["by_path"]["(other)"] == 44


def test_flaky_sigterm_exits_cleanly():
    f = FlakyService(mode="hang")
    f.start()
    s = socket.create_connection(("127.0.0.1", f.port), 2)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: f.stats()["held"] == 1, 5, 0.05, "not held")
    assert f.stop() == 0
    s.close()


def test_flaky_log_file(run_dir):
    log = run_dir / "requests.log"
    f = bdlib.FlakyService(log_file=log)
    port = f.start()
    p = f.proc
    for inst in ("a", "b"):
        req = urllib.request.Request("http://127.0.0.1:%d/h" % port,
                                     headers={"X-Breakerd-Instance": inst})
        urllib.request.urlopen(req, timeout=5).read()
    p.signal(signal.SIGTERM)
    assert p.wait(5) == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[2:] == ["/h", "a", "ok"]
    assert lines[1].split()[2:] == ["/h", "b", "ok"]


def test_flaky_usage_errors():
    exe = str(bdlib._build_flaky())
    r = subprocess.run([exe, "-h"], capture_output=True, text=True)
    assert r.returncode == 0 and "usage" in r.stdout
    for args in ([], ["-p", "0"], ["-p", "70000"], ["-p", "1", "-m", "x"]):
        r = subprocess.run([exe] + args, capture_output=True, text=True,
                           timeout=5)
        assert r.returncode != 0, args


# ------------------------------------------------------------- harness

def test_wait_until():
    n = [0]

    def bump():
        n[0] += 1
        return n[0] if n[0] >= 3 else 0
    assert wait_until(bump, 5, 0.01) == 3
    try:
        wait_until(lambda: False, 0.1, 0.01, "never")
        raise RuntimeError("did not raise")
    except AssertionError as exc:
        assert "never" in str(exc)


def test_deep_merge():
    base = {"a": {"b": 1, "c": 2}, "d": [1], "e": 5}
    out = bdlib.deep_merge(base, {"a": {"b": 9}, "d": [2], "e": None})
    assert out == {"a": {"b": 9, "c": 2}, "d": [2]}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1], "e": 5}


def test_daemon_config_shape(ens):
    d = Daemon("inst-a", deps=["payments", {"name": "ledger", "x": 1}],
               zk=ens, overrides={"socket": {"mode": "0600"},
                                  "log_level": None},
               dep_overrides={"payments": {"breaker": {"window_size": 5}}})
    d.write_config()
    cfg = json.loads(d.config_path.read_text())
    assert cfg["instance_id"] == "inst-a"
    assert "log_level" not in cfg
    assert cfg["socket"]["path"] == d.socket_path
    assert cfg["socket"]["mode"] == "0600" and 0 in cfg["socket"]["admin_uids"]
    assert cfg["zookeeper"]["hosts"] == ens.hosts
    assert cfg["zookeeper"]["session_timeout_ms"] == 2000
    assert cfg["zookeeper"]["root"] == bdlib.zk_root()
    assert cfg["dependencies"] == [
        {"name": "payments", "breaker": {"window_size": 5}},
        {"name": "ledger", "x": 1}]
    d2 = Daemon("inst-b", deps=[])
    assert "zookeeper" not in d2.config
    assert d2.config["log_level"] == "debug"
    assert len(d2.socket_path) < 108


# A stand-in daemon: reads the generated config and answers PING on its
# socket, so that the Daemon and Client classes are tested without
# depending on the real breakerd's progress.
FAKE_DAEMON = textwrap.dedent("""\
    import json, os, signal, socket, sys
    cfg = json.load(open(sys.argv[2]))
    path = cfg["socket"]["path"]
    if os.path.exists(path):
        os.unlink(path)
    print("fake starting", cfg["instance_id"], file=sys.stderr, flush=True)
    if cfg.get("die"):
        sys.exit(3)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(8)
    while True:
        c, _ = srv.accept()
        f = c.makefile("rwb", buffering=0)
        for line in f:
            w = line.decode().strip()
            if w == "PING":
                f.write(b"OK PONG\\n")
            elif w == "LIST":
                f.write(b"OK 1\\npayments CLOSED 0 local\\nEND\\n")
            elif w == "QUIT":
                f.close()
                break
            else:
                f.write(b"ERR EPROTO unknown\\n")
        c.close()
    """)


def _fake(run_dir, **kw):
    script = run_dir / "fake_breakerd.py"
    script.write_text(FAKE_DAEMON)
    wrapper = run_dir / "fake_breakerd"
    wrapper.write_text("#!/bin/sh\nexec %s %s \"$@\"\n" % (sys.executable,
                                                           script))
    wrapper.chmod(0o755)
    return Daemon(binary=wrapper, **kw)


def test_daemon_start_client_stop(run_dir):
    d = _fake(run_dir, name="fake-a", deps=["payments"])
    d.start()
    assert d.alive() and d.pid > 0
    c = d.client()
    assert c.cmd("PING") == "OK PONG"
    assert c.cmd_multi("LIST") == ["OK 1", "payments CLOSED 0 local", "END"]
    assert c.cmd("BOGUS").startswith("ERR ")
    c.send_raw(b"PING\nPING\n")          # pipelined
    assert [c.readline(), c.readline()] == ["OK PONG", "OK PONG"]
    assert c.readline(timeout=0.2) is None and not c.eof
    c.send("QUIT")
    assert c.readline(timeout=2) is None and c.eof
    assert d.rss_kb() > 0
    assert d.stop() == 0
    assert not d.alive()
    assert "fake starting fake-a" in d.log_text()
    # It can start again, appending to the same log.
    d.start()
    assert d.cmd("PING") == "OK PONG"
    assert d.kill() == -signal.SIGKILL
    assert d.log_text().count("fake starting") == 2


def test_daemon_start_failure_reports_log(run_dir):
    d = _fake(run_dir, name="fake-b", overrides={"die": True})
    try:
        d.start(timeout=5)
        raise RuntimeError("start did not raise")
    except AssertionError as exc:
        assert "exited with 3" in str(exc), exc
        assert "fake starting fake-b" in str(exc), exc


def _child_leaves_nothing(run_dir, how):
    """Run a child Python that uses the harness to start a process, end it
    the way given, and check the grandchild is gone."""
    code = textwrap.dedent("""\
        import sys, time
        sys.path.insert(0, %r)
        import bdlib
        bdlib.install_signal_handlers()
        p = bdlib.spawn(["sleep", "60"])
        print(p.pid, flush=True)
        sys.stdin.readline()          # the parent has seen the process
        if %r == "exit":
            sys.exit(0)
        time.sleep(60)
        """ % (str(bdlib.ROOT / "scripts"), how))
    child = subprocess.Popen([sys.executable, "-c", code],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        pid = int(child.stdout.readline())
        assert os.path.exists("/proc/%d" % pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(0.1)               # let the child reach its sleep
        if how == "term":
            child.send_signal(signal.SIGTERM)
        elif how == "int":
            child.send_signal(signal.SIGINT)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    def gone():
        try:
            with open("/proc/%d/status" % pid) as fp:
                return "zombie" in fp.read()
        except OSError:
            return True
    wait_until(gone, 5, 0.05, "%s left pid %d running" % (how, pid))


def test_processes_cleaned_at_exit(run_dir):
    _child_leaves_nothing(run_dir, "exit")


def test_processes_cleaned_on_sigterm(run_dir):
    _child_leaves_nothing(run_dir, "term")


def test_processes_cleaned_on_sigint(run_dir):
    _child_leaves_nothing(run_dir, "int")


def test_free_ports_private_and_distinct():
    ports = bdlib.free_ports(10)
    assert len(set(ports)) == 10
    assert all(bdlib.PORT_LO <= p < bdlib.PORT_HI for p in ports)
    base = bdlib.free_ports(9, consecutive=True)
    assert base == list(range(base[0], base[0] + 9))
    assert not set(base) & set(ports)


# ------------------------------------------------------------- run.py

SAMPLE_TESTS = textwrap.dedent("""\
    import time
    import bdlib

    def test_passes():
        assert 1 + 1 == 2

    def test_fails():
        d = bdlib.spawn(["sh", "-c", "echo marker-from-failing-test; "
                         "sleep 60"], name="helper")
        time.sleep(0.2)
        assert 1 + 1 == 3, "arithmetic"

    def test_skip_plain():
        raise bdlib.Skip("no reason")

    def test_skip_unable():
        bdlib.unable("fly")

    def test_skip_requires():
        bdlib.require(False, "a unicorn", "install one")

    def test_times_out():
        p = bdlib.spawn(["sleep", "60"], name="sleeper")
        open(%r, "w").write(str(p.pid))
        time.sleep(30)
    test_times_out.timeout = 1

    def test_sanitizer_marker():
        bdlib.spawn(["sh", "-c", "echo 'x: runtime error: y'; sleep 9"])
        time.sleep(0.2)
    """)


def test_runner_reports(run_dir):
    pidfile = run_dir / "sleeper.pid"
    sample = run_dir / "test_sample.py"
    sample.write_text(SAMPLE_TESTS % str(pidfile))
    runner = bdlib.ROOT / "tests" / "integration" / "run.py"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    r = subprocess.run([sys.executable, str(runner), "--dir",
                        str(run_dir / "out"), str(sample)],
                       capture_output=True, text=True, timeout=60, env=env)
    out = r.stdout
    assert r.returncode == 1, out
    lines = out.splitlines()
    assert lines[-1] == "integration: 1 passed, 3 failed, 3 skipped", out
    assert any(ln.startswith("PASS test_passes (") for ln in lines), out
    assert "FAIL test_fails" in out and "arithmetic" in out
    assert "marker-from-failing-test" in out      # the log tail
    assert "SKIP test_skip_plain: no reason" in out
    assert "SKIP test_skip_unable: this machine cannot: fly" in out
    assert "SKIP test_skip_requires: required component missing: a unicorn " \
        "(install one)" in out
    assert "FAIL test_times_out" in out and "timed out after 1" in out
    assert "FAIL test_sanitizer_marker" in out and "runtime error" in out
    # The timed-out test's process was killed.
    pid = int(pidfile.read_text())
    assert not os.path.exists("/proc/%d/cmdline" % pid) or \
        open("/proc/%d/cmdline" % pid).read() == "", pid
    # Passing tests leave no run directory; failing ones keep theirs.
    assert not (run_dir / "out" / "test_sample" / "test_passes").exists()
    assert (run_dir / "out" / "test_sample" / "test_fails" /
            "helper.log").exists()
    # -k selects by substring.
    r = subprocess.run([sys.executable, str(runner), "-k", "passes",
                        "--dir", str(run_dir / "out2"), str(sample)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "integration: 1 passed, 0 failed"
    # Under CI=true only what the machine cannot do may skip: a missing
    # required component, or a plain Skip, fails the run.
    r = subprocess.run([sys.executable, str(runner), "-k", "skip_",
                        "--dir", str(run_dir / "out3"), str(sample)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(env, CI="true"))
    out = r.stdout
    assert r.returncode == 1, out
    assert "SKIP test_skip_unable: this machine cannot: fly" in out, out
    assert "FAIL test_skip_requires" in out and "a unicorn" in out and \
        "CI=true" in out, out
    assert "FAIL test_skip_plain" in out and "no reason" in out, out
    assert out.splitlines()[-1] == "integration: 0 passed, 2 failed, " \
        "1 skipped", out


def test_real_daemon_smoke():
    # The harness against the real binary: generated config accepted,
    # socket answers, SIGTERM exits 0.  Fleet behaviour is tested elsewhere.
    bdlib.require((bdlib.BUILD / "breakerd").exists(),
                  str(bdlib.BUILD / "breakerd"), "make")
    d = Daemon("inst-smoke", deps=["payments", "ledger"])
    d.start()
    assert d.cmd("PING") == "OK PONG"
    lines = d.client().cmd_multi("LIST")
    assert lines[0] == "OK 2" and lines[-1] == "END", lines
    assert sorted(ln.split()[0] for ln in lines[1:-1]) == ["ledger",
                                                            "payments"]
    assert d.state("payments")["dep"] == "payments"
    assert d.stop() == 0


def test_flaky_retries_a_taken_port():
    """A port free when chosen but taken before flaky_service binds it:
    the harness starts it again on other ports instead of failing."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = busy.getsockname()[1]
    real, calls = bdlib.free_ports, []

    def first_taken(n=1, consecutive=False):
        calls.append(n)
        if len(calls) == 1:
            return [taken] + real(n - 1)
        return real(n, consecutive)
    bdlib.free_ports = first_taken
    try:
        f = bdlib.FlakyService()
        port = f.start()
    finally:
        bdlib.free_ports = real
        busy.close()
    assert len(calls) == 2, calls
    assert port != taken and f.get()[0] == 200
    assert "Address already in use" in bdlib.tail(
        bdlib.run_dir() / "flaky.log")


def test_leak_excuse_covers_only_the_zookeeper_library():
    """A LeakSanitizer report is excused only when every leak was allocated
    by libzookeeper_mt itself; one frame of ours on top fails the test."""
    lib = ("==1==ERROR: LeakSanitizer: detected memory leaks\n\n"
           "Direct leak of 168 byte(s) in 1 object(s) allocated from:\n"
           "    #0 0x7f in __interceptor_calloc asan_malloc_linux.cpp:77\n"
           "    #1 0x7f  (/lib/x86_64-linux-gnu/libzookeeper_mt.so.2+0x841e)"
           "\n\nSUMMARY: AddressSanitizer: 168 byte(s) leaked\n")
    ours = lib.replace("SUMMARY", "Indirect leak of 8 byte(s) in 1 "
                       "object(s) allocated from:\n    #0 0x7f in malloc\n"
                       "    #1 0x55 in fleet_new src/fleet.c:10\n\nSUMMARY")
    assert bdlib._only_library_leaks(lib)
    assert not bdlib._only_library_leaks(ours)
    assert not bdlib._only_library_leaks("ERROR: LeakSanitizer\n")
