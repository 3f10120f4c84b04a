"""test_shm.py - the shared-memory state table of a real standalone
breakerd (docs/protocol.md, "Shared-memory table"): the file beside the
socket with the socket's mode and removed at exit, answers from the table
with no socket round trip, a stress run (processes report and read while
the daemon flips states: readers see only published states, counters sum
exactly), half-open permits never exceeded across processes, hostile
counters refused, a process outside the socket's group cannot map it, and
clients falling back to the socket when the daemon stops, is killed or
restarts; in a fleet, a dependency not read yet is answered by the socket.
"""

import contextlib
import mmap
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from bdlib import (BUILD, ROOT, Daemon, Skip, current, deep_merge,
                   free_port, wait_until, zk_root)

SHARED_ENSEMBLE = True  # only the fleet test asks for it

DEPS = ["payments", "ledger"]
SLOT0 = 128          # header size
SLOT_SIZE = 384
REPORT_OFF = 256     # counters within a slot


class Tool:
    """build/tools/shm_client: one libbreakerd_client handle driven over
    stdin, tracked by the harness so that it is killed at test end."""

    def __init__(self, sock, fail_open=0, uid=None, name="shm_client"):
        exe = BUILD / "tools" / "shm_client"
        if not exe.exists():
            raise AssertionError("%s not built (make test-bins)" % exe)
        pre = None
        if uid is not None:
            def pre():
                os.setgid(uid)
                os.setuid(uid)
        self.name = name
        self.log_path = current().run_dir / ("%s.log" % name)
        self._err = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            [str(exe), sock, str(fail_open)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err, text=True,
            preexec_fn=pre)
        self._buf = b""
        current().procs.append(self)
        assert self.readline() == "ready"

    def readline(self, timeout=30):
        """One line, read from the pipe itself (select() cannot see what a
        buffered reader holds)."""
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._buf:
            r, _, _ = select.select([fd], [], [], timeout)
            assert r, "%s: no reply in %ss" % (self.name, timeout)
            chunk = os.read(fd, 65536)
            assert chunk, "%s exited (%s)" % (self.name, self.popen.poll())
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, line, timeout=30):
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()
        return self.readline(timeout)

    def send(self, line):
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def stats(self):
        return dict(kv.split("=") for kv in self.cmd("stats").split())

    def allow(self, dep, n=1):
        kv = dict(x.split("=") for x in self.cmd("allow %s %d" % (dep, n))
                  .split())
        return int(kv["allow"]), int(kv["deny"])

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        for f in (self.popen.stdin, self.popen.stdout, self._err):
            try:
                f.close()
            except OSError:
                pass

    def log_text(self):
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""


@contextlib.contextmanager
def _dir():
    """A directory for the socket and its table, removed after the test."""
    d = tempfile.mkdtemp(prefix="bd18-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _daemon(sdir, deps=DEPS, **over):
    sock = os.path.join(sdir, "s.sock")
    cfg = deep_merge({"socket": {"path": sock, "mode": "0660"}}, over)
    d = Daemon("inst-a", deps=deps, zk=None, overrides=cfg)
    d.socket_path = sock
    d.start()
    return d


def _metric(d, name):
    """The value of one METRICS series (exact name with labels)."""
    with d.client() as c:
        for ln in c.cmd_multi("METRICS"):
            if ln.startswith(name + " "):
                return int(float(ln.split()[-1]))
    raise AssertionError("no series %s" % name)


def _calls(d, dep, outcome):
    return _metric(d, 'breakerd_calls_total{dep="%s",outcome="%s"}'
                   % (dep, outcome))


def test_table_file():
    with _dir() as sdir:
        d = _daemon(sdir)
        sock = d.socket_path
        path = sock + ".shm"
        wait_until(lambda: os.path.exists(path), 5, msg="no table file")
        st, ss = os.stat(path), os.stat(sock)
        assert st.st_mode & 0o777 == 0o660, oct(st.st_mode)
        assert (st.st_uid, st.st_gid) == (ss.st_uid, ss.st_gid)
        with open(path, "rb") as f:
            head = f.read(128)
        magic, ver, hsize, ssize, nslots = struct.unpack_from("<QIIII", head)
        assert head[:8] == b"BKRDSMT1" and ver == 1, head[:16]
        # two dependencies and 16 spare slots (for reloads adding some)
        assert (hsize, ssize, nslots) == (128, 384, 2 + 16)
        assert not os.path.exists(path + ".tmp")
        d.stop()
        assert not os.path.exists(path), "table left behind at exit"
        # "off": no table; a path of its own elsewhere.
        d = _daemon(sdir, socket={"shm_path": "off"})
        assert not os.path.exists(path)
        d.stop()
        other = os.path.join(sdir, "other.tbl")
        d = _daemon(sdir, socket={"shm_path": other})
        wait_until(lambda: os.path.exists(other), 5, msg="no table file")
        d.stop()


def test_answers_from_table():
    with _dir() as sdir:
        d = _daemon(sdir)
        t = Tool(d.socket_path)
        assert t.allow("payments", 1000) == (1000, 0)
        s = t.stats()
        assert s["mapped"] == "1" and s["fallbacks"] == "0", s
        assert t.cmd("get payments") == "CLOSED 0 local"
        assert d.cmd("FORCE payments open 0 test") .startswith("OK")
        wait_until(lambda: t.allow("payments", 1) == (0, 1), 5,
                   msg="table never said deny")
        assert t.cmd("get payments") == "FORCED_OPEN 0 local"
        assert t.stats()["fallbacks"] == "0"
        # Answers from the table are counted by the daemon too.
        wait_until(lambda: _metric(
            d, 'breakerd_decisions_total{dep="payments",decision="allow"}')
            == 1000, 5, msg="table ALLOWs not counted")
        assert t.cmd("get nosuch").startswith("ERR")
        assert int(t.stats()["fallbacks"]) == 1
        # The documented Python reader (docs/examples) agrees.
        sys.path.insert(0, str(ROOT / "docs" / "examples"))
        try:
            import shm_reader
        finally:
            sys.path.pop(0)
        tab = shm_reader.Table(d.socket_path + ".shm")
        assert not tab.stale()
        assert tab.allow("payments") is False
        assert tab.allow("ledger") is True
        assert tab.get("payments") == {"state": "FORCED_OPEN", "version": 0,
                                       "authority": "local"}
        assert tab.allow("nosuch") is None
        d.stop()
        assert tab.stale() and tab.allow("ledger") is None


def test_stress_processes_flip():
    with _dir() as sdir:
        d = _daemon(sdir)
        n_rep, per = 4, 20000
        readers = [Tool(d.socket_path, name="reader%d" % i) for i in range(2)]
        reps = [Tool(d.socket_path, name="rep%d" % i) for i in range(n_rep)]
        for r in readers:
            r.send("getloop payments 3000")
        for i, r in enumerate(reps):
            r.send("report ledger %s 3 %d" % ("ok" if i % 2 else "fail",
                                              per))
        flips, until = 0, time.monotonic() + 2.5
        while time.monotonic() < until or flips < 60:
            verb = "open" if flips % 2 == 0 else "auto"
            assert d.cmd("FORCE payments %s 0 flip" % verb).startswith("OK")
            flips += 1
        for r in reps:
            assert r.readline(60) == "ok"
        published = {"CLOSED 0 local", "FORCED_OPEN 0 local"}
        total_reads, seen_all = 0, set()
        for r in readers:
            seen = []
            while True:
                ln = r.readline(30)
                if ln.startswith("end "):
                    total_reads += int(ln.split()[1])
                    break
                seen.append(ln)
            assert seen and set(seen) <= published, seen
            seen_all |= set(seen)
        # The reads overlapped the flips, or nothing was tested.
        assert total_reads > 0 and seen_all == published, seen_all
        want_fail = per * (n_rep // 2)
        want_ok = per * (n_rep - n_rep // 2)
        wait_until(lambda: _calls(d, "ledger", "fail") == want_fail
                   and _calls(d, "ledger", "ok") == want_ok, 10,
                   msg="reports do not sum: fail %d ok %d" % (
                       _calls(d, "ledger", "fail"), _calls(d, "ledger", "ok")))
        # Exactly, and no more arrives later: every report went through
        # the table or, when the client found it stale or torn (a loaded
        # machine can delay a drain past stale_ms), through the socket,
        # never both and never neither.
        fell = 0
        for r in reps:
            r.send("stats")
            st = dict(kv.split("=", 1) for kv in r.readline(10).split())
            fell += int(st["fallbacks"])
        reports = _metric(d, "breakerd_table_reports_total")
        print("table reports %d, socket fallbacks %d" % (reports, fell))
        assert reports + fell == per * n_rep, (reports, fell, per * n_rep)
        assert _metric(d, "breakerd_table_rejected_total") == 0


def test_half_open_permits_across_processes():
    with _dir() as sdir:
        dep = {"name": "probe", "breaker": {
            "window": "count", "window_size": 4, "minimum_calls": 4,
            "failure_rate_pct": 50, "open_wait_ms": 300,
            "open_wait_max_ms": 300, "jitter_pct": 0,
            "half_open_calls": 3}}
        d = _daemon(sdir, deps=[dep])
        tools = [Tool(d.socket_path, name="t%d" % i) for i in range(3)]
        assert tools[0].cmd("report probe fail 1 4") == "ok"
        wait_until(lambda: d.state("probe")["state"] == "HALF_OPEN", 10,
                   msg="never half-open")
        wait_until(lambda: _metric(d, "breakerd_table_permits_lent_total")
                   >= 1, 5, msg="permits not lent to the table")
        for t in tools:
            t.send("allow probe 200")
        got = 0
        for t in tools:
            kv = dict(x.split("=") for x in t.readline().split())
            got += int(kv["allow"])
        assert got == 3, "%d calls admitted in half-open, 3 permitted" % got
        assert d.cmd("ALLOW probe").startswith("OK DENY"), \
            "the socket found a permit past the 3"


def test_hostile_counters():
    with _dir() as sdir:
        d = _daemon(sdir)
        t = Tool(d.socket_path)
        assert t.cmd("report payments ok 1 10") == "ok"
        wait_until(lambda: _calls(d, "payments", "ok") == 10, 5,
                   msg="reports not drained")
        with open(d.socket_path + ".shm", "r+b") as f:
            m = mmap.mmap(f.fileno(), 0)
            off = SLOT0 + REPORT_OFF
            (okc,) = struct.unpack_from("<Q", m, off)
            assert okc == 10
            struct.pack_into("<Q", m, off, 3)            # went back
            wait_until(lambda: _metric(d, "breakerd_table_rejected_total")
                       >= 1, 5, msg="decrease not refused")
            struct.pack_into("<Q", m, off, 3 + (1 << 40))  # absurd jump
            wait_until(lambda: _metric(d, "breakerd_table_rejected_total")
                       >= 2, 5, msg="jump not refused")
            m.close()
        assert _calls(d, "payments", "ok") == 10
        assert d.cmd("PING") == "OK PONG"
        # Counting goes on from the resynchronised value.
        assert t.cmd("report payments ok 1 5") == "ok"
        wait_until(lambda: _calls(d, "payments", "ok") == 15, 5,
                   msg="counting did not resume")


def test_outside_group_cannot_map():
    if os.getuid() != 0:
        raise Skip("needs root to become uid 65534")
    with _dir() as sdir:
        d = _daemon(sdir)
        path = d.socket_path + ".shm"
        wait_until(lambda: os.path.exists(path), 5, msg="no table file")
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                os.setgid(65534)
                os.setuid(65534)
                try:
                    os.open(path, os.O_RDWR)
                    code = 1
                except PermissionError:
                    code = 0
            finally:
                os._exit(code)
        _, st = os.waitpid(pid, 0)
        assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, \
            "uid 65534 could open the table (%d)" % st
        t = Tool(d.socket_path, uid=65534, name="nobody")
        assert t.allow("payments", 10) == (0, 10)  # socket refused too
        s = t.stats()
        assert s["mapped"] == "0" and s["maps"] == "0", s
        root = Tool(d.socket_path, name="root")
        assert root.stats()["mapped"] == "1"


def test_fallback_stop_kill_restart():
    with _dir() as sdir:
        d = _daemon(sdir)
        t = Tool(d.socket_path, fail_open=0)
        assert t.allow("payments", 100) == (100, 0)
        assert t.stats()["maps"] == "1"
        d.stop()
        # STOPPED at once: the socket (gone: fail closed).
        assert t.allow("payments", 1) == (0, 1)
        s = t.stats()
        assert s["mapped"] == "0" and int(s["stale"]) >= 1, s
        d.start()
        wait_until(lambda: t.allow("payments", 1) == (1, 0), 10,
                   msg="no answers after the restart")
        wait_until(lambda: t.stats()["mapped"] == "1", 10,
                   msg="the new table was not mapped")
        assert t.stats()["maps"] == "2"
        before = int(t.stats()["fallbacks"])
        assert t.allow("payments", 100) == (100, 0)
        assert int(t.stats()["fallbacks"]) == before
        # SIGKILL: the file stays, the heartbeat stops.
        d.kill()
        assert os.path.exists(d.socket_path + ".shm")
        wait_until(lambda: t.allow("payments", 1) == (0, 1), 10,
                   msg="a dead daemon's table kept answering")
        assert t.stats()["mapped"] == "0"
        d.start()
        wait_until(lambda: t.allow("payments", 1) == (1, 0)
                   and t.stats()["maps"] == "3", 10,
                   msg="the restarted daemon's table was not mapped")


def test_fleet_unsynced_asks_socket_synced_from_table(ens):
    """In a fleet a dependency whose state this instance has not read in
    its session is answered by the socket (which may hold it), never by
    the table; once read, the table answers, authoritative."""
    with _dir() as sdir:
        # ZooKeeper that never answers: connecting for ever, never synced.
        dead = "127.0.0.1:%d" % free_port()
        d = _daemon(sdir, zookeeper={"hosts": dead,
                                     "session_timeout_ms": 2000,
                                     "root": zk_root()})
        t = Tool(d.socket_path)
        before = int(t.stats()["fallbacks"])
        got = t.cmd("get payments")
        # Held by the socket (past our 500 ms: a timeout), or local once
        # the start-up wait is over; never an answer from the table.
        assert got.startswith("ERR") or got.endswith(" local"), got
        s = t.stats()
        assert s["mapped"] == "1", s
        assert int(s["fallbacks"]) == before + 1, "the table answered " \
            "a dependency not read from the fleet yet: %s" % s
        d.stop()
        t.kill()
        # A real ensemble: synced, then answered from the table.
        d = _daemon(sdir, zookeeper={"hosts": ens.hosts,
                                     "session_timeout_ms": 2000,
                                     "root": zk_root()})
        t = Tool(d.socket_path, name="shm_client2")
        wait_until(lambda: d.status().get("ready") == "1", 30,
                   msg="never ready")
        wait_until(lambda: t.cmd("get payments").endswith(" authoritative"),
                   10, msg="never authoritative")
        before = int(t.stats()["fallbacks"])
        assert t.cmd("get payments").endswith(" authoritative")
        assert t.allow("payments", 100) == (100, 0)
        assert int(t.stats()["fallbacks"]) == before, \
            "a synced dependency was not answered from the table"
