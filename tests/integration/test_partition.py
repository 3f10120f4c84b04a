"""test_partition.py - breakerd under a real network partition.

One daemon runs inside a network namespace the test creates (bdrel<pid>,
veth pairs on 10.213.N.0/24: N from the pid, the first such /24 that no
address or route of the host uses, so neither another run nor a Docker
network clashes), the others in the root namespace.  The
ZooKeeper servers listen on 127.0.0.1 only (scripts/zk-ensemble.sh has no
option for another address), so a small TCP forwarder (this file run as a
script: `test_partition.py forward ...`) listens on the host side of the
"zk" veth and forwards to 127.0.0.1:<zk port>; a second veth pair carries
the dependency's health checks to the flaky service the same way.  A cut is
`ip link set <zk veth> down` on the host side: packets are dropped, not
refused, so the ZooKeeper client sees silence, exactly as in a real
partition, while the dependency stays reachable from the cut-off daemon (if
it kept probing after its fence, the flaky service would see it).

Nothing is forwarded between interfaces: every connection from the
namespace ends at an address of the host (the forwarders), so iptables'
FORWARD chain, which Docker sets to DROP (and br_netfilter, which it may
load), never sees these packets; only INPUT/OUTPUT do, which Docker leaves
alone.  Before any daemon starts, a connection from inside the namespace
to the forwarder proves the path, and a host firewall that drops it fails
the test with that reason rather than with a daemon that never connects.

Needs root and `ip netns`; skips otherwise.  Every namespace and veth the
test made is deleted at the end, even on failure.
"""

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import bdlib
from bdlib import (Daemon, FlakyService, Proc, require, unable,
                   wait_until)

SHARED_ENSEMBLE = True
TIMEOUT = 120

HEALTH_MS = 200          # health check interval of every daemon
# Merge one instance's probes into one "probing interval" while the gap
# between two of them stays under this (several check intervals: a loaded
# machine delays timers).
PROBE_GAP_MS = 3 * HEALTH_MS + 150
# A probe already on the wire when leadership moved may land this late.
INFLIGHT_MS = 150
# From the daemon's last lease check to the request's arrival at the flaky
# service (through the python forwarder) on a loaded machine.
FENCE_SLACK_MS = 300


# ---------------------------------------------------------------- network

def _ip(*args, check=True):
    """Run `ip ARGS`; returns CompletedProcess."""
    r = subprocess.run(["ip"] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=20)
    if check and r.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(map(str, args)),
                                            r.stderr.strip()))
    return r


class NetNs:
    """A namespace with two veth pairs to the root namespace:
    zk  (host 10.213.N.1/30, ns 10.213.N.2) and
    dep (host 10.213.N.5/30, ns 10.213.N.6)."""

    def __init__(self):
        tag = os.getpid()
        self.n = self.free_n(tag)
        self.name = "bdrel%d" % tag
        self.zk_host = "bz%dh" % tag          # veth names: <= 15 bytes
        self.zk_peer = "bz%dn" % tag
        self.dep_host = "bd%dh" % tag
        self.dep_peer = "bd%dn" % tag
        self.host_zk_ip = "10.213.%d.1" % self.n
        self.ns_zk_ip = "10.213.%d.2" % self.n
        self.host_dep_ip = "10.213.%d.5" % self.n
        self.ns_dep_ip = "10.213.%d.6" % self.n
        self.made = False

    @staticmethod
    def free_n(tag):
        """N of the first 10.213.N.0/24, from 16 + tag % 200 on, that no
        address or route of the host uses."""
        used = ""
        for what in (["-4", "addr"], ["-4", "route"]):
            used += _ip(*what, check=False).stdout
        for i in range(200):
            n = 16 + (tag + i) % 200
            if "10.213.%d." % n not in used:
                return n
        unable("find a free 10.213.N.0/24 subnet on this host")

    def create(self):
        if os.geteuid() != 0:
            unable("create network namespaces (needs root)")
        if shutil.which("ip") is None:
            require(False, "iproute2 (ip)")
        self.sweep()                          # leftovers of killed runs
        r = _ip("netns", "add", self.name, check=False)
        if r.returncode != 0:
            unable("ip netns add: %s" % r.stderr.strip())
        self.made = True
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            self._pair(self.zk_host, self.zk_peer, self.host_zk_ip,
                       self.ns_zk_ip)
            self._pair(self.dep_host, self.dep_peer, self.host_dep_ip,
                       self.ns_dep_ip)
        except AssertionError as exc:
            self.destroy()
            unable("set up veth pairs: %s" % exc)
        return self

    def _pair(self, host, peer, host_ip, ns_ip):
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", self.name)
        _ip("addr", "add", host_ip + "/30", "dev", host)
        _ip("-n", self.name, "addr", "add", ns_ip + "/30", "dev", peer)
        _ip("link", "set", host, "up")
        _ip("-n", self.name, "link", "set", peer, "up")

    def cut(self):
        """Drop every packet between the namespace and ZooKeeper."""
        _ip("link", "set", self.zk_host, "down")

    def heal(self):
        _ip("link", "set", self.zk_host, "up")

    def sweep(self):
        """Delete the namespaces (and veths) of test runs whose process is
        gone (a runner killed with SIGKILL cannot clean up)."""
        r = _ip("netns", "list", check=False)
        for line in r.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            tag = name[len("bdrel"):]
            if not name.startswith("bdrel") or not tag.isdigit():
                continue
            if tag != str(os.getpid()) and os.path.exists("/proc/" + tag):
                continue                      # another live run's
            _ip("netns", "del", name, check=False)
            for dev in ("bz%sh" % tag, "bd%sh" % tag):
                _ip("link", "del", dev, check=False)

    def destroy(self):
        """Delete the namespace (its veth ends take their peers along)
        and any host end left behind.  Idempotent."""
        _ip("netns", "del", self.name, check=False)
        for dev in (self.zk_host, self.dep_host):
            _ip("link", "del", dev, check=False)
        self.made = False


# ---------------------------------------------------------------- forwarder

def forward_main(pairs):
    """Forward TCP: each pair is "LISTEN_IP:PORT=TARGET_IP:PORT".  Runs
    until killed; a connection lasts until either side closes it."""
    sel = selectors.DefaultSelector()
    for p in pairs:
        listen, target = p.split("=")
        lh, lp = listen.rsplit(":", 1)
        th, tp = target.rsplit(":", 1)
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((lh, int(lp)))
        ls.listen(128)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, ("listen", (th, int(tp))))
    print("forwarding %s" % " ".join(pairs), flush=True)
    while True:
        for key, _ in sel.select():
            kind, arg = key.data
            if kind == "listen":
                _fwd_accept(sel, key.fileobj, arg)
            else:
                _fwd_pump(sel, key.fileobj, arg)


def _fwd_accept(sel, ls, target):
    try:
        c, _ = ls.accept()
    except OSError:
        return
    try:
        u = socket.create_connection(target, 5)
    except OSError:
        c.close()
        return
    for s in (c, u):
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sel.register(c, selectors.EVENT_READ, ("pipe", u))
    sel.register(u, selectors.EVENT_READ, ("pipe", c))


def _fwd_pump(sel, src, dst):
    try:
        data = src.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if data:
        try:
            dst.setblocking(True)
            dst.settimeout(10)
            dst.sendall(data)
            dst.setblocking(False)
            return
        except OSError:
            pass
    for s in (src, dst):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()


# ---------------------------------------------------------------- daemons

class NsDaemon(Daemon):
    """A Daemon run inside a network namespace (`ip netns exec`, which
    execs breakerd itself, so pid and signals are the daemon's)."""

    def __init__(self, netns, *a, **kw):
        self.netns = netns
        super().__init__(*a, **kw)

    def start(self, wait=True, timeout=10):
        self.write_config()
        args = ["ip", "netns", "exec", self.netns.name, self.binary,
                "-f", self.config_path] + self.extra_args
        self.proc = Proc(args, name=self.name, env=self.env,
                         log_path=self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self


class Fleet:
    """The partition setup: namespace, forwarders, flaky service."""

    def __init__(self, ens):
        self.ens = ens
        self.ns = NetNs().create()
        self.flaky = FlakyService()
        self.flaky.start()
        pairs = ["%s:%d=127.0.0.1:%d" % (self.ns.host_zk_ip,
                                         ens.client_port(n),
                                         ens.client_port(n))
                 for n in range(1, ens.size + 1)]
        pairs.append("%s:%d=127.0.0.1:%d" % (self.ns.host_dep_ip,
                                             self.flaky.port,
                                             self.flaky.port))
        # The forwarder is this file run as a script: it imports bdlib too.
        self.fwd = bdlib.spawn([sys.executable, str(Path(__file__)),
                                "forward"] + pairs, name="forwarder",
                               env={"PYTHONPATH": str(bdlib.ROOT / "scripts")})
        wait_until(lambda: "forwarding" in self.fwd.log_text() or
                   not self.fwd.alive(), 10, msg="forwarder start")
        assert self.fwd.alive(), self.fwd.log_text()
        try:
            self.check_path(self.ns.host_zk_ip, ens.client_port(1))
        except BaseException:
            self.close()
            raise

    def check_path(self, ip, port):
        """A TCP connection from inside the namespace to the forwarder on
        the host (bounded); fails with the host's INPUT rules if dropped."""
        code = ("import socket; socket.create_connection((%r, %d), 3)"
                ".close()" % (ip, port))
        r = subprocess.run(["ip", "netns", "exec", self.ns.name,
                            sys.executable, "-c", code],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            rules = subprocess.run(["iptables", "-S", "INPUT"],
                                   capture_output=True, text=True).stdout
            raise AssertionError(
                "no TCP path from namespace %s to %s:%d (a host firewall "
                "dropping it?): %s\niptables INPUT:\n%s" % (
                    self.ns.name, ip, port,
                    (r.stderr.strip().splitlines() or [""])[-1], rules))

    def health(self, url):
        return {"payments": {"health": {
            "http": url, "interval_ms": HEALTH_MS, "jitter_ms": 0,
            "timeout_ms": 150, "unhealthy_threshold": 3}}}

    def inside(self, name):
        """The daemon in the namespace, reaching ZooKeeper through the
        forwarder on the zk veth and the dependency through the dep veth."""
        hosts = ",".join("%s:%d" % (self.ns.host_zk_ip,
                                    self.ens.client_port(n))
                         for n in range(1, self.ens.size + 1))
        url = "http://%s:%d/health" % (self.ns.host_dep_ip, self.flaky.port)
        return NsDaemon(self.ns, name, zk=hosts,
                        dep_overrides=self.health(url))

    def outside(self, name):
        return Daemon(name, zk=self.ens,
                      dep_overrides=self.health(self.flaky.url("/health")))

    def close(self):
        self.ns.destroy()


def _leads(d, dep="payments"):
    try:
        return d.status().get("leader.%s" % dep) == "1"
    except (OSError, AssertionError):
        return False


def _first_leader(d):
    """Start d, the first of its fleet, and wait until it leads."""
    d.start()
    wait_until(lambda: _leads(d), 15, msg="%s never led" % d.name)
    return d


def probe_intervals(recent):
    """[(t_ms, instance)] of the flaky service's request log (recent),
    witness checks left out (a leader asks for those)."""
    return [(r["t_ms"], r.get("instance") or "-") for r in recent
            if not r.get("witness")]


def overlaps(probes, margin=INFLIGHT_MS):
    """Pairs of probing intervals of different instances that overlap
    (the harness's rule, shared with the chaos checker)."""
    return bdlib.probe_overlaps(probes, PROBE_GAP_MS, margin)


def test_cut_leader_fences_itself(ens):
    """The leader, cut off from ZooKeeper, stops probing within its lease
    (2T/3 after its last confirmed request) and before its session can
    expire; the majority elects a new leader; the probing intervals of the
    two never overlap."""
    fl = Fleet(ens)
    try:
        a = _first_leader(fl.inside("inst-a"))
        b = fl.outside("inst-b").start()
        c = fl.outside("inst-c").start()
        t_ms = int(a.status()["zk_timeout_ms"])
        wait_until(lambda: fl.flaky.stats()["by_instance"].get("inst-a", 0)
                   >= 5, 10, msg="the leader in the namespace never probed")
        t_cut = time.monotonic() * 1000
        fl.ns.cut()
        # A write the cut-off leader starts now cannot reach ZooKeeper: it
        # must not be reported (or applied) as done.
        r = a.cmd("PUBLISH payments OPEN during-cut", timeout=15)
        assert not r.startswith("OK"), "PUBLISH on a cut-off leader: " + r
        assert a.state("payments")["state"] == "CLOSED", \
            "the cut-off leader applied a write ZooKeeper never took"
        # The majority side elects a new leader once a's session expired.
        new = wait_until(lambda: [d for d in (b, c) if _leads(d)], 20,
                         msg="no new leader on the majority side")
        assert len(new) == 1, "two leaders on the majority side"
        nl = new[0]
        wait_until(lambda: fl.flaky.stats()["by_instance"].get(nl.name, 0)
                   >= 5, 10, msg="the new leader does not probe")
        st_a = a.status()
        assert st_a.get("leader.payments") != "1", \
            "cut-off instance still claims leadership: %r" % st_a
        recent = fl.flaky.stats()["recent"]
        ts = [r["t_ms"] for r in recent]
        assert ts == sorted(ts), "flaky log not monotonic"
        last_a = max(r["t_ms"] for r in recent if r["instance"] == "inst-a")
        first_new = min(r["t_ms"] for r in recent
                        if r["instance"] == nl.name)
        fence = t_cut + 2 * t_ms / 3
        print("T=%d ms; last probe of the cut-off leader %+.0f ms after the "
              "cut (fence %+.0f); new leader %s first probe %+.0f ms"
              % (t_ms, last_a - t_cut, fence - t_cut, nl.name,
                 first_new - t_cut))
        assert last_a <= fence + FENCE_SLACK_MS, \
            "cut-off leader probed %.0f ms after the cut, fence is %.0f" % (
                last_a - t_cut, 2 * t_ms / 3)
        # Its session cannot expire on the servers before T after the cut
        # minus the age of the last byte they heard (< T/3 + a ping).
        assert last_a < t_cut + t_ms, "probed after its session could expire"
        assert last_a < first_new, \
            "old leader probed at %.0f, new leader began at %.0f" % (
                last_a, first_new)
        bad = overlaps(probe_intervals(recent))
        assert not bad, "two instances probed at once: %r" % bad
        assert nl.state("payments")["state"] == "CLOSED", \
            "the cut-off leader's PUBLISH reached the fleet"
        print("PUBLISH on the cut-off leader: %s" % r)
        # Heal, and the old leader must not start probing again as a
        # second leader.
        fl.ns.heal()
        wait_until(lambda: a.state("payments")["authority"] ==
                   "authoritative", 20, msg="inst-a did not reconnect")
        # Evidence that probing went on after the heal: three more probes.
        seen = fl.flaky.stats()["total"]
        wait_until(lambda: fl.flaky.stats()["total"] >= seen + 3, 10,
                   msg="no probes after the heal")
        recent = fl.flaky.stats()["recent"]
        bad = overlaps(probe_intervals(recent))
        assert not bad, "two instances probed at once after heal: %r" % bad
        leaders = [d.name for d in (a, b, c) if _leads(d)]
        assert len(leaders) == 1, "leaders after heal: %r" % leaders
    finally:
        fl.close()


def test_cut_instance_stale_then_converges(ens):
    """A non-leader cut off from ZooKeeper keeps answering its apps with
    the last known state marked stale; the fleet publishes a new state
    meanwhile; after the heal the instance converges to it."""
    fl = Fleet(ens)
    try:
        a = _first_leader(fl.outside("inst-a"))
        b = fl.outside("inst-b").start()
        n = fl.inside("inst-n").start()
        wait_until(lambda: n.state("payments")["authority"] ==
                   "authoritative", 15, msg="inst-n not authoritative")
        before = n.state("payments")
        fl.ns.cut()
        t_cut = time.monotonic()
        answers, stale_seen = 0, None
        # Keep asking while cut off: every GET must be answered (bounded
        # by the client's timeout) with the last known state.
        with n.client(timeout=3) as cl:
            deadline = t_cut + 25
            while time.monotonic() < deadline:
                w = cl.cmd("GET payments").split()
                answers += 1
                assert w[0] == "OK", w
                assert (w[2], w[3]) == (before["state"], before["version"]), \
                    "cut-off instance changed state without ZooKeeper: %r" % w
                if w[4] == "stale":
                    stale_seen = time.monotonic() - t_cut
                    break
                time.sleep(0.05)
        assert stale_seen is not None, "never answered stale while cut off"
        # The fleet moves on without it.
        r = a.cmd("PUBLISH payments OPEN partition-test")
        assert r.startswith("OK "), r
        ver = r.split()[1]
        wait_until(lambda: b.state("payments")["state"] == "OPEN", 10,
                   msg="inst-b did not see the publish")
        t_end = time.monotonic() + 3
        with n.client(timeout=3) as cl:
            while time.monotonic() < t_end:
                w = cl.cmd("GET payments").split()
                answers += 1
                assert w[0] == "OK" and w[2] == before["state"] and \
                    w[4] in ("stale", "local"), w
                time.sleep(0.1)
        fl.ns.heal()
        t_heal = time.monotonic()

        def converged():
            s = n.state("payments")
            return s if (s["state"], s["version"], s["authority"]) == \
                ("OPEN", ver, "authoritative") else None
        wait_until(converged, 20, interval=0.1,
                   msg="inst-n did not converge to OPEN v%s" % ver)
        took = time.monotonic() - t_heal
        print("stale after %.2fs of cut; %d answers while cut off; "
              "converged %.2fs after heal" % (stale_seen, answers, took))
        assert n.alive()
    finally:
        fl.close()


def test_paused_leader_does_not_probe_on_resume(ens):
    """A leader frozen (SIGSTOP: a long GC pause, a suspended VM) past its
    session timeout is replaced; when it thaws, its timers fire at once,
    but it must check its lease first and never probe beside the new
    leader.  No namespace needed: the freeze is the partition."""
    f = FlakyService()
    f.start()
    h = {"payments": {"health": {"http": f.url("/health"),
                                 "interval_ms": HEALTH_MS, "jitter_ms": 0,
                                 "timeout_ms": 150}}}
    a = _first_leader(Daemon("inst-a", zk=ens, dep_overrides=h))
    b = Daemon("inst-b", zk=ens, dep_overrides=h).start()
    wait_until(lambda: f.stats()["by_instance"].get("inst-a", 0) >= 5, 10,
               msg="inst-a does not probe")
    t_ms = int(a.status()["zk_timeout_ms"])
    a.signal(signal.SIGSTOP)
    t_stop = time.monotonic() * 1000
    try:
        wait_until(lambda: _leads(b), 20, msg="inst-b did not take over")
        wait_until(lambda: f.stats()["by_instance"].get("inst-b", 0) >= 3,
                   10, msg="inst-b does not probe")
        time.sleep(t_ms / 1000.0)       # well past a's session
    finally:
        a.signal(signal.SIGCONT)
    t_cont = time.monotonic() * 1000
    wait_until(lambda: not _leads(a) and a.state("payments")["authority"]
               == "authoritative", 20, msg="inst-a did not recover")
    # Evidence that time for a's timers passed: inst-b probed 3 more times.
    seen = f.stats()["by_instance"].get("inst-b", 0)
    wait_until(lambda: f.stats()["by_instance"].get("inst-b", 0) >= seen + 3,
               10, msg="inst-b stopped probing after the thaw")
    recent = f.stats()["recent"]
    late = [r["t_ms"] - t_cont for r in recent
            if r["instance"] == "inst-a" and r["t_ms"] > t_stop]
    print("T=%d ms; frozen %.1fs; probes by inst-a after the freeze: %r"
          % (t_ms, (t_cont - t_stop) / 1000, late))
    assert not late, "inst-a probed after thawing: %r ms" % late
    bad = overlaps(probe_intervals(recent))
    assert not bad, "two instances probed at once: %r" % bad
    leaders = [d.name for d in (a, b) if _leads(d)]
    assert leaders == ["inst-b"], leaders


if __name__ == "__main__" and len(sys.argv) > 2 and \
        sys.argv[1] == "forward":
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    forward_main(sys.argv[2:])
