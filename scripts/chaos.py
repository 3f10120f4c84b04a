#!/usr/bin/env python3
"""chaos.py - seeded fault injection against a breakerd fleet, and a checker
of what the fleet's applications and dependencies saw.

    scripts/chaos.py --duration 60 --seed 1 [--instances 3] [--keep]

Starts a 3-node ZooKeeper ensemble (tickTime 500 ms, no fsync), one flaky
HTTP service per dependency (with a request log) and N breakerd instances
(health checks every 200 ms), all through scripts/bdlib.py.
Client threads hammer every instance's socket with GET/ALLOW/REPORT at a
bounded rate and record every answer; a seeded fault loop meanwhile kills
leaders (SIGKILL or SIGTERM) and other instances and restarts them, pauses
leaders (SIGSTOP for up to 3 s, then SIGCONT), restarts an instance under
a wall clock two hours ahead or behind (libfaketime), kills,
pauses and restarts ZooKeeper servers (never more than one of three down,
except the "quorum loss" phase that takes two down for 3-5 s),
switches dependencies into outages (error, hang, refuse, slow),
PUBLISHes states on the leaders and FORCEs overrides (open for 2-4 s,
sometimes removed early with FORCE auto) on any instance; every PUBLISH
and FORCE goes right after a STATUS on the same connection, which shows
the lease it was taken with.  A sampler polls every instance's STATUS four
times a second.  Then everything heals, each dependency's leader publishes
CLOSED, the fleet runs on undisturbed until the last fault is --failover ms
old, and the checker verifies (the RULES table; the first two and
"converge" are checked while the run goes on):

  versions   the fleet version seen by one daemon process (one connection
             history per pid) never goes backwards;
  answers    every request gets a well-formed, non-ERR answer, and one
             sent to a running daemon is answered within --answer-timeout;
  probers    at most one instance probes a dependency at any time: per
             instance, probes closer than --probe-gap ms form a probing
             interval; intervals of different instances may not overlap
             by more than --inflight ms (a request already on the wire);
  converge   after the last fault heals every instance reports the state
             published last (CLOSED) and its version, authoritative,
             within --converge seconds;
  crashes    no daemon exited unless we killed it; a SIGTERM exits 0; no
             sanitizer report or "fatal" in any daemon log;
  memory     RSS of every daemon process that lived --rss-min-life s, at
             its end vs 3 s after its start, within --rss-slack-kb plus
             25 % of the start;
  allow_agrees      ALLOW answers what GET says (GET, ALLOW, GET of one
             dependency back to back showing one view);
  allow_after_open  no ALLOW later than --propagation ms after the fleet
             committed OPEN (PUBLISH OK) or FORCED_OPEN (FORCE OK, until
             its ttl or FORCE auto), from an instance still authoritative;
  two_leaders  never two instances leading one dependency (with a lease)
             at the same time in STATUS;
  lease      PUBLISH answered OK only by the leader with a valid lease,
             FORCE (any instance may write it; only leaders keep a lease)
             only while connected, neither while the ensemble has no
             quorum;
  liveness   every dependency has a leader again within --failover ms of
             each fault or heal that can move leadership;
  stale      no instance answers authoritative later than --stale-bound ms
             after the ensemble lost its quorum;
  same_state the same dependency and version means the same state on
             every instance (for versions published OPEN or HALF_OPEN);
  latency    every query is answered within --latency ms unless its daemon
             was paused or stopped meanwhile.

It prints a report (faults injected by kind, answers checked, probes
checked, violations) and exits 1 on any violation, 0 otherwise.  The run
directory (configs, logs, history.jsonl, probes, report.json) is kept on
failure or with --keep.  Python 3 standard library only.
"""

import argparse
import bisect
import collections
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import bdlib  # beside this script

DEPS = ("payments", "ledger")
STATES = {"CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED",
          "METRICS_ONLY"}
AUTHS = {"authoritative", "stale", "local"}
HEALTH_MS = 200
# Faults that do not move leadership (the liveness rule ignores them).
QUIET_FAULTS = ("dep_outage", "publish", "force")
TRIPLE_MS = 250
# The daemons' startup_wait_ms (default): how long a starting instance may
# hold answers about a dependency whose state it has not read yet.
STARTUP_WAIT_MS = 2000
BAD_MARKERS = bdlib._BAD_LOG_MARKERS + ("fatal",)


def now_ms():
    return time.monotonic() * 1000.0


# ---------------------------------------------------------------- parts

class LoggedFlaky(bdlib.FlakyService):
    """The flaky service with its per-request log file (-l)."""

    def start(self, timeout=10):
        self.req_log = bdlib.current().run_dir / ("%s.requests" %
                                                  self.name)
        self.log_file = self.req_log
        return super().start(timeout)

    def probes(self):
        """[(t_ms, instance)] of every request that carried the header,
        except witness checks (a 7th column, the leader): a leader asks for
        those, a bounded number from one witness at a time, so they are
        not probing of the witness's own."""
        out = []
        try:
            text = self.req_log.read_text()
        except OSError:
            return out
        for line in text.splitlines():
            w = line.split()
            if len(w) >= 7:
                continue
            if len(w) >= 4 and w[3] != "-":
                out.append((int(w[0]), w[3]))
        return out


class Instance:
    """One fleet member; its Daemon object is reused across restarts."""

    def __init__(self, name, daemon):
        self.name = name
        self.d = daemon
        self.up = False
        self.epoch = 0            # bumped at every stop and start
        self.paused = False       # SIGSTOPped by the fault loop
        self.t_started = 0.0      # now_ms() when it last answered PING
        self.lock = threading.Lock()

    @property
    def pid(self):
        return self.d.pid


class History:
    """Everything observed, appended from several threads (list.append is
    atomic in CPython)."""

    def __init__(self):
        self.answers = []         # (inst, pid, t_ms, dep, state, ver, auth)
        self.allows = []          # (inst, pid, t_ms, dep, verdict, state)
        self.triples = []         # (inst, t_ms, dep, GET view, ALLOW answer)
        self.lat = []             # (inst, t0, t1, line, excused)
        self.polls = []           # (inst, t0, t1, {deps led with a lease})
        self.writes = []          # PUBLISH/FORCE: see Chaos.admin()
        self.quorum_lost = []     # [t_lost, t_heal_begins] windows
        self.disturb = []         # t_ms of faults and heals that move leaders
        self.zk_ok = []           # (t0, t1, ensemble serving with quorum)
        self.bad = []             # violation strings
        self.counts = collections.Counter()
        self.faults = collections.Counter()
        self.rss = {}             # pid -> {"inst", "start", "end", "t0", "t1"}
        self.events = []          # (t_ms, text) of faults, for the report

    def violation(self, kind, text):
        self.bad.append("%s: %s" % (kind, text))

    def event(self, text):
        self.events.append((now_ms(), text))


# ---------------------------------------------------------------- clients

class Hammer(threading.Thread):
    """Sends GET/ALLOW/REPORT to one instance at a bounded rate and records
    every answer, tagged with the daemon's pid (read by STATUS on each new
    connection, so a restarted daemon starts a fresh history)."""

    def __init__(self, inst, hist, seed, rate, answer_timeout, chaos):
        super().__init__(daemon=True, name="hammer-" + inst.name)
        self.inst = inst
        self.hist = hist
        self.rng = random.Random(seed)
        self.period = 1.0 / rate
        self.timeout = answer_timeout
        self.chaos = chaos
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            if not self.inst.up:
                time.sleep(0.05)
                continue
            epoch = self.inst.epoch
            try:
                c = bdlib.Client(self.inst.d.socket_path,
                                 timeout=self.timeout)
            except OSError:
                self.hist.counts["connect_failed"] += 1
                time.sleep(0.1)
                continue
            try:
                self._session(c, epoch)
            finally:
                c.close()

    def _session(self, c, epoch):
        pid = None
        try:
            for ln in c.cmd_multi("STATUS")[1:-1]:
                if ln.startswith("pid="):
                    pid = int(ln[4:])
        except (OSError, AssertionError):
            self._lost(epoch, "STATUS")
            return
        self.prev = []                    # the last answers on this connection
        while not self.stop.is_set():
            line = self._request()
            epoch = self.inst.epoch       # a pause or stop meanwhile excuses
            t0 = now_ms()
            try:
                c.send(line)
                reply = c.readline()
            except OSError:
                reply = None
            if reply is None:
                self._lost(epoch, line)
                return
            excused = self.inst.epoch != epoch or self.inst.paused
            if not excused and t0 - self.inst.t_started < STARTUP_WAIT_MS:
                excused = "startup"       # may be held until synced
            self.hist.lat.append((self.inst.name, t0, now_ms(), line,
                                  excused))
            self._check(pid, t0, line, reply)
            time.sleep(self.period)

    def _request(self):
        dep = self.rng.choice(DEPS)
        r = self.rng.random()
        if r < 0.5:
            return "GET " + dep
        if r < 0.75:
            return "ALLOW " + dep
        fail = self.chaos.outage.get(dep) and self.rng.random() < 0.8
        return "REPORT %s %s %d" % (dep, "fail" if fail else "ok",
                                    self.rng.randrange(1, 50))

    def _triple(self, t0, ans):
        """GET d, ALLOW d, GET d back to back on this connection, the two
        GETs showing one view within TRIPLE_MS: the ALLOW was decided on
        that view (nothing else reached this instance's local breaker in
        between: this thread is the only one that REPORTs to it)."""
        self.prev = (self.prev + [(t0, ans)])[-3:]
        if len(self.prev) < 3:
            return
        (ta, a), (_, b), (tc, c) = self.prev
        if a[0] == "GET" and b[0] == "ALLOW" and c[0] == "GET" and \
                a[1] == b[1] == c[1] and a[2] == c[2] and \
                tc - ta <= TRIPLE_MS:
            self.hist.triples.append((self.inst.name, ta, a[1], a[2],
                                      b[2]))

    def _lost(self, epoch, line):
        """No answer: fine if the daemon was stopped meanwhile."""
        time.sleep(0.05)
        if self.inst.up and self.inst.epoch == epoch and \
                not self.inst.paused and \
                self.inst.d.alive() and not self.stop.is_set():
            self.hist.violation("answers", "%s: no answer to %r within %ss "
                                "from a running daemon" % (
                                    self.inst.name, line, self.timeout))
        else:
            self.hist.counts["lost_to_restart"] += 1

    def _check(self, pid, t0, line, reply):
        h = self.hist
        h.counts["answers"] += 1
        w = reply.split()
        cmd = line.split()[0]
        if not w or w[0] != "OK":
            h.violation("answers", "%s: %r -> %r" % (self.inst.name, line,
                                                      reply))
            return
        if cmd == "GET":
            if len(w) < 5 or w[2] not in STATES or w[4] not in AUTHS or \
                    not w[3].isdigit():
                h.violation("answers", "%s: bad GET reply %r" % (
                    self.inst.name, reply))
                return
            h.answers.append((self.inst.name, pid, t0, w[1], w[2],
                              int(w[3]), w[4]))
            self._triple(t0, ("GET", w[1], (w[2], int(w[3]), w[4])))
        elif cmd == "ALLOW":
            ok = (len(w) == 2 and w[1] == "ALLOW") or \
                (len(w) == 3 and w[1] == "DENY" and w[2] in STATES)
            if not ok:
                h.violation("answers", "%s: bad ALLOW reply %r" % (
                    self.inst.name, reply))
                return
            h.allows.append((self.inst.name, pid, t0, line.split()[1], w[1],
                             w[2] if len(w) == 3 else None))
            self._triple(t0, ("ALLOW", line.split()[1],
                              (w[1], w[2] if len(w) == 3 else None)))
            h.counts["allow_" + w[1].lower()] += 1
        else:
            self._triple(t0, ("REPORT", line.split()[1], None))
            if reply != "OK":
                h.violation("answers", "%s: bad REPORT reply %r" % (
                    self.inst.name, reply))


class Sampler(threading.Thread):
    """Polls every running instance's STATUS a few times a second: which
    dependencies it leads while its lease is valid (lease_ms_left > 0),
    for the two-leaders and liveness rules."""

    def __init__(self, chaos, period=0.25):
        super().__init__(daemon=True, name="sampler")
        self.chaos = chaos
        self.period = period
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for inst in self.chaos.insts:
                self.poll(inst)
            time.sleep(self.period)

    def poll(self, inst):
        if not inst.up or inst.paused:
            return
        epoch, t0 = inst.epoch, now_ms()
        try:
            with bdlib.Client(inst.d.socket_path, timeout=1) as c:
                lines = c.cmd_multi("STATUS")
        except (OSError, AssertionError):
            return
        t1 = now_ms()
        if inst.epoch != epoch:
            return                   # stopped or paused meanwhile
        st = dict(ln.split("=", 1) for ln in lines[1:-1] if "=" in ln)
        self.chaos.h.polls.append((inst.name, t0, t1, led_with_lease(st)))


class ZkSampler(threading.Thread):
    """Polls the ensemble (srvr on every server) a few times a second:
    does it serve, with a leader and a majority?  Liveness is promised
    only while ZooKeeper is available."""

    def __init__(self, chaos, period=0.3):
        super().__init__(daemon=True, name="zk-sampler")
        self.chaos = chaos
        self.period = period
        self.stop = threading.Event()

    def run(self):
        ens = self.chaos.ens
        while not self.stop.is_set():
            t0 = now_ms()
            modes = []
            for n in range(1, ens.size + 1):
                modes.append(bdlib.zk_mode(ens.client_port(n), 0.5))
            ok = "leader" in modes and \
                sum(m in ("leader", "follower") for m in modes) * 2 > \
                ens.size
            self.chaos.h.zk_ok.append((t0, now_ms(), ok))
            time.sleep(self.period)


def led_with_lease(status):
    """The dependencies a STATUS says this instance leads with a lease."""
    if int(status.get("lease_ms_left", "0") or 0) <= 0:
        return frozenset()
    return frozenset(k[7:] for k, v in status.items()
                     if k.startswith("leader.") and v == "1")


# ---------------------------------------------------------------- the run

class Chaos:
    def __init__(self, opts):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.h = History()
        self.outage = {}
        self.pending = []         # (due_ms, fn, text): heals to do
        self.zk_down = set()
        self.forced = {}          # dep -> an override of ours is in force
        self.insts = []
        self.flaky = {}
        self.ens = None

    # ---- set-up

    def dep_conf(self, dep):
        return {
            "name": dep,
            "health": {"http": self.flaky[dep].url("/health"),
                       "interval_ms": HEALTH_MS, "jitter_ms": 0,
                       "timeout_ms": 150, "healthy_threshold": 2,
                       "unhealthy_threshold": 3},
            "breaker": {"window_size": 50, "minimum_calls": 20,
                        "open_wait_ms": 2000, "open_wait_max_ms": 4000,
                        "half_open_calls": 3},
            "probe": {"count": 2, "interval_ms": 200},
        }

    def setup(self):
        self.ens = bdlib.Ensemble(tick_ms=500).start()
        for dep in DEPS:
            f = LoggedFlaky(name="flaky-" + dep)
            f.start()
            self.flaky[dep] = f
        for i in range(self.o.instances):
            name = "inst-%d" % (i + 1)
            d = bdlib.Daemon(name, deps=[self.dep_conf(x) for x in DEPS],
                             zk=self.ens,
                             overrides={"log_level": "info"})
            self.insts.append(Instance(name, d))
        for inst in self.insts:
            self.start_inst(inst)

    # ---- instance life

    def start_inst(self, inst):
        with inst.lock:
            inst.epoch += 1
            inst.d.start(timeout=20)
            inst.t_started = now_ms()
            self.h.rss[inst.d.pid] = {"inst": inst.name, "t0": now_ms(),
                                      "start": None, "end": None}
            inst.up = True
            inst.epoch += 1

    def stop_inst(self, inst, sig):
        with inst.lock:
            inst.up = False
            inst.epoch += 1
            pid = inst.d.pid
            self.sample_rss(inst, "end")
            if not inst.d.alive():
                self.h.violation("crashes", "%s pid %s had already exited "
                                 "with %s" % (inst.name, pid,
                                              inst.d.proc.returncode()))
                return
            inst.d.signal(signal.SIGCONT)     # in case it is paused
            inst.paused = False
            try:
                rc = inst.d.stop(sig, timeout=10)
            except AssertionError as exc:
                self.h.violation("crashes", str(exc))
                return
            if sig == signal.SIGTERM and rc != 0:
                self.h.violation("crashes", "%s pid %s exited %s on SIGTERM"
                                 % (inst.name, pid, rc))

    def sample_rss(self, inst, which):
        rec = self.h.rss.get(inst.d.pid)
        kb = inst.d.rss_kb()
        if rec is not None and kb:
            rec[which] = kb
            rec["t1" if which == "end" else "ts"] = now_ms()

    def check_alive(self):
        for inst in self.insts:
            if inst.up and not inst.d.alive():
                self.h.violation("crashes", "%s pid %s died by itself: "
                                 "status %s" % (inst.name, inst.d.pid,
                                                inst.d.proc.returncode()))
                inst.up = False
                inst.epoch += 1
                self.start_inst(inst)
            elif inst.up:
                rec = self.h.rss.get(inst.d.pid)
                if rec and rec["start"] is None and \
                        now_ms() - rec["t0"] > 3000:
                    self.sample_rss(inst, "start")

    def leader_of(self, dep):
        for inst in self.insts:
            if not inst.up or inst.paused:
                continue
            try:
                if inst.d.status().get("leader.%s" % dep) == "1":
                    return inst
            except (OSError, AssertionError):
                pass
        return None

    # ---- faults

    def later(self, delay_s, fn, text):
        self.pending.append((now_ms() + delay_s * 1000, fn, text))

    def heal_due(self, force=False):
        keep = []
        for due, fn, text in self.pending:
            if force or now_ms() >= due:
                fn()
                self.h.event("heal: " + text)
                self.h.disturb.append(now_ms())
            else:
                keep.append((due, fn, text))
        self.pending = keep

    def f_kill_leader(self):
        dep = self.rng.choice(DEPS)
        inst = self.leader_of(dep)
        if inst is None:
            return False
        sig = self.rng.choice((signal.SIGKILL, signal.SIGTERM))
        self._down(inst, sig, "leader of %s" % dep)
        return "kill_leader_" + ("sigkill" if sig == signal.SIGKILL
                                 else "sigterm")

    def f_restart(self):
        cand = [i for i in self.insts if i.up]
        if len(cand) < 2:
            return False
        inst = self.rng.choice(cand)
        sig = self.rng.choice((signal.SIGKILL, signal.SIGTERM))
        self._down(inst, sig, "any instance")
        return "restart_instance"

    def _down(self, inst, sig, why):
        self.stop_inst(inst, sig)
        self.h.event("%s %s (%s) pid %s" % (signal.Signals(sig).name,
                                            inst.name, why, inst.d.pid))
        self.later(self.rng.uniform(0.5, 3.0),
                   lambda: self.start_inst(inst), "start " + inst.name)

    def f_clock_skew(self):
        """Restart an instance with its wall clock 2 h ahead or behind (or
        right again): its monotonic clock stays right, as on a real host,
        and no answer may change.  The skew stays until the next one."""
        env = bdlib.faketime_env("+0")
        cand = [i for i in self.insts if i.up and not i.paused]
        if env is None or len(cand) < 2:
            return False
        inst = self.rng.choice(cand)
        offset = self.rng.choice(("+2h", "-2h", None))
        self.stop_inst(inst, signal.SIGTERM)
        inst.d.env = bdlib.faketime_env(offset) if offset else {}
        self.h.event("SIGTERM %s pid %s, restart with wall clock %s" % (
            inst.name, inst.d.pid, offset or "right"))
        self.later(self.rng.uniform(0.5, 2.0),
                   lambda: self.start_inst(inst), "start " + inst.name)
        return "clock_skew_" + {"+2h": "ahead", "-2h": "behind",
                                None: "right"}[offset]

    def f_pause_leader(self):
        """SIGSTOP a leader (a long GC pause, a frozen VM) for up to 3 s:
        on SIGCONT it must check its lease before it probes again."""
        dep = self.rng.choice(DEPS)
        inst = self.leader_of(dep)
        if inst is None:
            return False
        with inst.lock:
            inst.paused = True
            inst.epoch += 1
            inst.d.signal(signal.SIGSTOP)
        self.h.event("SIGSTOP %s (leader of %s)" % (inst.name, dep))

        def resume():
            with inst.lock:
                inst.d.signal(signal.SIGCONT)
                inst.epoch += 1
                inst.paused = False
        self.later(self.rng.uniform(0.5, 3.0), resume,
                   "SIGCONT " + inst.name)
        return "pause_leader"

    def f_zk_kill(self):
        if self.zk_down:
            return False
        n = self.rng.randrange(1, 4)
        if self.rng.random() < 0.3:
            self.ens.pause(n)
            self.zk_down.add(n)
            self.later(self.rng.uniform(1.0, 3.0),
                       lambda: self._zk_resume(n), "resume zk%d" % n)
            self.h.event("SIGSTOP zk%d" % n)
            return "zk_pause"
        self.ens.kill(n)
        self.zk_down.add(n)
        self.later(self.rng.uniform(1.0, 4.0), lambda: self._zk_up([n]),
                   "restart zk%d" % n)
        self.h.event("SIGKILL zk%d" % n)
        return "zk_kill"

    def f_quorum_loss(self):
        if self.zk_down or not self.o.quorum_loss:
            return False
        ns = self.rng.sample([1, 2, 3], 2)
        for n in ns:
            self.ens.kill(n)
            self.zk_down.add(n)
        window = [now_ms(), None]
        self.h.quorum_lost.append(window)

        def heal():
            window[1] = now_ms()
            self._zk_up(ns)
        # Long enough for the stale rule to see every instance cut off.
        self.later(self.rng.uniform(3.0, 5.0), heal, "restart zk%s" % ns)
        self.h.event("SIGKILL zk%s (quorum lost)" % ns)
        return "zk_quorum_loss"

    def _zk_resume(self, n):
        self.ens.resume(n)
        self.zk_down.discard(n)

    def _zk_up(self, ns):
        # Restart one at a time: zk-ensemble.sh restart waits for the
        # quorum, which needs both when two are down.
        if len(ns) > 1:
            self.ens._script("start")
        else:
            self.ens.restart(ns[0])
        for n in ns:
            self.zk_down.discard(n)

    def f_outage(self):
        dep = self.rng.choice(DEPS)
        if self.outage.get(dep):
            return False
        mode = self.rng.choice(("error", "hang", "refuse", "slow"))
        self.flaky[dep].set_mode(mode, slow_ms=400 if mode == "slow"
                                 else None)
        self.outage[dep] = mode
        self.later(self.rng.uniform(1.5, 4.0), lambda: self._dep_ok(dep),
                   "%s ok" % dep)
        self.h.event("%s -> %s" % (dep, mode))
        return "dep_outage_" + mode

    def _dep_ok(self, dep):
        self.flaky[dep].set_mode("ok")
        self.outage[dep] = None

    def f_publish(self):
        dep = self.rng.choice(DEPS)
        inst = self.leader_of(dep)
        if inst is None:
            return False
        st = self.rng.choice(("OPEN", "CLOSED", "HALF_OPEN", "OPEN"))
        r = self.admin(inst, "PUBLISH", dep, "%s chaos" % st, state=st)
        self.h.counts["publish_" + (r.split()[1] if r.startswith("ERR")
                                    else "ok" if r.startswith("OK")
                                    else "lost")] += 1
        self.h.event("PUBLISH %s %s on %s -> %s" % (dep, st, inst.name, r))
        return "publish"

    def f_force(self):
        """An operator's override on any instance: FORCE open for a few
        seconds (it expires by itself), sometimes removed early with FORCE
        auto."""
        dep = self.rng.choice(DEPS)
        cand = [i for i in self.insts if i.up and not i.paused]
        if not cand or self.forced.get(dep):
            return False
        inst = self.rng.choice(cand)
        ttl = self.rng.randint(2, 4)
        r = self.admin(inst, "FORCE", dep, "open %d chaos" % ttl,
                       state="FORCED_OPEN", ttl_ms=ttl * 1000)
        self.h.counts["force_" + ("ok" if r.startswith("OK") else
                                  r.split()[1] if r.startswith("ERR")
                                  else "lost")] += 1
        self.h.event("FORCE %s open %d on %s -> %s" % (dep, ttl, inst.name,
                                                       r))
        if not r.startswith("OK"):
            return "force_failed"
        self.forced[dep] = True

        def unforce():
            live = [i for i in self.insts if i.up and not i.paused]
            if live and self.rng.random() < 0.5:
                r2 = self.admin(self.rng.choice(live), "FORCE", dep,
                                "auto", state="AUTO")
                self.h.event("FORCE %s auto -> %s" % (dep, r2))
            self.forced[dep] = False
        self.later(self.rng.uniform(1.0, ttl + 1.0), unforce,
                   "override of %s over" % dep)
        return "force_open"

    def admin(self, inst, cmd, dep, args, state=None, ttl_ms=None):
        """Send cmd (PUBLISH or FORCE) right after a STATUS on the same
        connection: the daemon handles both lines in one read, so the
        STATUS shows the lease the command was taken with.  Records the
        write for the lease, commit and override rules; returns the
        reply."""
        line = "%s %s %s" % (cmd, dep, args)
        w = {"cmd": cmd, "inst": inst.name, "dep": dep, "state": state,
             "ttl_ms": ttl_ms, "t0": now_ms(), "t1": None, "reply": None,
             "lease_ms": None, "leader": None, "connected": None}
        try:
            with bdlib.Client(inst.d.socket_path, timeout=10) as c:
                c.send_raw("STATUS\n%s\n" % line)
                lines = []
                while True:
                    ln = c.readline()
                    if ln is None:
                        raise OSError("no STATUS")
                    lines.append(ln)
                    if ln == "END":
                        break
                st = dict(ln.split("=", 1) for ln in lines[1:-1]
                          if "=" in ln)
                w["lease_ms"] = int(st.get("lease_ms_left", "0") or 0)
                w["leader"] = st.get("leader.%s" % dep) == "1"
                w["connected"] = st.get("zk_connected") == "1"
                r = c.readline()
                if r is None:
                    raise OSError("no reply")
        except OSError as exc:
            r = "no answer: %s" % exc
        w["t1"], w["reply"] = now_ms(), r
        self.h.writes.append(w)
        return r

    def fault_loop(self):
        # The faults by weight: a new fault is one f_<name> method (returns
        # the kind injected, or False) and one entry here.
        kinds = [(self.f_kill_leader, 3), (self.f_restart, 2),
                 (self.f_pause_leader, 1.5), (self.f_clock_skew, 1.5),
                 (self.f_zk_kill, 3), (self.f_quorum_loss, 0.5),
                 (self.f_outage, 3), (self.f_publish, 3),
                 (self.f_force, 1.5)]
        for kv in self.o.weight:
            name, w = kv.split("=", 1)
            fn = getattr(self, "f_" + name, None)
            if fn is None:
                raise SystemExit("chaos: no fault %r" % name)
            kinds = [(f, wt) for f, wt in kinds if f != fn] + [(fn, float(w))]
        fns = [k for k, _ in kinds]
        weights = [w for _, w in kinds]
        t_end = now_ms() + self.o.duration * 1000
        t_ql = None if self.o.quorum_loss_at is None else \
            now_ms() + self.o.quorum_loss_at * 1000
        while now_ms() < t_end:
            self.heal_due()
            self.check_alive()
            fn = self.rng.choices(fns, weights)[0]
            if t_ql is not None and now_ms() >= t_ql and not self.zk_down:
                fn, t_ql = self.f_quorum_loss, None   # --quorum-loss-at
            what = fn()
            if what:
                self.h.faults[what] += 1
                if not what.startswith(QUIET_FAULTS):
                    self.h.disturb.append(now_ms())
            time.sleep(self.rng.uniform(0.5, 2.0))

    # ---- the end

    def heal_all(self):
        self.heal_due(force=True)
        for dep in DEPS:
            if self.outage.get(dep):
                self._dep_ok(dep)
        self.ens.heal()
        self.zk_down.clear()
        self.check_alive()
        for inst in self.insts:
            if not inst.up:
                self.start_inst(inst)

    def final_publish(self):
        """Each dependency's leader publishes CLOSED: the state every
        instance must converge to.  Returns {dep: version}."""
        out = {}
        deadline = time.monotonic() + self.o.converge
        for dep in DEPS:
            while time.monotonic() < deadline:
                inst = self.leader_of(dep)
                if inst is not None:
                    r = self.admin(inst, "PUBLISH", dep, "CLOSED chaos-final",
                                   state="CLOSED")
                    if r.startswith("OK "):
                        out[dep] = int(r.split()[1])
                        break
                time.sleep(0.2)
            else:
                self.h.violation("converge", "no leader of %s published "
                                 "within %ss of the heal" % (
                                     dep, self.o.converge))
        return out

    def converge(self, published):
        t0 = time.monotonic()
        last = None

        def views():
            v = {}
            for inst in self.insts:
                for dep in DEPS:
                    try:
                        s = inst.d.state(dep)
                    except (OSError, AssertionError):
                        return None
                    v[(inst.name, dep)] = (s["state"], int(s["version"]),
                                           s["authority"])
            return v

        names = [i.name for i in self.insts]
        while time.monotonic() - t0 < self.o.converge:
            last = views()
            if converged(last, names, published):
                took = time.monotonic() - t0
                self.h.counts["converge_ms"] = int(took * 1000)
                return took
            time.sleep(0.1)
        self.h.violation("converge", "instances did not agree within %ss: "
                         "%r" % (self.o.converge, last))
        return None

    def quiet_tail(self):
        """Keep the fleet running, undisturbed and sampled, until
        ZooKeeper has served for --failover ms (and a bit) since the last
        fault or heal: the liveness rule then checks at least that window
        in every run."""
        last = max(self.h.disturb) if self.h.disturb else now_ms()
        give_up = now_ms() + self.o.failover + 30000
        while now_ms() < give_up:
            start = next((t0 for t0, _, ok in list(self.h.zk_ok)
                          if t0 >= last and ok), None)
            if start is not None and \
                    now_ms() > start + self.o.failover + 1500:
                break
            self.check_alive()
            time.sleep(0.2)

    def shutdown(self):
        for inst in self.insts:
            if inst.up:
                self.stop_inst(inst, signal.SIGTERM)
        # The ensemble is ours, not the test's: stop it here rather than
        # trusting interpreter exit.
        if self.ens is not None:
            self.ens.stop()

    # ---- checks

    def check_all(self):
        """Every rule of the RULES table, in order."""
        for name in RULES:
            RULES[name][0](self)

    def check_versions(self):
        seen = {}
        for inst, pid, t, dep, st, ver, auth in self.h.answers:
            key = (inst, pid, dep)
            prev = seen.get(key)
            if prev is not None and ver < prev[0]:
                self.h.violation("versions", "%s pid %s %s: version %d "
                                 "after %d (%s %s at t=%.0f)" % (
                                     inst, pid, dep, ver, prev[0], st, auth,
                                     t))
            if prev is None or ver >= prev[0]:
                seen[key] = (ver, t)
        self.h.counts["histories"] = len(seen)

    def check_probes(self):
        total = 0
        for dep, f in self.flaky.items():
            probes = f.probes()
            total += len(probes)
            for a, b in find_overlaps(probes, self.o.probe_gap,
                                      self.o.inflight):
                self.h.violation("probers", "%s: %s probed %.0f..%.0f while "
                                 "%s probed %.0f..%.0f" % ((dep,) + a + b))
        self.h.counts["probes"] = total

    def check_logs(self):
        for inst in self.insts:
            text = inst.d.log_text()
            for m in BAD_MARKERS:
                if m.lower() in text.lower():
                    self.h.violation("crashes", "%s log has %r" % (
                        inst.name, m))

    def check_rss(self):
        """Leaks show as growth; a sanitizer build's RSS grows with its
        allocator quarantine, so there the bound is loose (LeakSanitizer
        reports real leaks at exit, and check_logs finds its report)."""
        n, worst = 0, 0
        slack = self.o.rss_slack_kb
        if sanitized():
            slack = max(slack, 65536)
        for pid, r in self.h.rss.items():
            if r["start"] is None or r["end"] is None:
                continue
            if (r["t1"] - r["t0"]) / 1000 < self.o.rss_min_life:
                continue
            n += 1
            bound = r["start"] + slack + r["start"] // 4
            worst = max(worst, r["end"] - r["start"])
            if r["end"] > bound:
                self.h.violation("memory", "%s pid %s RSS %d kB -> %d kB "
                                 "over %.0fs (bound %d)" % (
                                     r["inst"], pid, r["start"], r["end"],
                                     (r["t1"] - r["t0"]) / 1000, bound))
        self.h.counts["rss_checked"] = n
        self.h.counts["rss_max_growth_kb"] = worst


def sanitized():
    """Is BUILD/breakerd built with AddressSanitizer?"""
    try:
        with open(bdlib.BUILD / "breakerd", "rb") as fp:
            return b"__asan_init" in fp.read()
    except OSError:
        return False


# ---------------------------------------------------------------- rules
#
# The history checker: RULES maps a rule's name to (function, promise).
# Each function reads the History of a finished run (c.h) and the bounds
# (c.o), and calls c.h.violation(name, text) for every breach.  To add a
# rule: write check_<name>(c), add it to RULES, and add a self-test in
# tests/integration/test_chaos.py that injects a violation and sees it
# caught (test_chaos checks that every rule has one, and that each
# self-test fails with its rule disabled).

def _gets(h):
    """{(inst, pid, dep): ([t_ms], [GET answer])} in time order."""
    idx = {}
    for a in sorted(h.answers, key=lambda a: a[2]):
        ts, xs = idx.setdefault((a[0], a[1], a[3]), ([], []))
        ts.append(a[2])
        xs.append(a)
    return idx


def _next_get(idx, inst, pid, dep, t):
    """This process's first GET answer for dep sent after t (or None)."""
    e = idx.get((inst, pid, dep))
    if not e:
        return None
    i = bisect.bisect_right(e[0], t)
    return e[1][i] if i < len(e[1]) else None


def _ok_writes(h, cmd, state=None):
    return [w for w in h.writes if w["cmd"] == cmd and
            (w["reply"] or "").startswith("OK") and
            (state is None or w["state"] == state)]


def check_versions(c):
    c.check_versions()


def check_probers(c):
    c.check_probes()


def check_crashes(c):
    c.check_logs()


def check_memory(c):
    c.check_rss()


def check_allow_agrees(c):
    """ALLOW answers what GET says: decided on one view (GET d, ALLOW d,
    GET d back to back, same view), OPEN and FORCED_OPEN deny naming the
    state, CLOSED / DISABLED / METRICS_ONLY allow, HALF_OPEN may do
    either, and a DENY names the state GET showed."""
    for inst, t, dep, (st, ver, auth), (verdict, dstate) in c.h.triples:
        c.h.counts["allow_triples"] += 1
        if verdict == "DENY" and dstate != st:
            bad = "DENY %s" % dstate
        elif st in ("OPEN", "FORCED_OPEN") and verdict != "DENY":
            bad = verdict
        elif st in ("CLOSED", "DISABLED", "METRICS_ONLY") and \
                verdict != "ALLOW":
            bad = "%s %s" % (verdict, dstate)
        else:
            continue
        c.h.violation("allow_agrees", "%s %s at t=%.0f: GET said %s v%d "
                      "%s, ALLOW answered %s" % (inst, dep, t, st, ver,
                                                 auth, bad))


def check_allow_after_open(c):
    """No ALLOW for a dependency later than --propagation ms after the
    fleet committed OPEN (a PUBLISH OPEN answered OK) or FORCED_OPEN (a
    FORCE open answered OK, until its ttl or a FORCE auto) for it, from
    an instance whose next GET shows it authoritative yet without a newer
    fleet version (a cut-off instance answers from what it knew)."""
    h, prop = c.h, c.o.propagation
    idx = _gets(h)
    opens = [(w["dep"], int(w["reply"].split()[1]), w["t1"])
             for w in _ok_writes(h, "PUBLISH", "OPEN")]
    forces = []
    for w in _ok_writes(h, "FORCE", "FORCED_OPEN"):
        end = w["t0"] + w["ttl_ms"] - 200
        for w2 in h.writes:
            if w2["cmd"] == "FORCE" and w2["dep"] == w["dep"] and \
                    w2["state"] == "AUTO" and w2["t0"] > w["t0"]:
                end = min(end, w2["t0"])
        forces.append((w["dep"], w["t1"], end))
    for inst, pid, t, dep, verdict, _ in h.allows:
        if verdict != "ALLOW":
            continue
        nxt = None
        for d, ver, t1 in opens:
            if d != dep or t < t1 + prop:
                continue
            nxt = nxt or _next_get(idx, inst, pid, dep, t)
            if nxt and nxt[6] == "authoritative" and nxt[5] <= ver:
                c.h.violation("allow_after_open", "%s ALLOW %s at t=%.0f, "
                              "%.0f ms after OPEN v%d was committed; its "
                              "next GET: %s v%d %s" % (
                                  inst, dep, t, t - t1, ver, nxt[4], nxt[5],
                                  nxt[6]))
        for d, t1, end in forces:
            if d != dep or not t1 + prop <= t < end:
                continue
            nxt = nxt or _next_get(idx, inst, pid, dep, t)
            if nxt and nxt[6] == "authoritative" and nxt[2] < end:
                c.h.violation("allow_after_open", "%s ALLOW %s at t=%.0f, "
                              "%.0f ms into a FORCE open; its next GET: %s "
                              "v%d %s" % (inst, dep, t, t - t1, nxt[4],
                                          nxt[5], nxt[6]))


def check_two_leaders(c):
    """Never two leaders of one dependency at once (in STATUS, with a
    valid lease): no instance claims it between two polls of another
    instance, less than a second apart, that both claim it."""
    by = collections.defaultdict(list)
    for inst, t0, t1, led in sorted(c.h.polls, key=lambda p: p[1]):
        by[inst].append((t0, t1, led))
    for a, polls in by.items():
        for (p0, p1, pled), (q0, q1, qled) in zip(polls, polls[1:]):
            if q0 - p1 > 1000:
                continue
            for dep in pled & qled:
                for b, bpolls in by.items():
                    if b == a:
                        continue
                    for r0, r1, rled in bpolls:
                        if r0 > p1 and r1 < q0 and dep in rled:
                            c.h.violation("two_leaders", "%s led %s at "
                                          "t=%.0f and t=%.0f, %s at t=%.0f"
                                          % (a, dep, p1, q0, b, r0))


def check_lease(c):
    """A PUBLISH is answered OK only by the dependency's leader holding a
    valid lease when it took the request (the STATUS just before it on
    the same connection); a FORCE, which any instance may write (only
    leaders keep a lease), only by one connected to ZooKeeper then; and
    neither while the ensemble had no quorum."""
    for w in c.h.writes:
        if not (w["reply"] or "").startswith("OK"):
            continue
        c.h.counts["writes_ok"] += 1
        why = None
        if w["cmd"] == "PUBLISH" and w["lease_ms"] is not None and \
                w["lease_ms"] <= 0:
            why = "without a lease (lease_ms_left=0)"
        elif w["cmd"] == "PUBLISH" and w["leader"] is False:
            why = "by a non-leader"
        elif w["cmd"] == "FORCE" and w.get("connected") is False:
            why = "while not connected to ZooKeeper"
        for lo, hi in c.h.quorum_lost:
            if lo < w["t0"] and (hi is None or w["t1"] < hi):
                why = "while the ensemble had no quorum"
        if why:
            c.h.violation("lease", "%s %s %s answered %r %s (t=%.0f)" % (
                w["inst"], w["cmd"], w["dep"], w["reply"], why, w["t0"]))


def check_liveness(c):
    """Every dependency has a leader (with a lease) again within
    --failover ms after each fault or heal that can move leadership, once
    ZooKeeper serves (a leader and a majority, by srvr) and as long as it
    goes on serving and nothing else disturbs the fleet."""
    polls = c.h.polls
    if not polls:
        return
    end = max(p[2] for p in polls)
    marks = sorted(c.h.disturb) + [end]
    bound = c.o.failover
    zk = sorted(c.h.zk_ok)
    for e, nxt in zip(marks, marks[1:]):
        # From the first sample after e that finds the ensemble serving;
        # a window in which it stops serving is not checked.
        start = next((t0 for t0, _, ok in zk if t0 >= e and ok), None)
        if start is None or nxt - start <= bound + 1000:
            continue
        if not all(ok for t0, _, ok in zk if start <= t0 <= start + bound):
            continue
        c.h.counts["liveness_checked"] += 1
        for dep in DEPS:
            if not any(dep in led and start <= t0 and t1 <= start + bound
                       for _, t0, t1, led in polls):
                c.h.violation("liveness", "no leader of %s within %d ms "
                              "of ZooKeeper serving after the fault or heal "
                              "at t=%.0f" % (dep, bound, e))


def check_stale(c):
    """A cut-off instance turns non-authoritative (stale) within
    --stale-bound ms: no GET says authoritative that long after the
    ensemble lost its quorum, until the heal begins."""
    for lo, hi in c.h.quorum_lost:
        if hi is None:
            continue
        c.h.counts["stale_windows"] += 1
        for inst, pid, t, dep, st, ver, auth in c.h.answers:
            if lo + c.o.stale_bound <= t < hi and auth == "authoritative":
                c.h.violation("stale", "%s %s authoritative at t=%.0f, "
                              "%.0f ms after the quorum was lost" % (
                                  inst, dep, t, t - lo))


def check_same_state(c):
    """The same dependency and version means the same state everywhere:
    an instance holding fleet version v of a record published OPEN or
    HALF_OPEN (not CLOSED, which lets the local breaker speak) answers
    that state, or FORCED_OPEN while an override is in force."""
    known = {(w["dep"], int(w["reply"].split()[1])): w["state"]
             for w in _ok_writes(c.h, "PUBLISH")}
    for inst, pid, t, dep, st, ver, auth in c.h.answers:
        want = known.get((dep, ver))
        if want not in ("OPEN", "HALF_OPEN") or auth == "local":
            continue
        c.h.counts["same_state_checked"] += 1
        if st not in (want, "FORCED_OPEN"):
            c.h.violation("same_state", "%s %s v%d %s at t=%.0f: version "
                          "%d was published %s" % (inst, dep, ver, st, t,
                                                   ver, want))


def check_latency(c):
    """Every query is answered within --latency ms (a query never waits
    for ZooKeeper), unless its daemon was paused or stopped meanwhile; one
    sent in a daemon's first startup_wait_ms may be held that much longer
    (until the daemon has read the dependency's state)."""
    worst = 0
    for inst, t0, t1, line, excused in c.h.lat:
        bound = c.o.latency
        if excused == "startup":
            bound += STARTUP_WAIT_MS
        elif excused:
            continue
        worst = max(worst, t1 - t0)
        if t1 - t0 > bound:
            c.h.violation("latency", "%s %r answered after %.0f ms" % (
                inst, line, t1 - t0))
    c.h.counts["latency_max_ms"] = int(worst)


RULES = collections.OrderedDict([
    ("versions", (check_versions, "a process's fleet version never goes "
                  "backwards")),
    ("probers", (check_probers, "at most one instance probes a dependency")),
    ("crashes", (check_crashes, "no sanitizer report or fatal in a log")),
    ("memory", (check_memory, "RSS flat over a daemon's life")),
    ("allow_agrees", (check_allow_agrees, "ALLOW agrees with GET")),
    ("allow_after_open", (check_allow_after_open, "no ALLOW after the fleet "
                          "committed OPEN or FORCED_OPEN")),
    ("two_leaders", (check_two_leaders, "never two leaders at once")),
    ("lease", (check_lease, "PUBLISH OK only with a valid lease, FORCE "
               "only connected")),
    ("liveness", (check_liveness, "a leader again after each fault")),
    ("stale", (check_stale, "a cut-off instance turns stale in time")),
    ("same_state", (check_same_state, "same dependency and version, same "
                    "state")),
    ("latency", (check_latency, "answers within the latency bound")),
])


def check(c, name):
    """Run one rule by name (the self-tests use this)."""
    RULES[name][0](c)


def converged(views, names, published, want="CLOSED"):
    """Do the views {(inst, dep): (state, version, authority)} agree, for
    every dependency, on one view that is authoritative, holds the state
    published last (want) and at least its version?  Agreeing on a wrong
    state is not converging."""
    if views is None:
        return False
    for dep in DEPS:
        vs = {views.get((n, dep)) for n in names}
        if len(vs) != 1:
            return False
        view = vs.pop()
        if view is None:
            return False
        st, ver, auth = view
        if auth != "authoritative" or st != want or \
                ver < published.get(dep, 0):
            return False
    return True


# The prober rule lives in the harness: one function for chaos and for
# tests/integration/test_partition.py.
probe_intervals = bdlib.probe_intervals
find_overlaps = bdlib.probe_overlaps


def report(c, took, rdir):
    h = c.h
    lines = ["chaos report (seed %d, %ds, %d instances, %d deps, build %s)"
             % (c.o.seed, c.o.duration, c.o.instances, len(DEPS),
                bdlib.BUILD)]
    lines.append("faults injected: %d (%s)" % (
        sum(h.faults.values()), ", ".join("%s=%d" % kv for kv in
                                          sorted(h.faults.items()))))
    lines.append("answers checked: %d (GET histories %d, GET answers %d); "
                 "probes checked: %d" % (
                     h.counts["answers"], h.counts["histories"],
                     len(h.answers), h.counts["probes"]))
    lines.append("RSS lifetimes checked: %d, largest growth %d kB%s" % (
        h.counts["rss_checked"], h.counts["rss_max_growth_kb"],
        " (sanitizer build: loose bound, LeakSanitizer checks leaks)"
        if sanitized() else ""))
    lines.append("publishes: %s; lost to restarts: %d; converged in %s" % (
        ", ".join("%s=%d" % (k[8:], v) for k, v in sorted(h.counts.items())
                  if k.startswith("publish_")) or "none",
        h.counts["lost_to_restart"],
        "%.2fs" % took if took is not None else "NEVER"))
    lines.append("rules: %s; STATUS polls %d, ALLOW/GET triples %d, "
                 "PUBLISH/FORCE OK %d, liveness windows %d, quorum-loss "
                 "windows %d, same-state answers %d, slowest answer %d ms" % (
                     ", ".join(RULES), len(h.polls), h.counts["allow_triples"],
                     h.counts["writes_ok"], h.counts["liveness_checked"],
                     h.counts["stale_windows"],
                     h.counts["same_state_checked"],
                     h.counts["latency_max_ms"]))
    lines.append("violations: %d" % len(h.bad))
    for b in h.bad[:50]:
        lines.append("  VIOLATION " + b)
    lines.append("run directory: %s" % rdir)
    text = "\n".join(lines)
    print(text)
    summary = {"seed": c.o.seed, "duration": c.o.duration,
               "faults": dict(h.faults), "counts": dict(h.counts),
               "answers": len(h.answers), "violations": h.bad,
               "converge_s": took, "events": h.events}
    (rdir / "report.json").write_text(json.dumps(summary, indent=1))
    with open(rdir / "history.jsonl", "w") as fp:
        for a in h.answers:
            fp.write(json.dumps(a) + "\n")
    return len(h.bad)


def options(argv=None):
    """Parse the command line (argv None: sys.argv)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--rate", type=float, default=40,
                    help="requests per second per instance")
    ap.add_argument("--answer-timeout", type=float, default=5)
    ap.add_argument("--probe-gap", type=float, default=3 * HEALTH_MS + 150)
    ap.add_argument("--inflight", type=float, default=150)
    ap.add_argument("--converge", type=float, default=30)
    ap.add_argument("--propagation", type=float, default=2000,
                    help="ms from a committed OPEN to every authoritative "
                    "instance denying")
    ap.add_argument("--failover", type=float, default=8000,
                    help="ms from a fault to a leader of every dependency")
    ap.add_argument("--stale-bound", type=float, default=4000,
                    help="ms from losing the quorum to answering stale")
    ap.add_argument("--latency", type=float, default=2000,
                    help="ms within which every query is answered")
    ap.add_argument("--rss-min-life", type=float, default=15)
    ap.add_argument("--rss-slack-kb", type=int, default=4096)
    ap.add_argument("--no-quorum-loss", dest="quorum_loss",
                    action="store_false")
    ap.add_argument("--quorum-loss-at", type=float, default=None,
                    metavar="S", help="also a quorum loss S seconds in "
                    "(once no ZooKeeper server is down)")
    ap.add_argument("--weight", action="append", default=[],
                    metavar="FAULT=W", help="a fault's weight (fault: "
                    "kill_leader, restart, pause_leader, zk_kill, "
                    "quorum_loss, outage, publish, force)")
    ap.add_argument("--dir", help="run directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args(argv)
    if o.instances < 2 or o.duration < 1:
        ap.error("need at least 2 instances and 1 s")
    return o


def run(o, rdir):
    """One chaos run in the current harness context (its processes are
    the context's); returns (violations, the Chaos object)."""
    c = Chaos(o)
    c.took = None
    hammers = []
    try:
        c.setup()
        hammers = [Hammer(inst, c.h, o.seed * 1000 + i, o.rate,
                          o.answer_timeout, c)
                   for i, inst in enumerate(c.insts)]
        for t in hammers:
            t.start()
        for sampler in (Sampler(c), ZkSampler(c)):
            sampler.start()
            hammers.append(sampler)
        c.fault_loop()
        c.heal_all()
        pub = c.final_publish()
        c.took = c.converge(pub)
        c.quiet_tail()
        for inst in c.insts:
            c.sample_rss(inst, "end")
    finally:
        for t in hammers:
            t.stop.set()
        for t in hammers:
            t.join(o.answer_timeout + 2)
        c.shutdown()
    c.check_all()
    return report(c, c.took, Path(rdir)), c


def main():
    o = options()
    rdir = Path(o.dir) if o.dir else \
        Path(tempfile.mkdtemp(prefix="breakerd-chaos-"))
    bdlib.begin_test("chaos", rdir)
    bdlib.install_signal_handlers()
    bad, _ = run(o, rdir)
    bdlib.end_test()
    if bad == 0 and not o.keep:
        shutil.rmtree(rdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
