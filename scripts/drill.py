#!/usr/bin/env python3
"""drill.py - failover drills and the status table of a local fleet.

Called by scripts/drill.sh (the drills) and scripts/fleet.sh (status, watch,
wait-ready, flaky); reads the fleet's RUNDIR/fleet.env written by
`fleet.sh up`.  Python 3 standard library only.

    drill.py [-d RUNDIR] [--short] kill-leader [DEP] | stop-leader [DEP]
             | zk-loss | outage | blind-leader [DEP] | all
    drill.py [-d RUNDIR] status | watch | wait-ready [--timeout S] [NAME...]
             | flaky MODE

Every drill prints a timeline of what each instance reported, with
millisecond offsets from the fault ("t+2310 inst-c leader of payments"),
then its checks and a verdict line "VERDICT <drill>: PASS|FAIL|SKIP".
The state of every instance is sampled over its Unix socket (STATUS) every
~25 ms, so times are accurate to about that.

A drill first waits, bounded and saying so, until the fleet is in the
state the drill starts from (whole; for outage, the dependency CLOSED
everywhere: a fleet still in its backoff after an earlier outage gets
there by itself).  If that wait runs out the verdict is SKIP with the
reason: FAIL means a broken promise, never a fleet that was not ready.
--start-wait S bounds that wait (default: what the drill's own bounds
need).  Exit status: 0 if every verdict passed, 1 if one failed, 3 if none
failed but some were skipped, 2 on bad usage or no fleet.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bdlib import PortReject, parse_status, query, zk_mode  # beside it

# Largest gap between the first and the last instance seen to change.
SPREAD_BOUND_MS = 3000

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.025  # polling interval of the timeline


class DrillError(Exception):
    """A drill cannot go on (fleet failure during the drill)."""


class DrillSkip(Exception):
    """The fleet never reached the state the drill starts from."""


START_WAIT = {"s": None}  # --start-wait: overrides each drill's default


# ---------------------------------------------------------------- fleet

def read_env(path):
    """KEY=VALUE lines of fleet.env into a dict (no shell evaluation)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        env[k] = v.strip().strip("'\"")
    return env


def read_config(path):
    """A breakerd config: JSON with whole-line '#' comments."""
    text = "\n".join("" if ln.lstrip().startswith("#") else ln
                     for ln in Path(path).read_text().splitlines())
    return json.loads(text)


class Fleet:
    """The local fleet described by RUNDIR/fleet.env."""

    def __init__(self, rundir):
        self.dir = Path(rundir).resolve()
        envf = self.dir / "fleet.env"
        if not envf.exists():
            raise DrillError("no fleet in %s (run scripts/fleet.sh -d %s up)"
                             % (self.dir, rundir))
        self.env = read_env(envf)
        self.names = self.env["INSTANCES"].split()
        self.tick = int(self.env["TICK_MS"])
        self.session = int(self.env["SESSION_MS"])
        self.cfg = read_config(self.dir / ("%s.json" % self.names[0]))
        self.deps = [d["name"] for d in self.cfg["dependencies"]]

    def sock(self, name):
        return self.dir / ("%s.sock" % name)

    def pid(self, name):
        """The instance's pid if it runs (checked against its command
        line, so a stale pid file never names a stranger), else None."""
        try:
            pid = int((self.dir / ("%s.pid" % name)).read_text())
            cmd = Path("/proc/%d/cmdline" % pid).read_bytes()
            stat = Path("/proc/%d/stat" % pid).read_text()
        except (OSError, ValueError):
            return None
        if str(self.dir / ("%s.json" % name)).encode() not in cmd:
            return None
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return None
        return pid

    def status(self, name, timeout=1.0):
        lines = query(self.sock(name), "STATUS", timeout)
        if not lines or lines[0] != "OK":
            return None
        return parse_status(lines[1:])

    def snapshot(self):
        return {n: self.status(n) for n in self.names}

    def dep_cfg(self, dep):
        for d in self.cfg["dependencies"]:
            if d["name"] == dep:
                return d
        raise DrillError("no dependency %r in the fleet config" % dep)

    def script(self, *args, timeout=120):
        """Run scripts/fleet.sh -d RUNDIR ARGS; raise on failure."""
        cmd = [str(ROOT / "scripts" / "fleet.sh"), "-d", str(self.dir)] + \
            [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise DrillError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout,
                                                   r.stderr))
        return r.stdout

    def _zk_cmd(self, args):
        """scripts/zk-ensemble.sh ARGS on the fleet's ensemble, and its
        environment."""
        cmd = [str(ROOT / "scripts" / "zk-ensemble.sh"), "-d",
               str(self.dir / "zk"), "-p", self.env["ZK_BASE"], "-t",
               str(self.tick), "-n", "3"] + [str(a) for a in args]
        env = dict(os.environ, ZK_FORCE_SYNC=self.env.get("ZK_FORCE_SYNC",
                                                          "no"))
        return cmd, env

    def zk(self, *args, timeout=120):
        """Run scripts/zk-ensemble.sh on the fleet's ensemble."""
        cmd, env = self._zk_cmd(args)
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout, env=env)
        if r.returncode != 0:
            raise DrillError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout,
                                                   r.stderr))
        return r.stdout

    def zk_start(self, *args):
        """zk-ensemble.sh in the background (the caller keeps sampling)."""
        cmd, env = self._zk_cmd(args)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, text=True)

    def zk_mode(self, n):
        """'leader', 'follower' or None for ZooKeeper server n."""
        return zk_mode(int(self.env["ZK_BASE"]) + 3 * (n - 1), 2)

    def flaky(self, path):
        url = "http://127.0.0.1:%s%s" % (self.env["FLAKY_CPORT"], path)
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def flaky_mode(self, mode):
        self.flaky("/_control/mode?m=%s" % mode)

    def flaky_stats(self):
        return json.loads(self.flaky("/_control/stats"))


# ---------------------------------------------------------------- table

def cell(d):
    if d is None:
        return "-"
    return "%s v%s %s%s" % (d["state"], d["version"], d["authority"],
                            " *" if d["leader"] else "")


def table(fleet, snap=None):
    """The status table: one row per instance, one column per dependency."""
    snap = snap or fleet.snapshot()
    head = ["instance", "pid", "ready", "zookeeper"] + fleet.deps
    rows = []
    for n in fleet.names:
        st, pid = snap.get(n), fleet.pid(n)
        if st is None:
            rows.append([n, str(pid or "-"), "-",
                         "not answering" if pid else "down"] +
                        ["-"] * len(fleet.deps))
            continue
        rows.append([n, str(pid or "?"), st.get("ready", "?"),
                     st.get("zk_session", "?")] +
                    [cell(st["_deps"].get(d)) for d in fleet.deps])
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    out = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
           for r in [head] + rows]
    out.append("(* = leader of that dependency; STATE vVERSION AUTHORITY)")
    return "\n".join(out)


# ---------------------------------------------------------------- timeline

class Timeline:
    """Samples every instance and prints what changed, with ms offsets."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.t0 = time.monotonic()
        self.last = {}
        self.leaders = {d: set() for d in fleet.deps}  # ever seen leading
        self.state_changes = []   # (ms, name, dep, old, new)
        self.two_leaders = []     # (ms, dep, names)
        self.degraded = {}        # name -> first non-authoritative word
        self.auth_events = []     # (ms, name, old, new), any dependency
        self.snap = {}

    def start(self):
        self.t0 = time.monotonic()

    def ms(self, t=None):
        return int(((t or time.monotonic()) - self.t0) * 1000)

    def note(self, text, t=None):
        print("  t+%-6d %s" % (self.ms(t), text), flush=True)

    def _diff(self, n, old, new):
        if old is None and new is None:
            return
        if new is None:
            self.note("%s not answering" % n)
            return
        if old is None:
            self.note("%s answering (ready=%s, zookeeper %s)" % (
                n, new.get("ready"), new.get("zk_session")))
            old = {"_deps": {}}
        for k in ("zk_session", "ready"):
            if k in old and old.get(k) != new.get(k):
                self.note("%s %s %s -> %s" % (n, k, old.get(k), new.get(k)))
        for d, v in new["_deps"].items():
            o = old["_deps"].get(d)
            if o is None:
                continue
            if o["state"] != v["state"]:
                self.state_changes.append((self.ms(), n, d, o["state"],
                                           v["state"]))
                self.note("%s %s %s -> %s v%s (%s)" % (
                    n, d, o["state"], v["state"], v["version"],
                    v["authority"]))
            elif o["version"] != v["version"]:
                self.note("%s %s published v%s (%s)" % (
                    n, d, v["version"], v["state"]))
            if o["authority"] != v["authority"]:
                if o["authority"] == "authoritative":
                    self.degraded.setdefault(n, v["authority"])
                self.auth_events.append((self.ms(), n, o["authority"],
                                         v["authority"]))
                self.note("%s %s authority %s -> %s" % (
                    n, d, o["authority"], v["authority"]))
            if v["leader"] and not o["leader"]:
                self.note("%s leader of %s (%s v%s)" % (
                    n, d, v["state"], v["version"]))
            elif o["leader"] and not v["leader"]:
                self.note("%s no longer leader of %s" % (n, d))

    def blips(self):
        """(name, authority, ms) of every spell an instance spent not
        authoritative, from the authority changes seen so far."""
        out, since = [], {}
        for ms, n, old, new in self.auth_events:
            if old == "authoritative" and n not in since:
                since[n] = (ms, new)
            elif new == "authoritative" and n in since:
                t, a = since.pop(n)
                out.append((n, a, ms - t))
        seen = set()
        return [b for b in out if not (b in seen or seen.add(b))]

    def sample(self):
        snap = self.fleet.snapshot()
        for n in self.fleet.names:
            new = snap.get(n)
            if n in self.last:
                self._diff(n, self.last[n], new)
            self.last[n] = new
        for d in self.fleet.deps:
            who = [n for n, st in snap.items()
                   if st and st["_deps"].get(d, {}).get("leader")]
            self.leaders[d].update(who)
            if len(who) > 1:
                self.two_leaders.append((self.ms(), d, who))
        self.snap = snap
        return snap

    def until(self, cond, timeout):
        """Sample until cond(snap) is truthy; (value, ms) or (None, None)."""
        deadline = time.monotonic() + timeout
        while True:
            t = time.monotonic()
            snap = self.sample()
            v = cond(snap)
            if v:
                return v, self.ms(t)
            if time.monotonic() >= deadline:
                return None, None
            time.sleep(SAMPLE_S)

    def hold(self, seconds):
        """Keep sampling (and printing changes) for a while."""
        self.until(lambda s: False, seconds)


class Checks:
    """The checks of one drill and its verdict."""

    def __init__(self, name):
        self.name = name
        self.items = []

    def add(self, ok, text):
        self.items.append((bool(ok), text))
        print("  check  %-4s %s" % ("PASS" if ok else "FAIL", text),
              flush=True)
        return ok

    def fail(self, text):
        return self.add(False, text)

    def verdict(self):
        ok = bool(self.items) and all(o for o, _ in self.items)
        print("VERDICT %s: %s" % (self.name, "PASS" if ok else "FAIL"),
              flush=True)
        return ok


# ---------------------------------------------------------------- helpers

def whole(fleet, snap):
    """The fleet is whole: every instance answers, ready and connected,
    every dependency authoritative, one leader each, one view each."""
    for n in fleet.names:
        st = snap.get(n)
        if not st or st.get("ready") != "1" or \
                st.get("zk_session") != "connected":
            return None
        for d in fleet.deps:
            v = st["_deps"].get(d)
            if v is None or v["authority"] != "authoritative":
                return None
    for d in fleet.deps:
        views = {(snap[n]["_deps"][d]["state"], snap[n]["_deps"][d]["version"])
                 for n in fleet.names}
        leaders = [n for n in fleet.names if snap[n]["_deps"][d]["leader"]]
        if len(views) != 1 or len(leaders) != 1:
            return None
    return snap


def wait_whole(fleet, timeout, why="the fleet"):
    """Wait (bounded) until the fleet is whole; DrillError otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = fleet.snapshot()
        if whole(fleet, snap):
            return snap
        time.sleep(0.1)
    raise DrillError("%s is not whole after %ds (every instance ready, "
                     "connected, authoritative, one leader per dependency):"
                     "\n%s" % (why, timeout, table(fleet)))


def wait_start(fleet, timeout, what, extra=None):
    """Wait, bounded and saying so, until the fleet is whole (and extra(snap)
    holds): the state a drill starts from.  DrillSkip if it never is."""
    if START_WAIT["s"] is not None:
        timeout = START_WAIT["s"]
    t0 = time.monotonic()
    deadline = t0 + timeout
    said = False
    while True:
        snap = fleet.snapshot()
        if whole(fleet, snap) and (extra is None or extra(snap)):
            if said:
                print("  start  ready after %.1f s" % (time.monotonic() - t0),
                      flush=True)
            return snap
        if time.monotonic() >= deadline:
            raise DrillSkip("the fleet was not in the start state (%s) "
                            "after %.0f s:\n%s" % (what, timeout,
                                                   table(fleet, snap)))
        if not said:
            print("  start  waiting up to %.0f s for %s" % (timeout, what),
                  flush=True)
            said = True
        time.sleep(0.1)


def leader_of(fleet, snap, dep):
    for n in fleet.names:
        st = snap.get(n)
        if st and st["_deps"].get(dep, {}).get("leader"):
            return n
    return None


def states(fleet, snap, dep, names=None):
    """{name: state of dep} for the instances that answered."""
    return {n: snap[n]["_deps"][dep]["state"] for n in (names or fleet.names)
            if snap.get(n) and dep in snap[n]["_deps"]}


def pid_gone(pid):
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def session_ms(fleet, snap):
    """T: the negotiated session timeout if STATUS says it, else config."""
    for st in snap.values():
        if st and st.get("zk_timeout_ms", "0").isdigit() and \
                int(st.get("zk_timeout_ms", "0")) > 0:
            return int(st["zk_timeout_ms"]), "negotiated"
    return fleet.session, "configured"


# ---------------------------------------------------------------- drills

def drill_failover(fleet, dep, sig, short):
    """kill-leader (SIGKILL) and stop-leader (SIGTERM)."""
    name = "kill-leader" if sig == signal.SIGKILL else "stop-leader"
    signame = "SIGKILL" if sig == signal.SIGKILL else "SIGTERM"
    print("== drill %s %s" % (name, dep), flush=True)
    ck = Checks(name)
    fleet.dep_cfg(dep)
    snap = wait_start(fleet, 60, "every instance ready, connected, "
                      "authoritative, one leader per dependency")
    victim = leader_of(fleet, snap, dep)
    before = snap[victim]["_deps"][dep]
    pid = fleet.pid(victim)
    if pid is None:
        raise DrillError("no pid for %s" % victim)
    T, how = session_ms(fleet, snap)
    if sig == signal.SIGKILL:
        bound = T + fleet.tick + 1000
        bound_text = "bound %d ms = T %d (%s) + tickTime %d + 1000" % (
            bound, T, how, fleet.tick)
    else:
        bound, bound_text = 1500, "target 500 ms, verdict bound 1500 ms"
    led = [d for d in fleet.deps if snap[victim]["_deps"][d]["leader"]]
    survivors = [n for n in fleet.names if n != victim]
    tl = Timeline(fleet)
    tl.sample()
    tl.start()
    t_kill = time.monotonic()
    os.kill(pid, sig)
    tl.note("%s %s (pid %d, leader of %s; %s %s v%s)" % (
        signame, victim, pid, ", ".join(led), dep, before["state"],
        before["version"]))

    first = {}     # dep -> (ms, new leader)
    gone = []      # [ms] once the victim's process is gone

    def settled(s):
        now = tl.ms()
        if not gone and pid_gone(pid):
            gone.append(now)
            tl.note("%s (pid %d) has exited" % (victim, pid))
        for d in led:
            w = [n for n in survivors if s.get(n) and
                 s[n]["_deps"].get(d, {}).get("leader")]
            if w and d not in first:
                first[d] = (now, w[0])
        return gone and len(first) == len(led)

    tl.until(settled, bound / 1000.0 * 2 + 5)
    got = {d: w for d, (_, w) in first.items()} if dep in first else None
    t_new = first[dep][0] if dep in first else None
    gone_ms = gone[0] if gone else None
    tl.hold(0.3 if short else 1.0)
    end = tl.snap
    if got is None:
        ck.fail("no survivor took over %s within %d ms" % (dep, bound * 2 +
                                                          5000))
    else:
        ck.add(t_new <= bound, "new leader of %s: %s after %d ms (%s)" % (
            dep, got[dep], t_new, bound_text))
    if sig == signal.SIGTERM:
        ck.add(gone_ms is not None, "%s exited on SIGTERM (%s ms)" % (
            victim, gone_ms))
    after = states(fleet, end, dep, survivors)
    changed = [c for c in tl.state_changes if c[2] == dep]
    ck.add(not changed and after and all(s == before["state"]
                                         for s in after.values()),
           "state unchanged: %s on every survivor (%s)" % (
               before["state"], ", ".join("%s %s" % kv
                                          for kv in sorted(after.items()))))
    ck.add(not tl.two_leaders, "never two leaders of one dependency at once"
           + ("" if not tl.two_leaders else ": %r" % tl.two_leaders[:3]))
    if fleet.dep_cfg(dep).get("health"):
        ck.add(*probers_in_turn(fleet, t_kill))
    restart(fleet, tl, ck, victim, dep, before["state"])
    return ck.verdict()


def probers_in_turn(fleet, t_kill):
    """(ok, text): in the flaky service's log of requests from 2 s before
    the signal on (its t_ms is CLOCK_MONOTONIC, like time.monotonic()), no
    instance probed again once another had taken over: no two instances
    probing at once.  Witness checks (marked "witness") are left out: a
    leader asks for them, a bounded number from one witness at a time."""
    lo = (t_kill - 2.0) * 1000
    seq = sorted((r.get("t_ms", 0), r.get("instance") or "?")
                 for r in fleet.flaky_stats().get("recent", [])
                 if r.get("t_ms", 0) >= lo and not r.get("witness"))
    order = []
    for _, inst in seq:
        if not order or order[-1] != inst:
            order.append(inst)
    # Leadership moves once, from the victim to one survivor: the log must
    # read victim..., successor... (a handover in between may add a step,
    # but no instance may come back after another one took over).
    # No probe at all proves nothing: the check fails rather than passes.
    ok = bool(order) and len(order) == len(set(order))
    return ok, "probers in turn (flaky service log): %s" % (
        " -> ".join(order) or "no probes seen: nothing shows who probed")


def restart(fleet, tl, ck, victim, dep, state):
    """Start the stopped instance again and wait until the fleet is whole."""
    tl.note("restarting %s" % victim)
    try:
        fleet.script("start", victim)
    except DrillError as exc:
        ck.fail("could not restart %s: %s" % (victim, exc))
        return
    snap, t = tl.until(lambda s: whole(fleet, s), 30)
    if snap is None:
        ck.fail("fleet not whole again within 30 s after restarting %s:\n%s"
                % (victim, table(fleet)))
        return
    tl.note("%s back: fleet whole again" % victim)
    ck.add(snap[victim]["_deps"][dep]["state"] == state,
           "%s restarted, ready, %s %s; fleet whole (%d/%d)" % (
               victim, dep, snap[victim]["_deps"][dep]["state"],
               len(fleet.names), len(fleet.names)))


def zk_roles(fleet):
    """(leader, [followers]) of the ZooKeeper ensemble."""
    modes = {n: fleet.zk_mode(n) for n in (1, 2, 3)}
    lead = [n for n, m in modes.items() if m == "leader"]
    fol = [n for n, m in modes.items() if m == "follower"]
    if len(lead) != 1 or len(fol) != 2:
        raise DrillError("ZooKeeper ensemble not healthy: %r" % modes)
    return lead[0], fol


def all_auth(fleet, s, want):
    """Every instance answers and every dependency's authority is want
    (a set of accepted words)."""
    for n in fleet.names:
        st = s.get(n)
        if not st:
            return False
        for d in fleet.deps:
            if st["_deps"].get(d, {}).get("authority") not in want:
                return False
    return True


def drill_zk_loss(fleet, short):
    print("== drill zk-loss", flush=True)
    ck = Checks("zk-loss")
    snap = wait_start(fleet, 60, "every instance ready, connected, "
                      "authoritative, one leader per dependency")
    before = {d: states(fleet, snap, d) for d in fleet.deps}
    _, (f1, f2) = zk_roles(fleet)
    T, _ = session_ms(fleet, snap)
    hold = 1.0 if short else 3.0
    tl = Timeline(fleet)
    tl.sample()
    tl.start()
    fleet.zk("kill", f1)
    tl.note("SIGKILL ZooKeeper server %d (follower; 2 of 3 left)" % f1,
            tl.t0)
    tl.hold(hold)
    ok, t = tl.until(lambda s: all_auth(fleet, s, {"authoritative"}) and
                     all(s[n].get("zk_session") == "connected"
                         for n in fleet.names), T / 1000.0 + 3)
    blips = ", ".join("%s %s for %d ms" % (n, a, ms)
                      for n, a, ms in tl.blips())
    ck.add(ok and not tl.state_changes,
           "one server down: every instance connected and authoritative, "
           "no state changed%s%s" % (
               "" if ok else " (not after %d ms)" % (T + 3000),
               "; moving to another server: " + blips if blips else ""))
    tl.degraded.clear()
    t = time.monotonic()
    fleet.zk("kill", f2)
    tl.note("SIGKILL ZooKeeper server %d (follower; quorum lost)" % f2, t)
    t2_ms = tl.ms(t)
    bound = T + 5 * fleet.tick + 3000
    ok, t = tl.until(lambda s: all_auth(fleet, s, {"stale", "local"}),
                     bound / 1000.0)
    ck.add(ok, "quorum lost: every instance still answers, no longer "
           "authoritative (%s ms after the second kill, bound %d)" % (
               None if t is None else t - t2_ms, bound))
    first = tl.degraded
    ck.add(ok and all(first.get(n) == "stale" for n in fleet.names),
           "authority went to stale (last known state) on every instance: "
           "%s" % ", ".join("%s %s" % (n, first.get(n, "?"))
                            for n in fleet.names))
    tl.hold(hold)
    answered = {n: query(fleet.sock(n), "GET %s" % fleet.deps[0])
                for n in fleet.names}
    ck.add(all(a and a[0].startswith("OK ") for a in answered.values()),
           "GET answered without ZooKeeper: %s" % "; ".join(
               "%s: %s" % (n, (a or ["no answer"])[0])
               for n, a in answered.items()))
    ck.add(not tl.state_changes, "no state changed while ZooKeeper was "
           "unreachable%s" % ("" if not tl.state_changes else
                              ": %r" % tl.state_changes[:3]))
    for n in (f1, f2):
        tl.note("restarting ZooKeeper server %d" % n)
        proc = fleet.zk_start("restart", n)
        tl.until(lambda s: proc.poll() is not None, 120)
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
        if proc.returncode != 0:
            raise DrillError("zk-ensemble.sh restart %d failed:\n%s" % (
                n, out))
        tl.note("ZooKeeper server %d serving" % n)
    snap2, t = tl.until(lambda s: whole(fleet, s), 60)
    ck.add(snap2 is not None, "restored: every instance connected, "
           "authoritative, one leader per dependency (at t+%s)" % t)
    if snap2 is not None:
        after = {d: states(fleet, snap2, d) for d in fleet.deps}
        ck.add(after == before, "no state lost: %s" % "; ".join(
            "%s %s" % (d, sorted(set(after[d].values())))
            for d in fleet.deps))
    return ck.verdict()


def drill_outage(fleet, short, dep="payments"):
    print("== drill outage %s" % dep, flush=True)
    ck = Checks("outage")
    dc = fleet.dep_cfg(dep)
    h, p = dc.get("health", {}), dc.get("probe", {})
    b = dc.get("breaker", {})
    if "http" not in h:
        raise DrillError("%s has no http health check" % dep)
    fleet.flaky_mode("ok")
    open_bound = (h.get("interval_ms", 5000) + h.get("jitter_ms", 500)) * \
        h.get("unhealthy_threshold", 3) + h.get("timeout_ms", 1000) + 2000
    close_bound = b.get("open_wait_max_ms", b.get("open_wait_ms", 60000)) + \
        p.get("count", 3) * (p.get("interval_ms", 1000) +
                             h.get("timeout_ms", 1000)) + 3000
    # A fleet still in its backoff closes within close_bound by itself.
    wait_start(fleet, close_bound / 1000.0 + 30,
               "%s CLOSED everywhere, the dependency healthy (an earlier "
               "outage may still be in its backoff)" % dep,
               lambda sn: set(states(fleet, sn, dep).values()) == {"CLOSED"})
    fleet.flaky("/_control/reset")
    tl = Timeline(fleet)
    tl.sample()
    tl.start()
    fleet.flaky_mode("error")
    tl.note("flaky service -> error (every request answers 500)")
    opened = {}

    def all_open(s):
        for n in fleet.names:
            st = s.get(n)
            if st and st["_deps"][dep]["state"] == "OPEN" and n not in opened:
                opened[n] = tl.ms()
        return len(opened) == len(fleet.names)

    ok, t = tl.until(all_open, open_bound / 1000.0)
    ck.add(ok, "%s OPEN on every instance %s ms after the outage (bound %d)"
           % (dep, t, open_bound))
    vers = {tl.snap[n]["_deps"][dep]["version"] for n in fleet.names
            if tl.snap.get(n)}
    # "Together" is judged by one version everywhere; the spread is what
    # polling saw, so its bound is generous (a loaded CI machine polls late).
    spread = max(opened.values()) - min(opened.values()) if opened else -1
    ck.add(ok and spread <= SPREAD_BOUND_MS and len(vers) == 1,
           "opened together: spread %d ms between first and last instance, "
           "one version %s" % (spread, sorted(vers)))
    tl.hold(0.3 if short else 3.0)
    t1 = time.monotonic()
    fleet.flaky_mode("ok")
    t1_ms = tl.ms(t1)
    tl.note("flaky service -> ok", t1)
    closed = {}

    def all_closed(s):
        for n in fleet.names:
            st = s.get(n)
            if st and st["_deps"][dep]["state"] == "CLOSED" and \
                    n not in closed:
                closed[n] = (tl.ms(), time.monotonic())
        return len(closed) == len(fleet.names)

    ok, t = tl.until(all_closed, close_bound / 1000.0)
    ck.add(ok, "%s CLOSED on every instance %s ms after recovery (bound %d)"
           % (dep, None if t is None else t - t1_ms, close_bound))
    spread = max(c[0] for c in closed.values()) - \
        min(c[0] for c in closed.values()) if closed else -1
    ck.add(ok and spread <= SPREAD_BOUND_MS,
           "closed together: spread %d ms (bound %d)"
           % (spread, SPREAD_BOUND_MS))
    tl.hold(0.2)
    stats = fleet.flaky_stats()
    leaders = tl.leaders[dep]
    by_inst = stats.get("by_instance", {})
    others = {n: by_inst.get(n, 0) for n in fleet.names if n not in leaders}
    mine = {n: by_inst.get(n, 0) for n in leaders}
    ck.add(leaders and all(v > 0 for v in mine.values()) and
           not any(others.values()),
           "only the leader probed: %s" % ", ".join(
               "%s %d%s" % (n, by_inst.get(n, 0),
                            " (leader)" if n in leaders else "")
               for n in fleet.names))
    if closed:
        t_close = min(c[1] for c in closed.values())
        lo, hi = t1 * 1000, t_close * 1000
        seq = [r for r in stats.get("recent", [])
               if lo <= r.get("t_ms", 0) <= hi]
        want = p.get("count", 3)
        ck.add(want <= len(seq) <= want + 1,
               "closed after one probe sequence: %d requests between "
               "recovery and close (probe.count %d)" % (len(seq), want))
    return ck.verdict()


class BlindCut:
    """Cut one running process alone off from a TCP port: move it into a
    cgroup of its own (bd13-blind, cgroup v2) and reject that cgroup's new
    connections to the port (iptables OUTPUT, -m cgroup, comment bd13).
    Its ZooKeeper connection predates the move and is not matched anyway.
    Undone on exit: rule deleted, process moved back, cgroup removed."""

    NAME = "bd13-blind"

    def __init__(self, pid, port):
        self.pid, self.port = pid, port
        self.base = self.cgroup2_mount()
        self.dir = None
        self.home = None
        self.rule = PortReject(port, ["-m", "cgroup", "--path", self.NAME])

    @staticmethod
    def cgroup2_mount():
        for line in Path("/proc/mounts").read_text().splitlines():
            w = line.split()
            if len(w) >= 3 and w[2] == "cgroup2":
                return Path(w[1])
        return None

    @classmethod
    def missing(cls):
        """Why this machine cannot cut one process off; None if it can."""
        if os.geteuid() != 0:
            return "needs root (iptables, cgroups)"
        if not shutil.which("iptables"):
            return "needs iptables"
        if cls.cgroup2_mount() is None:
            return "needs a cgroup v2 mount"
        return None

    def __enter__(self):
        for line in Path("/proc/%d/cgroup" % self.pid).read_text() \
                .splitlines():
            if line.startswith("0::"):
                self.home = line[3:].strip() or "/"
        self.dir = self.base / self.NAME
        self.dir.mkdir(exist_ok=True)
        (self.dir / "cgroup.procs").write_text(str(self.pid))
        self.rule.insert()
        return self

    def __exit__(self, *exc):
        self.rule.delete()
        home = self.base / (self.home or "/").lstrip("/")
        try:
            (home / "cgroup.procs").write_text(str(self.pid))
        except OSError:
            pass  # the process is gone
        try:
            self.dir.rmdir()
        except OSError:
            pass


def drill_blind_leader(fleet, short, dep="payments"):
    print("== drill blind-leader %s" % dep, flush=True)
    ck = Checks("blind-leader")
    dc = fleet.dep_cfg(dep)
    h = dc.get("health", {})
    if "http" not in h:
        raise DrillError("%s has no http health check" % dep)
    why = BlindCut.missing()
    if why is not None:
        raise DrillError("blind-leader %s" % why)
    fleet.flaky_mode("ok")
    snap = wait_whole(fleet, 30)
    if set(states(fleet, snap, dep).values()) != {"CLOSED"}:
        raise DrillError("%s is not CLOSED everywhere:\n%s" % (
            dep, table(fleet, snap)))
    victim = leader_of(fleet, snap, dep)
    pid = fleet.pid(victim)
    if pid is None:
        raise DrillError("no pid for the leader %s" % victim)
    step = h.get("interval_ms", 5000) + h.get("jitter_ms", 500)
    # The old trip (threshold checks), one witness round (one interval),
    # the handover, slack for a loaded machine.
    bound = step * h.get("unhealthy_threshold", 3) + step + \
        h.get("timeout_ms", 1000) + 3000
    fleet.flaky("/_control/reset")
    tl = Timeline(fleet)
    tl.sample()
    tl.start()
    t_cut = time.monotonic()
    with BlindCut(pid, int(fleet.env["FLAKY_PORT"])):
        tl.note("%s (the leader) cut off from the dependency alone "
                "(cgroup %s, iptables comment bd13); everyone else still "
                "sees it" % (victim, BlindCut.NAME))

        def moved(s):
            who = leader_of(fleet, s, dep)
            return who if who and who != victim else None

        who, t = tl.until(moved, bound / 1000.0)
        ck.add(who, "leadership moved to a seeing instance (%s) %s ms after "
               "the cut (bound %d)" % (who, t, bound))
        st = fleet.status(victim) or {}
        ck.add(st.get("blind.%s" % dep) == "1",
               "%s marked itself blind: %s" % (
                   victim, st.get("blind.%s.reason" % dep, "(no mark)")))
        tl.hold(step / 1000.0 * (1.5 if short else 3))
        stats = fleet.flaky_stats()
    tl.note("cut undone (%s keeps off leading %s while its blind mark "
            "holds)" % (victim, dep))
    changes = [c for c in tl.state_changes if c[2] == dep]
    ck.add(not changes, "the fleet stayed as it was: %s" % (
        "CLOSED on every instance throughout" if not changes else changes))
    ck.add(not tl.two_leaders, "never two leaders at once")
    ok, text = probers_in_turn(fleet, t_cut)
    ck.add(ok and victim not in text.split(" -> ")[1:], text)
    wit = [r for r in stats.get("recent", []) if r.get("witness")]
    want = h.get("witness_checks", 2)
    ck.add(wit and all(r["witness"] == victim for r in wit) and
           len(wit) <= want,
           "witness checks: %d, all for %s, at most health.witness_checks "
           "(%d) per request" % (len(wit), victim, want))
    return ck.verdict()


# ---------------------------------------------------------------- commands

def cmd_wait_ready(fleet, names, timeout):
    """Wait until the named instances (default all) report ready=1."""
    names = names or fleet.names
    deadline = time.monotonic() + timeout
    while True:
        bad = []
        for n in names:
            st = fleet.status(n)
            if st is None or st.get("ready") != "1":
                bad.append(n)
                if fleet.pid(n) is None:
                    log = fleet.dir / ("%s.log" % n)
                    tail = log.read_text(errors="replace").splitlines()[-15:] \
                        if log.exists() else []
                    print("%s is not running; last lines of %s:\n%s" % (
                        n, log, "\n".join(tail)), file=sys.stderr)
                    return 1
        if not bad:
            return 0
        if time.monotonic() >= deadline:
            print("not ready after %ds: %s\n%s" % (timeout, " ".join(bad),
                                                   table(fleet)),
                  file=sys.stderr)
            return 1
        time.sleep(0.2)


def cmd_watch(fleet):
    try:
        while True:
            text = table(fleet)
            sys.stdout.write("\033[H\033[2J" if sys.stdout.isatty() else "\n")
            sys.stdout.write("%s  (every 1 s; Ctrl-C stops)\n%s\n" % (
                time.strftime("%H:%M:%S"), text))
            sys.stdout.flush()
            time.sleep(1)
    except KeyboardInterrupt:
        return 0


def run_drill(fleet, what, args):
    try:
        if what == "kill-leader":
            return drill_failover(fleet, args.dep or "payments",
                                  signal.SIGKILL, args.short)
        if what == "stop-leader":
            return drill_failover(fleet, args.dep or "payments",
                                  signal.SIGTERM, args.short)
        if what == "zk-loss":
            return drill_zk_loss(fleet, args.short)
        if what == "outage":
            return drill_outage(fleet, args.short, args.dep or "payments")
        if what == "blind-leader":
            return drill_blind_leader(fleet, args.short,
                                      args.dep or "payments")
    except DrillSkip as exc:
        print("  skip   %s" % exc, flush=True)
        print("VERDICT %s: SKIP (not in its start state)" % what, flush=True)
        return None
    except (DrillError, OSError, subprocess.TimeoutExpired) as exc:
        print("  error  %s" % exc, flush=True)
        print("VERDICT %s: FAIL" % what, flush=True)
        return False
    raise SystemExit("unknown drill %s" % what)


DRILLS = ("outage", "kill-leader", "stop-leader", "zk-loss", "blind-leader")


def exit_status(results):
    """1 if a verdict failed, 3 if none failed but one was skipped, else 0."""
    if any(r is False for r in results):
        return 1
    return 3 if any(r is None for r in results) else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-d", dest="rundir", default=str(ROOT / "run" / "fleet"))
    ap.add_argument("--short", action="store_true",
                    help="shorter holds (tests)")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--start-wait", type=float, default=None,
                    help="bound of the wait for a drill's start state (s)")
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    a.dep = a.args[0] if a.args else None
    START_WAIT["s"] = a.start_wait
    try:
        fleet = Fleet(a.rundir)
    except (DrillError, KeyError, OSError, ValueError) as exc:
        print("drill: %s" % exc, file=sys.stderr)
        return 2
    c = a.command
    if c == "status":
        print(table(fleet))
        return 0
    if c == "watch":
        return cmd_watch(fleet)
    if c == "wait-ready":
        return cmd_wait_ready(fleet, a.args, a.timeout)
    if c == "flaky":
        if a.dep not in ("ok", "error", "slow", "refuse", "hang"):
            print("drill: flaky ok|error|slow|refuse|hang", file=sys.stderr)
            return 2
        fleet.flaky_mode(a.dep)
        print("flaky service: mode %s" % fleet.flaky_stats()["mode"])
        return 0
    if c in DRILLS:
        return exit_status([run_drill(fleet, c, a)])
    if c == "all":
        todo = list(DRILLS)
        if BlindCut.missing() is not None:
            print("(blind-leader left out: it %s)" % BlindCut.missing())
            todo.remove("blind-leader")
        results = [(d, run_drill(fleet, d, a)) for d in todo]
        print("SUMMARY")
        for d, ok in results:
            print("  %-12s %s" % (d, "SKIP" if ok is None else
                                  "PASS" if ok else "FAIL"))
        return exit_status([ok for _, ok in results])
    print("drill: unknown command %s" % c, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
