"""zkwrites.py - counting ZooKeeper writes from the servers' side, not
from the daemons' own claims, for the fleet benchmarks
(tests/bench/bench_fleet.py) and tests/integration/test_write_cost.py.

Every committed write takes one zxid (srvr's Zxid, the highest any server
reports), and a setData or multi adds 1 to the version of the znodes it
sets: the state znode of a dependency moves by 1 per leader multi, an
instance znode by 1 per acknowledgement (docs/zookeeper.md,
"Acknowledgements and convergence").  A figure that cannot be read (no
server answers srvr, a znode is missing) raises, never reads as 0.

    with WriteCounter(ens, ["payments"], ["inst-a", "inst-b"]) as wc:
        d = transition_cost(wc, leader, "payments", "OPEN")
        assert not transition_problems(d, 2)

Python 3 standard library only; scripts/ is on sys.path (run.py, the
benchmarks), like bdlib.
"""

import json
import math
import time

import bdlib


def zxid(ens):
    """The highest Zxid any server reports (srvr).  No server answering is
    an error, never a figure of 0 writes."""
    best = None
    for n in range(1, ens.size + 1):
        for line in (bdlib.four_letter(ens.client_port(n), "srvr")
                     or "").splitlines():
            if line.startswith("Zxid:"):
                z = int(line.split(":", 1)[1].strip(), 16)
                best = z if best is None else max(best, z)
    if best is None:
        raise AssertionError("zxid: no ZooKeeper server answered srvr")
    return best


ACK_GAP_S = 1.0  # instdata.c/converge.c: one instance write a second


class WriteCounter:
    """Versions of a fleet's state znodes and instance znodes, read with
    one MiniZk session, and the ensemble's zxid.  The session is opened
    here, before the first figure (its createSession is a write), kept
    alive by reads while waiting (reads move no zxid; an expired session's
    closeSession would be a write), and closed after the last figure."""

    def __init__(self, ens, deps, instances, host=None):
        self.ens = ens
        root = bdlib.zk_root()
        self.state = {dep: "%s/deps/%s/state" % (root, dep) for dep in deps}
        self.inst = {i: "%s/instances/%s" % (root, i) for i in instances}
        self.zk = bdlib.MiniZk(host or ens.host(1), timeout_ms=10000)
        self.reads = 0  # our own requests, for the packet counts

    def close(self):
        self.zk.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _stat(self, path):
        st = self.zk.exists(path)
        self.reads += 1
        if st is None:
            raise AssertionError("write count: %s does not exist" % path)
        return st

    def data(self, path):
        self.reads += 1
        return self.zk.get(path)[0]

    def snap(self):
        """zxid first, then every version: a write between the two would
        show as a version ahead of the zxid, and is caught by the check in
        delta() (writes not accounted for)."""
        z = zxid(self.ens)
        return {"zxid": z,
                "state": {d: self._stat(p)["version"]
                          for d, p in self.state.items()},
                "inst": {i: self._stat(p)["version"]
                         for i, p in self.inst.items()},
                "t": time.monotonic()}

    def hold(self, seconds):
        """Wait seconds, reading every second so the session stays."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(max(0.0, min(end - time.monotonic(), 1.0)))
            self._stat(next(iter(self.state.values())))

    def acks(self, dep):
        """{instance: (acks[dep], auth[dep])} as the znodes hold them."""
        out = {}
        for i, p in self.inst.items():
            try:
                o = json.loads(self.data(p) or b"{}")
            except ValueError:
                o = {}
            out[i] = (o.get("acks", {}).get(dep), o.get("auth", {}).get(dep))
        return out

    def wait_acked(self, dep, version, timeout=30):
        """Until every instance znode acknowledges version of dep with
        authority "authoritative" (the evidence a transition is done)."""
        def done():
            a = self.acks(dep)
            return all(v == version and au == "authoritative"
                       for v, au in a.values())
        bdlib.wait_until(done, timeout, 0.1, "instances did not acknowledge "
                     "%s version %s: %s" % (dep, version,
                                            self.acks(dep)))

    @staticmethod
    def delta(a, b):
        """Writes between two snapshots: zxid advance, state and instance
        version advances, and how many zxids no counted znode explains."""
        d = {"zxid": b["zxid"] - a["zxid"],
             "state": {k: b["state"][k] - a["state"][k] for k in a["state"]},
             "inst": {k: b["inst"][k] - a["inst"][k] for k in a["inst"]},
             "dur": b["t"] - a["t"]}
        d["multis"] = sum(d["state"].values())
        d["acks"] = sum(d["inst"].values())
        d["other"] = d["zxid"] - d["multis"] - d["acks"]
        return d


def transition_cost(wc, lead, dep, state, hold_s=3.0, timeout=30):
    """One PUBLISH of dep on its leader from a quiet fleet: the writes it
    cost once every instance acknowledged it, and hold_s more (longer than
    the acknowledgement gap: a second write of any instance lands in it)."""
    a = wc.snap()
    r = lead.cmd("PUBLISH %s %s write-cost" % (dep, state), 10)
    if not r.startswith("OK "):
        raise AssertionError("PUBLISH %s %s: %s" % (dep, state, r))
    version = int(r.split()[1])
    wc.wait_acked(dep, version, timeout)
    wc.hold(hold_s)
    d = wc.delta(a, wc.snap())
    d["version"] = version
    return d


def transition_problems(d, n):
    """What breaks the rule for one transition in an n-instance fleet: one
    leader multi (the state version +1), at most one acknowledgement per
    instance, at most n in all, and no write unaccounted for."""
    p = []
    if d["multis"] != 1:
        p.append("state versions moved by %d (want 1 multi)" % d["multis"])
    over = {i: v for i, v in d["inst"].items() if v > 1}
    if over:
        p.append("instances written more than once: %s" % over)
    if d["acks"] > n:
        p.append("%d acknowledgements > bound %d" % (d["acks"], n))
    if d["other"] != 0:
        p.append("%d writes not on a counted znode (zxid +%d)" % (
            d["other"], d["zxid"]))
    return p


def burst_bound(k, n, span_s):
    """Writes a burst of k PUBLISHes may cost in an n-instance fleet when
    the last acknowledgement came span_s after the first PUBLISH: k leader
    multis plus, per instance, one write per started second."""
    per = int(math.floor(span_s / ACK_GAP_S)) + 1
    return k + n * per, per
