"""test_joining.py - a starting or restarting instance never lies.

The fleet holds a dependency OPEN (or FORCED_OPEN); an instance restarted
and asked ALLOW from the moment its socket accepts answers DENY every time:
answers about a dependency whose fleet state it has not read yet wait for
the read (bounded by startup_wait_ms).  A rolling restart of every instance
under clients hammering all of them gives zero ALLOW and no version going
backwards.  With ZooKeeper unreachable at start the held answers come, as
`local`, after startup_wait_ms; PING and STATUS answer at once and
pipelined replies keep their order.
"""

import signal
import socket
import threading
import time

from bdlib import (BUILD, Client, Daemon, free_ports, run_tool, wait_ready,
                   wait_until)

SHARED_ENSEMBLE = True
TIMEOUT = 150

DEP = "payments"
OTHER = "ledger"
# A long open wait: the fleet stays OPEN for the whole test.
DEP_CFG = {"breaker": {"open_wait_ms": 600000, "open_wait_max_ms": 600000}}


def _daemon(ens, name, **kw):
    return Daemon(name, deps=[DEP, OTHER], zk=ens,
                  dep_overrides={DEP: DEP_CFG}, **kw)


def _fleet(ens, n=3):
    return wait_ready([_daemon(ens, "inst-%s" % "abc"[i]).start()
                       for i in range(n)], 15, 0.05)


def _leader(ds):
    return wait_until(lambda: next(
        (d for d in ds if d.alive()
         and d.status().get("leader.%s" % DEP) == "1"), None), 15, 0.05,
        "no leader of %s" % DEP)


def _hold_open(ds, forced):
    """OPEN (published by the leader) or FORCED_OPEN (an override) on
    every instance; returns that state's name."""
    if forced:
        reply = ds[-1].cmd("FORCE %s open join test" % DEP)
        want = "FORCED_OPEN"
    else:
        reply = _leader(ds).cmd("PUBLISH %s open join test" % DEP)
        want = "OPEN"
    assert reply.startswith("OK "), reply
    wait_until(lambda: all(d.state(DEP)["state"] == want for d in ds), 5,
               0.02, "not %s everywhere" % want)
    return want


def _connect(path, deadline):
    """A connected socket as soon as the daemon's socket accepts."""
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.001)
    raise AssertionError("socket %s never accepted" % path)


def _client_on(sock, path, timeout=5):
    """A harness Client around an already connected socket."""
    c = Client.__new__(Client)
    c.path, c.timeout, c.buf, c.eof, c.sock = str(path), timeout, b"", \
        False, sock
    sock.settimeout(timeout)
    return c


def _hammer_from_accept(d, seconds=3.0):
    """Start d and ask ALLOW from the first accepted connection on, one
    request at a time, for `seconds`: the list of replies."""
    d.start(wait=False)
    s = _connect(d.socket_path, time.monotonic() + 10)
    c = _client_on(s, d.socket_path)
    replies = []
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            replies.append(c.cmd("ALLOW %s" % DEP, timeout=5))
    finally:
        s.close()
    return replies


def _restart_one(ens, forced):
    ds = _fleet(ens)
    want = _hold_open(ds, forced)
    victim = ds[1]
    victim.stop()
    replies = _hammer_from_accept(victim)
    allows = [r for r in replies if r == "OK ALLOW"]
    print("restarted instance: %d answers, %d ALLOW, first %r" % (
        len(replies), len(allows), replies[:1]))
    assert replies, "no answer at all"
    assert not allows, replies[:20]
    assert all(r == "OK DENY %s" % want for r in replies), set(replies)
    st = victim.state(DEP)
    assert st["state"] == want and st["authority"] == "authoritative", st


def test_restart_one_fleet_open(ens):
    _restart_one(ens, forced=False)


def test_restart_one_fleet_forced_open(ens):
    _restart_one(ens, forced=True)


def _ready(d):
    """STATUS says ready=1 (False while the socket is not there yet)."""
    try:
        return d.status().get("ready") == "1"
    except OSError:
        return False


class _Hammer(threading.Thread):
    """One client per instance: ALLOW and GET in a loop, reconnecting
    whenever the instance is down; records ALLOWs and versions."""

    def __init__(self, d, stop):
        super().__init__(daemon=True)
        self.d, self.stop = d, stop
        self.answers = self.allows = self.connects = 0
        self.versions = []
        self.errors = []

    def run(self):
        while not self.stop.is_set():
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.d.socket_path)
            except OSError:
                s.close()
                time.sleep(0.002)
                continue
            self.connects += 1
            c = _client_on(s, self.d.socket_path)
            try:
                while not self.stop.is_set():
                    r = c.cmd("ALLOW %s" % DEP, timeout=5)
                    self.answers += 1
                    if r == "OK ALLOW":
                        self.allows += 1
                    g = c.cmd("GET %s" % DEP, timeout=5).split()
                    if g[0] == "OK":
                        self.versions.append(int(g[3]))
            except (OSError, AssertionError) as e:
                self.errors.append(str(e))
            finally:
                s.close()


def test_rolling_restart_under_load(ens):
    ds = _fleet(ens)
    _hold_open(ds, forced=False)
    stop = threading.Event()
    hs = [_Hammer(d, stop) for d in ds]
    for h in hs:
        h.start()
    try:
        wait_until(lambda: all(h.answers > 10 for h in hs), 10, 0.05,
                   "hammers not answered")
        for d in ds:
            d.stop()
            d.start(wait=False)
            wait_until(lambda d=d: d.alive() and _ready(d), 15, 0.05,
                       "%s not ready after restart" % d.name)
            n = hs[ds.index(d)].answers
            wait_until(lambda d=d, n=n: hs[ds.index(d)].answers > n + 10,
                       10, 0.05, "no answers after restart of %s" % d.name)
    finally:
        stop.set()
        for h in hs:
            h.join(10)
    for d, h in zip(ds, hs):
        back = [(a, b) for a, b in zip(h.versions, h.versions[1:]) if b < a]
        print("%s: %d connections, %d answers, %d ALLOW, versions %s..%s"
              % (d.name, h.connects, h.answers, h.allows, h.versions[:1],
                 h.versions[-1:]))
        assert h.connects >= 2, "%s: never reconnected" % d.name
        assert h.allows == 0, (d.name, h.allows)
        assert not back, (d.name, back[:5])
        assert h.versions and min(h.versions) > 0, (d.name, h.versions[:5])


def test_startup_bound_zookeeper_unreachable(run_dir):
    """Nothing listens on the ZooKeeper port: held answers come, `local`,
    after startup_wait_ms; PING and STATUS at once; order kept."""
    port = free_ports(1)[0]
    d = Daemon("lonely", deps=[DEP, OTHER], zk="127.0.0.1:%d" % port,
               overrides={"zookeeper": {"startup_wait_ms": 1500}})
    t0 = time.monotonic()
    d.start(wait=False)
    s = _connect(d.socket_path, t0 + 10)
    c = _client_on(s, d.socket_path)
    # A held GET, then PING behind it: PING waits for its turn.
    c.send_raw(b"GET payments\nPING\n")
    # Meanwhile PING and STATUS on another connection answer at once.
    t1 = time.monotonic()
    with d.client() as other:
        assert other.cmd("PING", timeout=1) == "OK PONG"
        lines = other.cmd_multi("STATUS")
    assert time.monotonic() - t1 < 1.0
    st = dict(ln.split("=", 1) for ln in lines[1:-1] if "=" in ln)
    assert st["ready"] == "0" and st["startup_wait"] == "waiting", st
    assert st["answers_held"] == "1", st
    assert "held" in st["dep.%s" % DEP], st
    got = c.readline(10)
    waited = time.monotonic() - t0
    assert got == "OK payments CLOSED 0 local", got
    assert c.readline(5) == "OK PONG"
    print("held GET answered after %.2fs (startup_wait_ms 1500)" % waited)
    assert 1.3 <= waited <= 6.0, waited
    # After the wait: no hold, answers at once, counted.
    t2 = time.monotonic()
    assert c.cmd("ALLOW payments", timeout=2) == "OK ALLOW"
    assert time.monotonic() - t2 < 1.0
    with d.client() as m:
        text = "\n".join(m.cmd_multi("METRICS"))
    line = [ln for ln in text.splitlines() if ln.startswith(
        'breakerd_unsynced_answers_total{dep="payments"}')]
    assert line and int(line[0].split()[-1]) >= 2, line
    assert d.status()["startup_wait"] == "over"
    s.close()


def test_held_list_and_watch_keep_order(ens):
    """LIST and WATCH on a joining instance wait for the read and then
    show the fleet's state, in request order with what follows them."""
    ds = _fleet(ens, 2)
    _hold_open(ds, forced=True)
    j = _daemon(ens, "inst-j", overrides={
        "zookeeper": {"startup_wait_ms": 10000}})
    j.start(wait=False)
    s = _connect(j.socket_path, time.monotonic() + 10)
    c = _client_on(s, j.socket_path)
    c.send_raw(b"LIST\nPING\nWATCH payments\n")
    head = c.readline(10)
    assert head == "OK 2", head
    rows = [c.readline(5), c.readline(5)]
    assert c.readline(5) == "END"
    row = [r for r in rows if r.startswith("payments ")]
    assert row and row[0].split()[1] == "FORCED_OPEN", rows
    assert row[0].split()[3] == "authoritative", rows
    assert c.readline(5) == "OK PONG"
    assert c.readline(5) == "OK"
    ev = c.readline(5).split()
    assert ev[:3] == ["EVENT", DEP, "FORCED_OPEN"], ev
    s.close()


def _notify_socket(run_dir, name):
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = str(run_dir / ("%s.notify" % name))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.1)
    return s, path


def _notifications(s):
    out = []
    while True:
        try:
            out.append(s.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            return out


def test_ready_means_synced_everywhere(ens, run_dir):
    """READY=1 to systemd, STATUS ready=1 and `breakerctl ready` agree:
    not while ZooKeeper is out of reach (even past startup_wait_ms), yes
    once every dependency's state is read."""
    ctl = str(BUILD / "breakerctl")
    port = free_ports(1)[0]
    s, path = _notify_socket(run_dir, "lonely")
    d = Daemon("lonely", deps=[DEP, OTHER], zk="127.0.0.1:%d" % port,
               env={"NOTIFY_SOCKET": path},
               overrides={"zookeeper": {"startup_wait_ms": 300}}).start()
    wait_until(lambda: d.status().get("startup_wait") == "over", 10, 0.05,
               "startup wait never ended")
    assert d.status()["ready"] == "0"
    r = run_tool([ctl, "-s", d.socket_path, "ready"])
    assert r.returncode == 1 and "not ready" in r.stdout, r.stdout
    assert not any("READY=1" in m for m in _notifications(s))
    d.stop()
    s.close()

    s, path = _notify_socket(run_dir, "joiner")
    j = _daemon(ens, "joiner", env={"NOTIFY_SOCKET": path}).start()
    got = []
    wait_until(lambda: got.extend(_notifications(s)) or
               any("READY=1" in m for m in got), 15, 0.05,
               "no READY=1: %r" % got)
    st = j.status()
    assert st["ready"] == "1", st
    assert all(st["dep.%s" % n].split()[2] == "authoritative"
               for n in (DEP, OTHER)), st
    r = run_tool([ctl, "-s", j.socket_path, "ready"])
    assert r.returncode == 0 and r.stdout.strip() == "ready", r.stdout
    j.stop()
    assert any("STOPPING=1" in m for m in _notifications(s))
    s.close()


def test_session_expiry_keeps_last_known(ens):
    """An instance whose session expired (SIGSTOPped past the session
    timeout) answers from its last known fleet state, `stale`, until its
    new session has re-read it; never `local` from the empty breaker."""
    ds = _fleet(ens, 2)
    _hold_open(ds, forced=False)
    b = ds[1]
    gen = int(b.status()["zk_generation"])
    timeout_s = int(b.status()["zk_timeout_ms"]) / 1000.0
    b.signal(signal.SIGSTOP)
    try:
        time.sleep(timeout_s + 2.0)   # the servers expire the session
    finally:
        b.signal(signal.SIGCONT)
    seen = []
    end = time.monotonic() + 3.0
    with b.client() as c:
        while time.monotonic() < end:
            w = c.cmd("GET %s" % DEP, timeout=5).split()
            seen.append((w[2], w[4]))
            a = c.cmd("ALLOW %s" % DEP, timeout=5)
            assert a == "OK DENY OPEN", (a, seen[-5:])
    wait_until(lambda: int(b.status()["zk_generation"]) > gen, 10, 0.1,
               "the session did not expire (generation %d)" % gen)
    kinds = sorted(set(seen))
    print("after expiry: %d answers, %s" % (len(seen), kinds))
    assert all(s == "OPEN" for s, _ in seen), kinds
    assert all(a in ("stale", "authoritative") for _, a in seen), kinds
    assert seen[-1][1] == "authoritative", seen[-1]
