"""test_socket.py - the control socket of a real standalone breakerd
(docs/protocol.md): every command, the error taxonomy, pipelining order,
over-long lines, admin checks through SO_PEERCRED (a forked child that
becomes uid 65534), connection limits, WATCH events and the drop of a
subscriber that does not read, stale and live socket files.
"""

import os
import shutil
import socket
import tempfile
import time

from bdlib import Client, Daemon, read_to_eof, unable, wait_until

DEPS = ["payments", "ledger", "search"]


def _daemon(name="inst-a", start=True, **over):
    d = Daemon(name, deps=DEPS, zk=None, overrides=over or None)
    path = over.get("socket", {}).get("path")
    if path is not None:
        d.socket_path = path  # the harness waits for PING there
    if start:
        d.start()
    return d


def _read_block(c, first):
    """Lines after an OK line up to END (END excluded)."""
    assert first.startswith("OK"), first
    out = []
    while True:
        line = c.readline(5)
        assert line is not None, "block not ended: %r" % out
        if line == "END":
            return out
        out.append(line)


def test_basic_commands():
    d = _daemon()
    c = d.client()
    assert c.cmd("PING") == "OK PONG"
    assert c.cmd("ping") == "OK PONG"
    assert c.cmd("GET payments") == "OK payments CLOSED 0 local"
    assert c.cmd("ALLOW ledger") == "OK ALLOW"
    assert c.cmd("REPORT ledger ok 12") == "OK"
    assert c.cmd("REPORT ledger fail") == "OK"
    lst = c.cmd_multi("LIST")
    assert lst[0] == "OK 3" and lst[-1] == "END", lst
    assert lst[1:-1] == ["%s CLOSED 0 local" % n for n in DEPS], lst
    st = c.cmd_multi("STATUS")
    assert st[0] == "OK" and st[-1] == "END"
    assert all("=" in ln for ln in st[1:-1]), st
    assert "instance_id=inst-a" in st, st
    m = c.cmd_multi("METRICS")
    assert m[0] == "OK" and m[-1] == "END" and len(m) > 2, m
    h = c.cmd_multi("HELP")
    assert h[0] == "OK" and any(x.startswith("FORCE") for x in h), h
    c.send("QUIT")
    assert c.readline(5) == "OK BYE"
    assert c.readline(5) is None and c.eof


def test_errors():
    d = _daemon()
    c = d.client()
    assert c.cmd("GET nope") == "ERR ENOENT no such dependency 'nope'"
    assert c.cmd("FROB x") == "ERR EPROTO unknown command 'FROB' (try HELP)"
    assert c.cmd("GET") == "ERR EPROTO usage: GET <dep>"
    assert c.cmd("GET a b") == "ERR EPROTO usage: GET <dep>"
    assert c.cmd("GET b@d").startswith("ERR EPROTO invalid dependency name")
    assert c.cmd("REPORT payments meh").startswith("ERR EPROTO outcome")
    for bad in ("1e3", "-1", "99999999999999999999", "86400001"):
        assert c.cmd("REPORT payments ok " + bad).startswith(
            "ERR EPROTO duration"), bad
    for bad in ("1e3", "-1", "604801"):
        assert c.cmd("FORCE payments open " + bad).startswith(
            "ERR EPROTO ttl"), bad
    assert c.cmd("FORCE payments sideways").startswith("ERR EPROTO mode")
    assert c.cmd("WATCH " + " ".join("d%d" % i for i in range(65))) \
        .startswith("ERR EPROTO WATCH takes at most 64")
    assert c.cmd("") == "ERR EPROTO empty request"
    c.send_raw(b"GET pay\x00ments\n")
    assert c.readline(5) == "ERR EPROTO control character 0x00 in request"
    c.send_raw(b"PING\r\n")
    assert c.readline(5) == "OK PONG"
    assert c.cmd("PUBLISH payments OPEN test").startswith("ERR EUNAVAIL")
    assert c.cmd("FORCE payments open 1 " + "r" * 160).startswith(
        "ERR EPROTO reason longer")
    assert c.cmd("PING") == "OK PONG"  # every error left it usable


def test_pipelining_order():
    d = _daemon()
    c = d.client()
    reqs, want = [], []
    for i in range(1000):
        if i % 4 == 0:
            reqs.append("GET d%d" % i)
            want.append("ERR ENOENT no such dependency 'd%d'" % i)
        elif i % 4 == 1:
            reqs.append("PING")
            want.append("OK PONG")
        elif i % 4 == 2:
            reqs.append("REPORT search ok %d" % i)
            want.append("OK")
        else:
            reqs.append("GET ledger")
            want.append("OK ledger CLOSED 0 local")
    c.send_raw(("\n".join(reqs) + "\n").encode())
    for i, w in enumerate(want):
        got = c.readline(10)
        assert got == w, "reply %d: want %r got %r" % (i, w, got)


def test_force_is_ordered_with_later_requests():
    d = _daemon()
    c = d.client()
    c.send_raw(b"FORCE payments open 60 db failover\nALLOW payments\n"
               b"GET payments\nFORCE payments auto\nGET payments\n")
    first = c.readline(5)
    assert first.startswith("OK ") and first[3:].isdigit(), first
    assert c.readline(5) == "OK DENY FORCED_OPEN"
    # GET shows the ttl left, as this daemon's monotonic clock measures it.
    got = c.readline(5)
    head, _, left = got.partition(" ttl_left_ms=")
    assert head == "OK payments FORCED_OPEN 0 local", got
    assert 55000 <= int(left) <= 60000, got
    assert c.readline(5).startswith("OK ")
    assert c.readline(5) == "OK payments CLOSED 0 local"


def test_too_long_line_recovers():
    d = _daemon()
    c = d.client()
    c.send_raw(b"A" * 5000 + b"\nPING\n")
    assert c.readline(5) == "ERR ETOOLONG line exceeds 4096 bytes"
    assert c.readline(5) == "OK PONG"
    exact = b"PING" + b" " * (4096 - 5) + b"\n"
    assert len(exact) == 4096
    c.send_raw(exact)
    assert c.readline(5) == "OK PONG"
    c.send_raw(b"PING" + b" " * (4096 - 4) + b"\n")
    assert c.readline(5) == "ERR ETOOLONG line exceeds 4096 bytes"
    # A long line in pieces: one error, then normal service.
    for _ in range(4):
        c.send_raw(b"x" * 3000)
        time.sleep(0.01)
    c.send_raw(b"\nGET search\n")
    assert c.readline(5) == "ERR ETOOLONG line exceeds 4096 bytes"
    assert c.readline(5) == "OK search CLOSED 0 local"


def test_watch_events():
    d = _daemon()
    w = d.client()
    assert w.cmd("WATCH payments") == "OK"
    assert w.readline(5) == "EVENT payments CLOSED 0 local"
    a = d.client()
    assert a.cmd("WATCH") == "OK"
    assert sorted(a.readline(5) for _ in DEPS) == sorted(
        "EVENT %s CLOSED 0 local" % n for n in DEPS)
    c = d.client()
    assert c.cmd("FORCE ledger open").startswith("OK ")
    assert a.readline(5) == "EVENT ledger FORCED_OPEN 0 local"
    assert c.cmd("FORCE payments open 5 maintenance").startswith("OK ")
    assert w.readline(5) == "EVENT payments FORCED_OPEN 0 local"
    assert a.readline(5) == "EVENT payments FORCED_OPEN 0 local"
    # The ledger change never reached the payments-only subscriber, and
    # requests on a WATCH connection are still answered.
    assert w.cmd("PING") == "OK PONG"
    assert c.cmd("FORCE payments auto").startswith("OK ")
    assert w.readline(5) == "EVENT payments CLOSED 0 local"
    assert a.readline(5) == "EVENT payments CLOSED 0 local"
    # The TTL expires by itself.
    assert c.cmd("FORCE search open 1").startswith("OK ")
    assert a.readline(5) == "EVENT search FORCED_OPEN 0 local"
    assert a.readline(10) == "EVENT search CLOSED 0 local"


def test_watch_slow_subscriber_dropped():
    d = _daemon(socket={"watch_buffer_max": 4096})
    slow = d.client()
    assert slow.cmd("WATCH payments") == "OK"
    assert slow.readline(5) == "EVENT payments CLOSED 0 local"
    c = d.client()
    # 20000 events (~800 KB) for a subscriber that reads nothing meanwhile:
    # far more than the kernel's socket buffers plus watch_buffer_max.
    for _ in range(20):
        c.send_raw(b"FORCE payments open\nFORCE payments closed\n" * 500)
        for _ in range(1000):
            r = c.readline(10)
            assert r is not None and r.startswith("OK "), r
    assert d.alive()
    events, last = 0, None
    while True:
        line = slow.readline(10)
        if line is None:
            break
        if line.startswith("EVENT "):
            events += 1
        last = line
    assert slow.eof, "dropped subscriber not closed"
    assert last == "ERR EBUSY watch buffer overflow", last
    assert 0 < events < 20000, events
    rss = d.rss_kb()
    assert rss is None or rss < 64 * 1024, rss
    assert c.cmd("PING") == "OK PONG"
    # A new subscriber is served normally.
    w = d.client()
    assert w.cmd("WATCH payments") == "OK"
    assert w.readline(5) == "EVENT payments CLOSED 0 local"


def test_eperm_for_non_admin():
    if os.getuid() != 0:
        unable("become uid 65534 (needs root)")
    sdir = tempfile.mkdtemp(prefix="bd-perm-")
    try:
        os.chmod(sdir, 0o755)
        path = os.path.join(sdir, "s.sock")
        d = _daemon(socket={"path": path, "mode": "0666"})
        assert d.cmd("GET payments").startswith("OK")
        replies = _as_uid(65534, path, [b"FORCE payments open\n",
                                        b"PUBLISH payments OPEN\n",
                                        b"GET payments\n"])
        assert replies[0].startswith("ERR EPERM FORCE needs an admin peer"), \
            replies
        assert replies[1].startswith("ERR EPERM PUBLISH"), replies
        assert replies[2] == "OK payments CLOSED 0 local", replies
        assert d.cmd("GET payments") == "OK payments CLOSED 0 local"
        d.stop()
    finally:
        shutil.rmtree(sdir, ignore_errors=True)


def _as_uid(uid, path, reqs):
    """Send each request from a forked child running as uid; the replies."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            f = s.makefile("rb")
            out = []
            for q in reqs:
                s.sendall(q)
                out.append(f.readline().rstrip(b"\n"))
            os.write(w, b"\n".join(out) + b"\n")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    data = read_to_eof(r)
    _, status = os.waitpid(pid, 0)
    assert status == 0, "child failed: %r" % data
    return data.decode().splitlines()


def test_max_clients():
    d = _daemon(socket={"max_clients": 2})
    a, b = d.client(), d.client()
    assert a.cmd("PING") == "OK PONG"
    assert b.cmd("PING") == "OK PONG"
    c = d.client()
    assert c.readline(5) == "ERR EBUSY too many clients"
    assert c.readline(5) is None and c.eof
    a.close()

    def ping_new():
        try:
            with d.client() as x:
                return x.cmd("PING", 2) == "OK PONG"
        except (OSError, AssertionError):
            return False
    wait_until(ping_new, 10, msg="a slot frees when a client leaves")


def test_half_written_line_times_out():
    d = _daemon(socket={"idle_timeout_ms": 300})
    quiet, half = d.client(), d.client()
    assert quiet.cmd("PING") == "OK PONG"
    half.send_raw(b"GET paym")
    assert half.readline(10) is None and half.eof
    time.sleep(0.5)
    assert quiet.cmd("PING") == "OK PONG"  # silence is not idleness


def test_half_close_gets_every_reply():
    d = _daemon()
    c = d.client()
    c.send_raw(b"PING\nGET search")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.readline(5) == "OK PONG"
    assert c.readline(5) == "OK search CLOSED 0 local"
    assert c.readline(5) is None and c.eof


def test_socket_file_lifecycle():
    d = _daemon()
    path = d.socket_path
    st = os.stat(path)
    assert oct(st.st_mode & 0o777) == oct(0o666)
    # A second daemon on a live socket refuses to start and leaves it.
    d2 = _daemon("inst-b", start=False, socket={"path": path})
    d2.start(wait=False)
    assert d2.wait_exit(10) not in (None, 0)
    assert "another daemon" in d2.log_text()
    assert d.cmd("PING") == "OK PONG"
    # SIGKILL leaves a stale socket; the next daemon replaces it.
    d.kill()
    assert os.path.exists(path)
    d3 = _daemon("inst-c", socket={"path": path})
    assert d3.cmd("GET ledger") == "OK ledger CLOSED 0 local"
    # SIGTERM removes it.
    assert d3.stop() == 0
    assert not os.path.exists(path)
