"""test_abuse.py - breakerd against hostile input.

Socket: thousands of connections against max_clients, slowloris half
lines, oversize lines, binary garbage and NUL bytes, clients vanishing in
the middle of a WATCH; all the while a separate client must keep getting
answers within a generous bound.  ZooKeeper: state and override znodes
overwritten with garbage, huge, ill-typed, unknown-state and absurd-TTL
records must be rejected (last good state kept, counted in METRICS), and a
leader must still be able to publish afterwards.  Security: the socket's
mode and group, admin commands refused to a non-admin uid, and ZooKeeper
digest ACLs (world may read, not write; the credential never shows).
"""

import grp
import json
import os
import random
import resource
import selectors
import socket
import stat
import tempfile
import threading
import time

import bdlib
from bdlib import Daemon, MiniZk, ZkError, wait_until, zk_root

SHARED_ENSEMBLE = True
TIMEOUT = 120

MONITOR_BOUND_S = 2.0     # a query must be answered within this, always


class Monitor(threading.Thread):
    """Asks GET on its own connection every 50 ms and records the slowest
    answer and any failure, while a test abuses the daemon."""

    def __init__(self, d, dep="payments"):
        super().__init__(daemon=True)
        self.d = d
        self.dep = dep
        self.stop = threading.Event()
        self.count = 0
        self.worst = 0.0
        self.errors = []
        self.cl = d.client(timeout=10)

    def run(self):
        while not self.stop.is_set() and len(self.errors) < 5:
            t0 = time.monotonic()
            try:
                r = self.cl.cmd("GET %s" % self.dep, timeout=10)
                if not r.startswith("OK %s " % self.dep):
                    self.errors.append(r)
            except (OSError, AssertionError) as exc:
                self.errors.append(str(exc))
                return
            self.worst = max(self.worst, time.monotonic() - t0)
            self.count += 1
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        self.join(15)
        self.cl.close()
        assert not self.errors, "monitor client failed: %r" % self.errors
        assert self.count > 0, "monitor never got an answer"
        assert self.worst < MONITOR_BOUND_S, \
            "monitor waited %.2fs for an answer" % self.worst
        return self


def _raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _client(d, timeout=5):
    """bdlib.Client, retrying while the listen backlog is full."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return bdlib.Client(d.socket_path, timeout)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _cmd(d, line):
    """One request on a fresh connection, retrying while the listen
    backlog is full (a burst of connects may fill it)."""
    s = _connect(d.socket_path)
    try:
        s.sendall(line.encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, "closed without a reply to %r" % line
            buf += chunk
        return buf.split(b"\n", 1)[0].decode()
    finally:
        s.close()


def _metric(d, name, dep):
    with _client(d) as c:
        lines = c.cmd_multi("METRICS")
    key = '%s{dep="%s"}' % (name, dep)
    for ln in lines:
        if ln.startswith(key + " "):
            return int(float(ln.split()[-1]))
    raise AssertionError("no %s in METRICS" % key)


def _gauge(d, name):
    with _client(d) as c:
        lines = c.cmd_multi("METRICS")
    for ln in lines:
        if ln.startswith(name + " "):
            return int(float(ln.split()[-1]))
    raise AssertionError("no %s in METRICS" % name)


# ---------------------------------------------------------------- socket

def _connect(path, timeout=10):
    """Connect, retrying while the listen backlog is full (EAGAIN)."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
            s.setblocking(True)
            s.settimeout(5)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise AssertionError("listen backlog full for %ss" % timeout)
            time.sleep(0.002)


def test_thousands_of_connections():
    """2000 connections against max_clients 1000: the extra ones get
    ERR EBUSY and are closed, the accepted ones are all served, the monitor
    never waits, and the slots come back when the clients go."""
    total, maxc = 2000, 1000
    if _raise_nofile(total + 200) < total + 100:
        bdlib.unable("raise RLIMIT_NOFILE to %d for %d connections"
                     % (total + 100, total))
    d = Daemon(overrides={"socket": {"max_clients": maxc}}).start()
    mon = Monitor(d)
    mon.start()
    socks, busy, accepted = [], 0, []
    try:
        for _ in range(total):
            socks.append(_connect(d.socket_path))
        # Those refused hear ERR EBUSY at once and are closed.
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        bufs, left = {}, len(socks)
        deadline = time.monotonic() + 10
        quiet_since = time.monotonic()
        while left and time.monotonic() < deadline and \
                time.monotonic() - quiet_since < 2:
            ready = sel.select(0.5)
            if ready:
                quiet_since = time.monotonic()
            for key, _ in ready:
                s = key.fileobj
                data = s.recv(4096)
                bufs[s] = bufs.get(s, b"") + data
                if not data or b"\n" in bufs[s]:
                    sel.unregister(s)
                    left -= 1
        sel.close()
        for s in socks:
            b = bufs.get(s, b"")
            if b.startswith(b"ERR EBUSY"):
                busy += 1
            else:
                assert b == b"", "unexpected greeting %r" % b
                accepted.append(s)
        print("accepted %d, refused with EBUSY %d" % (len(accepted), busy))
        assert len(accepted) + busy == total
        assert len(accepted) <= maxc - 1, "more than max_clients accepted"
        assert busy >= total - maxc, "too few EBUSY: %d" % busy
        for s in accepted:
            s.sendall(b"PING\n")
        for s in accepted:
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(64)
                assert chunk, "accepted connection closed"
                buf += chunk
            assert buf == b"OK PONG\n", buf
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: _gauge(d, "breakerd_clients") <= 2, 10,
               msg="client slots not released")
    assert _cmd(d, "PING") == "OK PONG"
    mon.finish()
    print("monitor: %d answers, worst %.3fs" % (mon.count, mon.worst))
    assert d.stop() == 0


def test_slowloris_and_oversize():
    """Half-written lines are cut after idle_timeout_ms while silent
    connections and the monitor are untouched; over-long lines get one
    ERR ETOOLONG each and the connection keeps working."""
    d = Daemon(overrides={"socket": {"idle_timeout_ms": 1000}}).start()
    mon = Monitor(d)
    mon.start()
    slow = []
    for i in range(200):
        s = _connect(d.socket_path)
        s.sendall(b"GET paym" if i % 2 else b"PI")
        slow.append(s)
    quiet = _client(d, timeout=5)
    # Oversize: 10 kB, 1 MB, and a line of exactly 4096 bytes with \n.
    with d.client(timeout=10) as c:
        for size in (10000, 1 << 20):
            c.send_raw(b"GET " + b"x" * size + b"\n")
            assert c.readline().startswith("ERR ETOOLONG"), size
            assert c.cmd("PING") == "OK PONG"
        c.send_raw(b"GET " + b"y" * 4092 + b"\n")          # 4097 with \n
        r = c.readline()
        assert r.startswith("ERR ETOOLONG"), r
        assert c.readline(timeout=0.3) is None, "a second reply to one line"
        c.send_raw(b"PING" + b" " * 4091 + b"\n")           # 4096 with \n
        assert c.readline() == "OK PONG"
        assert c.readline(timeout=0.3) is None, "a second reply to one line"
    t0 = time.monotonic()
    for s in slow:
        s.settimeout(10)
        r = s.recv(4096)
        assert r == b"", "slowloris got %r" % r
        s.close()
    took = time.monotonic() - t0
    assert quiet.cmd("PING") == "OK PONG", "a silent connection was cut"
    mon.finish()
    print("200 half lines cut within %.2fs; monitor worst %.3fs" % (
        took, mon.worst))
    assert d.stop() == 0


def test_garbage_and_nul_bytes():
    """Binary garbage, NUL and control bytes: answered with ERR EPROTO
    (or ETOOLONG), never a crash; the connection still works."""
    d = Daemon().start()
    mon = Monitor(d)
    mon.start()
    rng = random.Random(7)
    for round_ in range(40):
        with d.client(timeout=10) as c:
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(
                1, 6000)))
            c.send_raw(blob + b"\nPING\n")
            for _ in range(10000):
                r = c.readline(timeout=5)
                assert r is not None, "garbage round %d: %s" % (
                    round_, "closed" if c.eof else "no answer")
                if r == "OK PONG":
                    break
    with d.client() as c:
        c.send_raw(b"GET pay\x00ments\n")
        assert c.readline().startswith("ERR EPROTO"), "NUL accepted"
        c.send_raw(b"\xff\xfe\r\n")
        assert c.readline().startswith("ERR EPROTO")
        c.send_raw(b"PING\r\r\n")
        assert c.readline().startswith("ERR EPROTO")
        assert c.cmd("PING") == "OK PONG"
    # Garbage, then vanish without reading.
    for _ in range(50):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.socket_path)
        s.sendall(b"\x00\x01garbage\nLIST\nSTATUS\nMETRICS\n" * 20)
        s.close()
    mon.finish()
    assert d.alive() and _cmd(d, "PING") == "OK PONG"
    assert d.stop() == 0


def test_watchers_vanish():
    """Clients that WATCH, let events pile up and vanish (close, or reset
    with unread data) cost nothing: the daemon serves on, the slots are
    released, and an honest watcher still sees every change."""
    d = Daemon(deps=["payments", "ledger"]).start()
    mon = Monitor(d)
    mon.start()
    honest = d.client(timeout=10)
    assert honest.cmd("WATCH payments") == "OK"
    assert honest.readline().startswith("EVENT payments ")
    watchers = []
    for i in range(300):
        s = _connect(d.socket_path)
        s.sendall(b"WATCH\n" if i % 3 else b"WATCH payments ledger\nLIST\n")
        watchers.append(s)
    flips = 0
    for k in range(20):
        r = _cmd(d, "FORCE payments %s" % ("open" if k % 2 == 0 else
                                           "auto"))
        assert r.startswith("OK"), r
        flips += 1
        # Drop a slice of the watchers on every flip, some with a reset.
        for s in watchers[k * 15:(k + 1) * 15]:
            if k % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
    seen = []
    while len(seen) < flips:
        r = honest.readline(timeout=5)
        assert r is not None, "honest watcher got %d of %d events" % (
            len(seen), flips)
        seen.append(r)
    assert seen[-1].split()[2] == "CLOSED", seen[-1]
    wait_until(lambda: _gauge(d, "breakerd_clients") <= 3, 10,
               msg="watch slots not released")
    mon.finish()
    assert d.stop() == 0


# ---------------------------------------------------------------- ZooKeeper

def _leader_pair(ens, deps=("payments",)):
    a = Daemon("inst-a", deps=list(deps), zk=ens).start()
    wait_until(lambda: a.status().get("leader.payments") == "1", 15,
               msg="inst-a never led")
    b = Daemon("inst-b", deps=list(deps), zk=ens).start()
    wait_until(lambda: b.state("payments")["authority"] == "authoritative",
               15, msg="inst-b not authoritative")
    return a, b


def _publish(d, state, timeout=15):
    """PUBLISH until OK (a leader may first meet a version conflict after
    a foreign write); returns the version."""
    last = []

    def once():
        r = d.cmd("PUBLISH payments %s abuse-test" % state, timeout=10)
        last.append(r)
        return int(r.split()[1]) if r.startswith("OK ") else None
    try:
        return wait_until(once, timeout, 0.3, msg="PUBLISH %s" % state)
    except AssertionError as exc:
        raise AssertionError("%s; last replies %r" % (exc, last[-3:]))


HOSTILE_STATES = [
    ("not json", b"this is not json {"),
    ("empty", b""),
    ("NUL bytes", b"{\"state\":\"OPEN\x00\",\"term\":1}"),
    ("array", b"[1,2,3]"),
    ("wrong types", json.dumps({"state": 5, "term": "seven",
                                "leader": ["x"]}).encode()),
    ("unknown state", json.dumps({"state": "EXPLODED", "term": 9,
                                  "leader": "mallory"}).encode()),
    ("negative term", json.dumps({"state": "CLOSED", "term": -1,
                                  "leader": "mallory"}).encode()),
    ("huge", json.dumps({"state": "CLOSED", "term": 99, "leader": "m",
                         "reason": "x" * (900 * 1024)}).encode()),
    ("deep nesting", b"[" * 5000 + b"]" * 5000),
]


def _parses_as(z, path, state):
    """Does the znode hold a record of this state?  Garbage is "not yet",
    the deep-nesting one included (json raises RecursionError on it)."""
    try:
        return json.loads(z.get(path)[0].decode()).get("state") == state
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError,
            RecursionError):
        return False


def test_hostile_state_records(ens):
    """Garbage in <root>/deps/<dep>/state is rejected by every instance:
    GET keeps the last good state, records_rejected counts it, and the
    leader can still publish afterwards."""
    a, b = _leader_pair(ens)
    ver = _publish(a, "OPEN")
    for d in (a, b):
        wait_until(lambda d=d: d.state("payments")["version"] == str(ver),
                   10, msg="%s did not apply v%d" % (d.name, ver))
    path = zk_root() + "/deps/payments/state"
    base = _metric(a, "breakerd_records_rejected_total", "payments")
    with MiniZk(ens.host(1)) as z:
        for n, (what, data) in enumerate(HOSTILE_STATES, 1):
            z.set(path, data)
            # The leader reads every one (it repairs them); another
            # instance may see the repaired record first, so its count is
            # checked once at the end.
            wait_until(lambda n=n: _metric(
                a, "breakerd_records_rejected_total", "payments") >=
                base + n, 10, msg="leader did not count %s as rejected"
                % what)
            for d in (a, b):
                s = d.state("payments")
                # The last good state stays; the version may only grow
                # (the leader rewrites the good record over the garbage).
                assert s["state"] == "OPEN" and int(s["version"]) >= ver, \
                    "%s took the %s record: %r" % (d.name, what, s)
            # The leader repairs the znode: it parses again, as OPEN.
            wait_until(lambda: _parses_as(z, path, "OPEN"), 10,
                       msg="state znode not repaired after %s" % what)
    assert _metric(b, "breakerd_records_rejected_total", "payments") >= 1
    assert a.alive() and b.alive()
    # The leader is not stuck behind the foreign writes.
    v2 = _publish(a, "CLOSED")
    assert v2 > ver
    wait_until(lambda: b.state("payments")["state"] == "CLOSED" and
               b.state("payments")["version"] == str(v2), 10,
               msg="inst-b did not apply the publish after the garbage")
    st = a.status()
    assert int(st["records_rejected"]) >= len(HOSTILE_STATES), st


def test_hostile_override_records(ens):
    """An override with an absurd until_ms (years ahead), an unknown state,
    or garbage is rejected: the effective state stays, counted."""
    a, b = _leader_pair(ens)
    r = a.cmd("FORCE payments open 600 maintenance")
    assert r.startswith("OK "), r
    for d in (a, b):
        wait_until(lambda d=d: d.state("payments")["state"] ==
                   "FORCED_OPEN", 10, msg="override not applied")
    path = zk_root() + "/deps/payments/override"
    now_ms = int(time.time() * 1000)
    bad = [
        ("years ahead", {"state": "CLOSED",
                         "until_ms": now_ms + 5 * 365 * 86400 * 1000,
                         "by": "mallory", "reason": "forever"}),
        ("unknown state", {"state": "MELTDOWN", "until_ms": 0, "by": "m"}),
        ("wrong types", {"state": "CLOSED", "until_ms": "soon", "by": 1}),
        ("garbage", None),
    ]
    base = {d.name: _metric(d, "breakerd_records_rejected_total", "payments")
            for d in (a, b)}
    with MiniZk(ens.host(2)) as z:
        for n, (what, rec) in enumerate(bad, 1):
            z.set(path, b"\x00\xffnope" if rec is None else
                  json.dumps(rec).encode())
            for d in (a, b):
                wait_until(lambda d=d, n=n: _metric(
                    d, "breakerd_records_rejected_total", "payments") >=
                    base[d.name] + n, 10,
                    msg="%s did not reject override %s" % (d.name, what))
                s = d.state("payments")
                assert s["state"] == "FORCED_OPEN", \
                    "%s took the %s override: %r" % (d.name, what, s)
    r = a.cmd("FORCE payments auto")
    assert r.startswith("OK"), r
    wait_until(lambda: b.state("payments")["state"] != "FORCED_OPEN", 10,
               msg="FORCE auto after hostile overrides not applied")


def test_hostile_votes_not_counted(ens):
    """Trip votes count against live membership (docs/design.md): a vote znode
    named after no registered instance, or one whose record does not parse,
    must not trip the fleet (src/votes.c votes_list_done counts only
    children named after a live instance whose record decodes)."""
    a, b = _leader_pair(ens)
    c = Daemon("inst-c", zk=ens).start()
    wait_until(lambda: a.status().get("probe.payments.votes") == "0/3", 15,
               msg="leader does not see 3 live instances")
    votes = zk_root() + "/deps/payments/votes/"
    good = json.dumps({"failure_rate": 100, "calls": 1000,
                       "since_ms": 1}).encode()
    with MiniZk(ens.host(1)) as z:
        z.create(votes + "mallory-1", good, ephemeral=True)
        z.create(votes + "mallory-2", good, ephemeral=True)
        base = _metric(a, "breakerd_records_rejected_total", "payments")
        z.create(votes + "inst-b", b"\x00 not a vote", ephemeral=True)
        # Evidence that the leader counted after every forged vote was
        # there: it read (and rejected) inst-b's, the one created last.
        wait_until(lambda: _metric(a, "breakerd_records_rejected_total",
                                   "payments") > base, 10,
                   msg="the leader never read the votes")
        wait_until(lambda: "votes/mallory-2 is no live instance's vote" in
                   a.log_text(), 10, msg="mallory-2 never listed")
        s = a.state("payments")
        shown = a.status().get("probe.payments.votes")
    assert s["state"] == "CLOSED", \
        "forged votes tripped the fleet: %r (votes %s)" % (s, shown)
    assert c.alive()


def test_deleted_state_znode_is_recreated(ens):
    """Someone deletes <root>/deps/<dep>/state (an operator's cleanup, a
    hostile writer): the instances keep the last state, and the leader must
    be able to publish again (recreating the znode) rather than fail every
    write, its own health-driven ones included, until leadership moves
    (src/leadwrite.c lw_recreate: a fenced create of the last good record)."""
    a, b = _leader_pair(ens)
    ver = _publish(a, "OPEN")
    path = zk_root() + "/deps/payments/state"
    marker = zk_root() + "/deps/payments/override"
    base = {d.name: _metric(d, "breakerd_records_rejected_total", "payments")
            for d in (a, b)}
    with MiniZk(ens.host(1)) as z:
        z.delete(path)
        # Evidence that both saw the deletion: ZooKeeper hands a session
        # its watch events in order, so an instance that has rejected a
        # garbage override written after the delete handled the delete.
        if z.exists(marker):
            z.set(marker, b"\x00 marker")
        else:
            z.create(marker, b"\x00 marker")
        for d in (a, b):
            wait_until(lambda d=d: _metric(
                d, "breakerd_records_rejected_total", "payments") >
                base[d.name], 10, msg="%s never saw the marker" % d.name)
        z.delete(marker)
    for d in (a, b):
        s = d.state("payments")
        assert s["state"] == "OPEN" and int(s["version"]) >= ver, s
    _publish(a, "CLOSED", timeout=10)
    with MiniZk(ens.host(1)) as z:
        assert _parses_as(z, path, "CLOSED"), "state znode not recreated"
    wait_until(lambda: b.state("payments")["state"] == "CLOSED", 10,
               msg="inst-b did not apply the state after the re-create")


# ---------------------------------------------------------------- security

def _world_dir():
    """A directory every uid may enter (run dirs are 0700)."""
    p = tempfile.mkdtemp(prefix="bd-abuse-")
    os.chmod(p, 0o755)
    return p


def test_socket_mode_and_group():
    """socket.mode and socket.group are applied to the socket file."""
    gname = None
    for g in ("nogroup", "daemon", "adm", "users"):
        try:
            gid = grp.getgrnam(g).gr_gid
            gname = g
            break
        except KeyError:
            continue
    if gname is None:
        bdlib.unable("find a spare group to test socket.group with")
    d = Daemon(overrides={"socket": {"mode": "0640", "group": gname}})
    d.start()
    st = os.stat(d.socket_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_gid == gid, (st.st_gid, gid)
    assert d.stop() == 0


def _as_nobody(path, lines):
    """Send lines from a child that has dropped to uid/gid 65534; returns
    the reply lines (or raises with the child's error)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            c = bdlib.Client(path, timeout=5)
            out = [c.cmd(ln) for ln in lines]
            os.write(wfd, json.dumps({"ok": out}).encode())
        except BaseException as exc:
            os.write(wfd, json.dumps({"err": repr(exc)}).encode())
        os._exit(0)
    os.close(wfd)
    data = bdlib.read_to_eof(rfd)
    os.waitpid(pid, 0)
    res = json.loads(data.decode())
    if "err" in res:
        raise AssertionError("child as uid 65534: %s" % res["err"])
    return res["ok"]


def test_admin_needs_admin_uid():
    """With the socket open to all (0666), uid 65534 may query but FORCE
    and PUBLISH answer ERR EPERM; root may FORCE."""
    if os.geteuid() != 0:
        bdlib.unable("setuid a child to 65534 (needs root)")
    sock = os.path.join(_world_dir(), "b.sock")
    d = Daemon(overrides={"socket": {"path": sock, "mode": "0666",
                                     "admin_uids": [0]}})
    d.socket_path = sock
    d.start()
    out = _as_nobody(sock, ["GET payments", "FORCE payments open",
                            "FORCE nosuchdep open", "PUBLISH payments OPEN",
                            "PING"])
    assert out[0].startswith("OK payments "), out
    assert out[1].startswith("ERR EPERM"), out
    assert out[2].startswith("ERR EPERM"), "dep lookup before the check"
    assert out[3].startswith("ERR EPERM"), out
    assert out[4] == "OK PONG"
    assert d.state("payments")["state"] == "CLOSED", "a non-admin FORCE won"
    assert d.cmd("FORCE payments open").startswith("OK")
    assert d.state("payments")["state"] == "FORCED_OPEN"
    assert d.stop() == 0


def test_zookeeper_acl_and_credential_secrecy(ens):
    """With zookeeper.credential_file, the znodes breakerd creates can be
    read by anyone but written only with the credential (MiniZk without
    auth gets NOAUTH), and the secret never appears in the log, STATUS or
    METRICS."""
    secret = "s3cr3t-%08x" % random.getrandbits(32)
    cred = bdlib.run_dir() / "zk.cred"
    cred.write_text("breakerd:%s\n" % secret)
    os.chmod(cred, 0o600)
    a = Daemon("inst-a", zk=ens, overrides={"zookeeper": {
        "credential_file": str(cred)}}).start()
    wait_until(lambda: a.status().get("leader.payments") == "1", 15,
               msg="never led")
    assert a.status().get("zk_auth") == "1", a.status()
    ver = _publish(a, "OPEN")
    assert a.cmd("FORCE payments open 60 acl").startswith("OK")
    root = zk_root()
    with MiniZk(ens.host(1)) as z:
        data, st = z.get(root + "/deps/payments/state")
        assert json.loads(data.decode())["state"] == "OPEN"
        for p in ("/deps/payments/state", "/deps/payments/override"):
            try:
                z.set(root + p, b'{"state":"CLOSED","term":1}')
                raise AssertionError("unauthenticated write to %s "
                                     "succeeded" % p)
            except ZkError as exc:
                assert exc.code == -102, "expected NOAUTH, got %s" % exc
        for p in ("/deps/payments/state", "/instances/inst-a"):
            try:
                z.delete(root + p)
                raise AssertionError("unauthenticated delete of %s" % p)
            except ZkError as exc:
                assert exc.code in (-102, -111), exc   # NOAUTH / NOTEMPTY
    s = a.state("payments")
    assert s["state"] == "FORCED_OPEN" and int(s["version"]) == ver, s
    with a.client() as c:
        shown = "\n".join(c.cmd_multi("STATUS") + c.cmd_multi("METRICS"))
    assert secret not in shown, "credential in STATUS/METRICS"
    # The daemon's own command line (not the test runner's).
    with open("/proc/%d/cmdline" % a.pid, "rb") as fp:
        argv = fp.read().decode("utf-8", "replace")
    assert "breakerd" in argv and str(a.config_path) in argv, argv
    assert secret not in argv, "credential on the command line: %r" % argv
    assert a.stop() == 0
    assert secret not in a.log_text(), "credential in the daemon's log"
