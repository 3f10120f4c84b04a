"""bdlib.py - the Python side of breakerd's tooling, in one place.

What the integration tests (tests/integration/), the chaos test
(scripts/chaos.py), the drills (scripts/drill.py) and the fleet benchmarks
(tests/bench/*.py) share: the line-protocol client of a daemon's Unix socket
(Client, query, parse_status), breakerd daemons (Daemon), ZooKeeper
ensembles (Ensemble, zk_ensemble, four_letter, MiniZk), the flaky HTTP
dependency (FlakyService), process and port bookkeeping, and shared checks
(probe_overlaps).  It lives beside the scripts, so scripts/*.py import it
without any path setup; tests/integration/run.py and the benchmarks put
scripts/ on sys.path.

Tests start real components on 127.0.0.1 private ports: breakerd daemons
(BUILD/breakerd), a real ZooKeeper ensemble (scripts/zk-ensemble.sh) and a
flaky HTTP dependency (BUILD/tools/flaky_service).  Every process a test
starts is tracked in the current test context and killed when the test
ends (run.py calls end_test()), at interpreter exit, and on SIGINT/SIGTERM,
so nothing is left behind.  Python 3 standard library only.

    from bdlib import Daemon, Client, Ensemble, FlakyService, wait_until
    e = zk_ensemble()                      # shared per module or per test
    d = Daemon("inst-a", deps=["payments"], zk=e); d.start()
    assert d.client().cmd("PING") == "OK PONG"

See docs/testing.md for the whole API.
"""

import atexit
import copy
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("BREAKERD_BUILD", str(ROOT / "build")))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
ZK_SCRIPT = ROOT / "scripts" / "zk-ensemble.sh"
ZK_JAR = Path("/usr/share/java/zookeeper.jar")

# Private port range: below Linux's default ephemeral range (32768-60999),
# so outgoing connections never take a port a test is about to bind.
PORT_LO, PORT_HI = 20000, 32000

_SIGTERM = signal.SIGTERM  # Daemon.signal() hides the module in its class
_all_ensembles = set()      # every started Ensemble, stopped at exit

# Sanitizer and crash markers looked for in daemon logs at test end.
_BAD_LOG_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                    "runtime error:", "ERROR: ThreadSanitizer",
                    "WARNING: ThreadSanitizer")
_LEAK_BLOCK = re.compile(r"^(?:Direct|Indirect) leak of .*?(?=^\S|\Z)",
                         re.M | re.S)


def _only_library_leaks(text):
    """True if every LeakSanitizer block in text was allocated directly by
    libzookeeper_mt (its frame #1): requests still pending when the session
    closes are never freed by the 3.8 client, whatever the caller does.
    A leak with one of our frames on top is never excused."""
    blocks = _LEAK_BLOCK.findall(text)
    if not blocks:
        return False
    for b in blocks:
        first = re.search(r"^\s*#1 .*$", b, re.M)
        if first is None or "libzookeeper_mt" not in first.group(0):
            return False
    return True


class Skip(Exception):
    """Raise from a test (or a fixture) to skip it; the message is printed.

    Under CI=true the runner counts a plain Skip as a failure: use
    require() for a component the test needs (it skips on a developer's
    machine and fails in CI) and unable() for what this machine cannot do
    (not root, no spare group...), which is a skip everywhere."""


class Unable(Skip):
    """A skip for something this machine cannot do; allowed under CI."""


def in_ci():
    """Is this a CI run (CI=true, as .ci/run and most CI services set)?"""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(ok, what, fix="run scripts/install-deps.sh, then make test-bins"):
    """A component the test needs (ZooKeeper, clang, a built binary, the
    Docker engine on a machine that has one...).  Without it the test is
    skipped, saying what is missing; under CI=true its absence FAILS the
    test, so a CI run missing a required component is never green."""
    if ok:
        return
    msg = "required component missing: %s (%s)" % (what, fix)
    if in_ci():
        raise AssertionError(msg + "; CI=true makes this a failure")
    raise Skip(msg)


def unable(why):
    """Skip because this machine cannot do what the test needs (e.g. it
    runs without root); a skip under CI=true too, and it says so."""
    raise Unable("this machine cannot: %s" % why)


class TestTimeout(Exception):
    """Raised inside a test by run.py's per-test alarm."""


def wait_until(fn, timeout, interval=0.05, msg=""):
    """Poll fn() until it returns something truthy; return that value.

    Raises AssertionError(msg + last value) when timeout seconds pass.
    Exceptions raised by fn propagate (wrap fn if it may raise)."""
    deadline = time.monotonic() + timeout
    while True:
        val = fn()
        if val:
            return val
        if time.monotonic() >= deadline:
            raise AssertionError("%s (timed out after %.1fs; last value %r)"
                                 % (msg or "wait_until", timeout, val))
        time.sleep(interval)


def tail(path, lines=40):
    """The last lines of a text file ("" if it does not exist)."""
    try:
        with open(path, "rb") as fp:
            fp.seek(0, os.SEEK_END)
            size = fp.tell()
            fp.seek(max(0, size - 256 * 1024))
            data = fp.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def deep_merge(base, over):
    """Merge dict over into a copy of base: dicts recurse, other values
    replace, and a value of None deletes the key."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------- ports

_ports_given = set()


def _port_free(port):
    """True if 127.0.0.1:port can be bound now (TCP)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n=1, consecutive=False):
    """n free TCP ports on 127.0.0.1 from the private range, never handed out
    twice by this process.  consecutive=True gives base..base+n-1."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(2000):
        if consecutive:
            base = rng.randrange(PORT_LO, PORT_HI - n)
            cand = list(range(base, base + n))
        else:
            cand = [rng.randrange(PORT_LO, PORT_HI) for _ in range(n)]
            if len(set(cand)) != n:
                continue
        if any(p in _ports_given for p in cand):
            continue
        if all(_port_free(p) for p in cand):
            _ports_given.update(cand)
            return cand
    raise RuntimeError("no free ports in %d-%d" % (PORT_LO, PORT_HI))


def free_port():
    """One free TCP port on 127.0.0.1 from the private range."""
    return free_ports(1)[0]


# A port is free when free_ports() checks it, and bound later by a child:
# something else may take it in between.  Whatever starts a child on chosen
# ports retries that many times on fresh ones when the child says so.
PORT_ATTEMPTS = 3


class PortInUse(AssertionError):
    """A child could not bind a port chosen for it (taken meanwhile)."""


def port_clash(log_text):
    """Does a child's log say that it could not bind its port?"""
    return "Address already in use" in log_text


def on_free_ports(start, attempts=PORT_ATTEMPTS):
    """Call start() (which chooses its ports with free_ports() and starts a
    child on them) until no PortInUse: at most attempts times."""
    for attempt in range(attempts):
        try:
            return start()
        except PortInUse:
            if attempt == attempts - 1:
                raise


# ---------------------------------------------------------------- probers

def probe_intervals(probes, gap_ms):
    """{instance: [[first_ms, last_ms], ...]} from [(t_ms, instance)]: an
    instance's probes closer than gap_ms belong to one probing interval (a
    single probe is an interval of length 0)."""
    out = {}
    for t, inst in sorted(probes):
        ivs = out.setdefault(inst, [])
        if ivs and t - ivs[-1][1] <= gap_ms:
            ivs[-1][1] = t
        else:
            ivs.append([t, t])
    return out


def probe_overlaps(probes, gap_ms, margin_ms):
    """The one rule "at most one instance probes a dependency at a time",
    shared by the chaos checker and the partition tests.  probes is
    [(t_ms, instance)] of one dependency's requests (filter out requests
    the rule does not cover before calling).  Two probing intervals of
    different instances are a violation unless one begins no earlier than
    margin_ms (a request already on the wire at a handover) before the
    other ends: so a single stray probe, or two 100 ms apart, inside
    another instance's interval is caught.  Returns the pairs
    ((inst, a, b), (inst2, a2, b2))."""
    flat = sorted((a, b, inst) for inst, ivs in
                  probe_intervals(probes, gap_ms).items() for a, b in ivs)
    bad = []
    for i, (a1, b1, n1) in enumerate(flat):
        for a2, b2, n2 in flat[i + 1:]:
            if a2 >= b1 - margin_ms:
                break                 # sorted by start: none later overlaps
            if n1 != n2 and a1 < b2 - margin_ms:
                bad.append(((n1, a1, b1), (n2, a2, b2)))
    return bad


# ---------------------------------------------------------------- context

class _Context:
    """What one test started; end_test() tears it down."""

    def __init__(self, name, run_dir, shared=None, module=None):
        self.name = name
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.shared = shared          # _SharedEnsemble or None
        self.module = module
        self.procs = []               # Proc, Daemon, FlakyService
        self.ensembles = []           # Ensembles owned by this test
        self.clients = []
        self.daemons = []
        self.used_shared = False
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        self.zk_root = "/breakerd/%s_%d" % (safe[-60:], _next_seq())


_seq = [0]


def _next_seq():
    _seq[0] += 1
    return _seq[0]


_ctx = None
_default_dir = None


def current():
    """The current test context (a default one outside run.py)."""
    global _ctx, _default_dir
    if _ctx is None:
        _default_dir = tempfile.mkdtemp(prefix="breakerd-it-")
        _ctx = _Context("adhoc", _default_dir)
    return _ctx


def run_dir():
    """This test's private directory (kept only if the test fails)."""
    return current().run_dir


def zk_root():
    """The ZooKeeper root shared by every daemon of this test."""
    return current().zk_root


def begin_test(name, rdir, shared=None, module=None):
    """Start a fresh context (run.py calls this before each test)."""
    global _ctx
    if _ctx is not None:
        end_test()
    _ctx = _Context(name, rdir, shared, module)
    return _ctx


def end_test():
    """Kill everything the current test started.  Returns a list of
    problems found (sanitizer reports in the logs of its processes)."""
    global _ctx
    ctx, _ctx = _ctx, None
    if ctx is None:
        return []
    for c in ctx.clients:
        c.close()
    for p in reversed(ctx.procs):
        try:
            p.kill()
        except Exception as exc:  # keep cleaning up
            print("harness: cleanup %r: %s" % (p, exc), file=sys.stderr)
    for e in ctx.ensembles:
        e.stop()
    if ctx.shared is not None and ctx.used_shared:
        ctx.shared.heal()
    problems = []
    for p in ctx.procs:
        text = p.log_text()
        for m in _BAD_LOG_MARKERS:
            if m in text:
                if m == "ERROR: LeakSanitizer" and \
                        _only_library_leaks(text):
                    print("harness: %s: leaks inside libzookeeper_mt only "
                          "(pending requests at close), not ours" % p.name,
                          file=sys.stderr)
                    continue
                problems.append("%s: log has %r (%s)" % (p.name, m,
                                                         p.log_path))
                break
    return sorted(set(problems))


def _cleanup_all():
    """atexit / signal: leave no process behind."""
    end_test()
    for e in list(_all_ensembles):
        e.stop()
    if _default_dir and os.path.isdir(_default_dir) and \
            not os.environ.get("BREAKERD_KEEP_LOGS"):
        shutil.rmtree(_default_dir, ignore_errors=True)


atexit.register(_cleanup_all)


def _on_signal(signum, _frame):
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def finish_run(name, t0, failures, rdir, keep):
    """The end of a benchmark run started at monotonic t0: say how long it
    took and how many errors (the list failures) it met, keep rdir if
    there were any or keep is set, else remove it.  The exit status."""
    print("\n%s: done in %.0f s%s" % (
        name, time.monotonic() - t0,
        "; %d error(s)" % len(failures) if failures else ""), flush=True)
    if failures or keep:
        print("run directory kept: %s" % rdir, flush=True)
    else:
        shutil.rmtree(rdir, ignore_errors=True)
    return 1 if failures else 0


def install_signal_handlers():
    """Clean up on SIGTERM/SIGHUP; SIGINT raises KeyboardInterrupt, which
    unwinds to atexit.  SIGINT's handler is set explicitly: a run started
    in the background by a shell without job control (`nohup make test &`)
    inherits SIGINT ignored, and Python then leaves it ignored."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ---------------------------------------------------------------- processes

def _log_text(path):
    """A log file's text so far ("" if there is none yet)."""
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


class Proc:
    """A tracked child process with its output in a log file in the run dir.

    Started in its own session so a terminal ^C reaches only the runner,
    which then kills it."""

    def __init__(self, args, name=None, env=None, cwd=None, log_path=None):
        ctx = current()
        self.args = [str(a) for a in args]
        self.name = name or Path(self.args[0]).name
        self.log_path = Path(log_path) if log_path else \
            ctx.run_dir / ("%s.log" % self.name)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
            start_new_session=True)
        ctx.procs.append(self)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout):
        """Return the exit status, or None if still running at timeout."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.popen.kill()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if not self._log.closed:
            self._log.close()

    def log_text(self):
        return _log_text(self.log_path)

    def __repr__(self):
        return "<Proc %s pid %s>" % (self.name, self.popen.pid)


def read_to_eof(fd):
    """Every byte from file descriptor fd (a pipe from a forked child, say)
    up to end of file; fd is closed."""
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data


def spawn(args, name=None, env=None, cwd=None):
    """Start any helper process, tracked and killed at test end."""
    return Proc(args, name=name, env=env, cwd=cwd)


def run_tool(args, timeout=30, input=None, check=False):
    """Run a short-lived tool to completion; returns CompletedProcess with
    text stdout/stderr.  Raises on timeout (and on failure if check)."""
    return subprocess.run([str(a) for a in args], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          check=check)


# ---------------------------------------------------------------- client

class _Closable:
    """close() (quietly) and the with statement, for a connection kept in
    self.sock."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client(_Closable):
    """A line-oriented client of a daemon's Unix socket."""

    def __init__(self, path, timeout=5):
        self.path = str(path)
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except OSError:
            self.sock.close()
            raise
        if _ctx is not None:
            _ctx.clients.append(self)

    def send_raw(self, data):
        """Send bytes (or str) as they are."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, line):
        """Send one request line (adds the newline)."""
        self.send_raw(line.encode() + b"\n")

    def readline(self, timeout=None):
        """Next reply line without its newline; None on timeout or when the
        daemon closed the connection (then self.eof is True)."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                if not self.buf:
                    return None
                # A last unterminated line: hand it out, then EOF.
                line, self.buf = self.buf, b""
                return line.decode("utf-8", "replace")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _must_readline(self, what, timeout=None):
        line = self.readline(timeout)
        if line is None:
            raise AssertionError("%s: no reply to %r (%s)" % (
                self.path, what, "closed" if self.eof else "timeout"))
        return line

    def cmd(self, line, timeout=None):
        """Send one request; return the first reply line."""
        self.send(line)
        return self._must_readline(line, timeout)

    def cmd_multi(self, line, timeout=None):
        """Send one request; return every reply line up to and including
        "END" (or just the reply if it is an ERR line)."""
        self.send(line)
        out = []
        while True:
            r = self._must_readline(line, timeout)
            out.append(r)
            if r == "END" or (len(out) == 1 and r.startswith("ERR")):
                return out


def parse_status(lines):
    """STATUS reply lines (without OK/END) -> dict; "_deps" holds
    {name: {state, version, authority, leader}}."""
    st = {"_deps": {}}
    for line in lines:
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        if k.startswith("dep.") and k.count(".") == 1:
            f = v.split()
            if len(f) >= 3:
                st["_deps"][k[4:]] = {
                    "state": f[0], "version": int(f[1]) if f[1].isdigit()
                    else f[1], "authority": f[2], "leader": "leader" in f[3:]}
            continue
        st[k] = v
    for k, v in list(st.items()):
        if k.startswith("leader.") and v == "1" and k[7:] in st["_deps"]:
            st["_deps"][k[7:]]["leader"] = True
    return st


def query(sock_path, line, timeout=1.0):
    """One request on a fresh connection, never raising (for samplers that
    poll many daemons, some of them down).  STATUS, LIST and METRICS: every
    reply line up to END (without it); others: the first reply line, as a
    one-element list.  None if the daemon does not answer in time."""
    multi = line.split()[0].upper() in ("STATUS", "LIST", "METRICS")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf = b""
    try:
        s.connect(str(sock_path))
        s.sendall(line.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            lines = buf.split(b"\n")[:-1]
            if lines and (not multi or lines[0].startswith(b"ERR") or
                          b"END" in [x.rstrip(b"\r") for x in lines]):
                break
            if time.monotonic() > deadline:
                return None
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except OSError:
        return None
    finally:
        s.close()
    out = []
    for raw in buf.split(b"\n")[:-1]:
        t = raw.rstrip(b"\r").decode("utf-8", "replace")
        if t == "END" or (out and not multi):
            break
        out.append(t)
    return out


# ---------------------------------------------------------------- daemon

class Daemon:
    """One breakerd with a generated JSON config in the test's run dir.

    overrides is deep-merged into the whole config, dep_overrides[name] into
    that dependency's object; a None value deletes a key.  deps may hold
    names or whole dicts ({"name": ..., ...})."""

    def __init__(self, name="inst-a", deps=("payments",), zk=None,
                 overrides=None, dep_overrides=None, env=None, args=None,
                 binary=None, prefix=None):
        ctx = current()
        self.name = name
        self.zk = zk
        self.env = env or {}
        self.extra_args = list(args or [])
        # A command the daemon runs under (e.g. ["valgrind", "-q"]); the
        # pid the harness signals is then the prefix's.
        self.prefix = list(prefix or [])
        self.binary = Path(binary) if binary else BUILD / "breakerd"
        self.dir = ctx.run_dir
        self.socket_path = str(self.dir / ("%s.sock" % name))
        if len(self.socket_path.encode()) > 100:
            self.socket_path = tempfile.mktemp(prefix="bd-", suffix=".sock")
        self.config_path = self.dir / ("%s.json" % name)
        self.log_path = self.dir / ("%s.log" % name)
        self.proc = None
        self.config = self._build_config(deps, overrides, dep_overrides)
        ctx.daemons.append(self)

    def _build_config(self, deps, overrides, dep_overrides):
        cfg = {
            "instance_id": self.name,
            "log_level": "debug",
            "socket": {"path": self.socket_path, "mode": "0666",
                       "admin_uids": sorted({0, os.getuid()})},
        }
        if self.zk is not None:
            hosts = self.zk if isinstance(self.zk, str) else self.zk.hosts
            cfg["zookeeper"] = {"hosts": hosts,
                                "session_timeout_ms": 2000,
                                "root": zk_root()}
        dlist = []
        for d in deps or ():
            dep = dict(d) if isinstance(d, dict) else {"name": d}
            dep = deep_merge(dep, (dep_overrides or {}).get(dep["name"]))
            dlist.append(dep)
        cfg["dependencies"] = dlist
        return deep_merge(cfg, overrides)

    def write_config(self):
        """Write self.config (tests may edit it, then SIGHUP)."""
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")

    def start(self, wait=True, timeout=10):
        """Write the config, spawn the daemon and (if wait) wait until it
        answers PING.  Raises with the log tail if it dies or hangs."""
        self.write_config()
        if not self.binary.exists():
            raise AssertionError("%s not built (make)" % self.binary)
        args = self.prefix + [self.binary, "-f", self.config_path] + \
            self.extra_args
        self.proc = Proc(args, name=self.name, env=self.env,
                         log_path=self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self

    def _ping(self):
        if not self.proc.alive():
            err = PortInUse if port_clash(tail(self.log_path, 30)) else \
                AssertionError
            raise err(
                "%s exited with %s during start-up; log tail:\n%s" % (
                    self.name, self.proc.returncode(),
                    tail(self.log_path, 30)))
        try:
            with Client(self.socket_path, timeout=1) as c:
                c.sock.settimeout(1)
                return c.cmd("PING", timeout=1) == "OK PONG"
        except (OSError, AssertionError):
            return False

    def wait_ready(self, timeout=10):
        """Wait until the socket answers PING with OK PONG."""
        try:
            wait_until(self._ping, timeout, 0.05)
        except AssertionError as exc:
            if "exited" in str(exc):
                raise
            raise AssertionError("%s did not answer PING in %ss; log tail:\n"
                                 "%s" % (self.name, timeout,
                                         tail(self.log_path, 30)))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def client(self, timeout=5):
        return Client(self.socket_path, timeout)

    def cmd(self, line, timeout=None):
        """One request on a fresh connection; the first reply line."""
        with self.client() as c:
            return c.cmd(line, timeout)

    def state(self, dep):
        """GET dep parsed: {"dep", "state", "version", "authority"} (and
        "rest" for any further words); AssertionError on an ERR reply."""
        line = self.cmd("GET %s" % dep)
        w = line.split()
        if len(w) < 5 or w[0] != "OK":
            raise AssertionError("GET %s: %s" % (dep, line))
        return {"dep": w[1], "state": w[2], "version": w[3],
                "authority": w[4], "rest": w[5:]}

    def status(self):
        """STATUS as a dict of its key=value lines."""
        with self.client() as c:
            lines = c.cmd_multi("STATUS")
        if not lines[0].startswith("OK"):
            raise AssertionError("STATUS: %s" % lines[0])
        return dict(ln.split("=", 1) for ln in lines[1:-1] if "=" in ln)

    def signal(self, sig):
        self.proc.signal(sig)

    def stop(self, sig=_SIGTERM, timeout=5):
        """Send sig and wait for exit; return the exit status (negative for
        a signal).  SIGKILLs and raises AssertionError if it hangs."""
        if self.proc is None:
            return None
        if not self.proc.alive():
            return self.proc.returncode()
        self.proc.signal(sig)
        rc = self.proc.wait(timeout)
        if rc is None:
            self.proc.kill()
            raise AssertionError("%s did not exit %ss after signal %d" % (
                self.name, timeout, sig))
        return rc

    def kill(self):
        """SIGKILL and reap."""
        if self.proc is not None:
            self.proc.kill()
            return self.proc.returncode()
        return None

    def wait_exit(self, timeout=10):
        """Exit status once it exits by itself (None on timeout)."""
        return self.proc.wait(timeout) if self.proc else None

    def log_text(self):
        return _log_text(self.log_path)

    def rss_kb(self):
        """Resident set size in kB from /proc (None if gone)."""
        try:
            with open("/proc/%d/status" % self.pid) as fp:
                for line in fp:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, TypeError):
            pass
        return None

    def __repr__(self):
        return "<Daemon %s pid %s>" % (self.name, self.pid)


def wait_ready(daemons, timeout=20, interval=0.05):
    """Wait until every daemon (started) says ready=1 in STATUS, one after
    the other, so they all start before the first wait; the daemons."""
    for d in daemons:
        wait_until(lambda d=d: d.status().get("ready") == "1", timeout,
                   interval, "%s not ready" % d.name)
    return daemons


def leaders(daemons, dep, quiet=False):
    """The running daemons whose STATUS says they lead dep.  quiet: one
    that does not answer (OSError, AssertionError) counts as not leading
    instead of raising."""
    out = []
    for d in daemons:
        try:
            if d.alive() and d.status().get("leader.%s" % dep) == "1":
                out.append(d)
        except (OSError, AssertionError):
            if not quiet:
                raise
    return out


def states(daemons, dep):
    """dep's state on every daemon, in order."""
    return [d.state(dep)["state"] for d in daemons]


class UidDaemon(Daemon):
    """A daemon run under its own uid, its config and socket in a private
    directory that uid can use (removed with stop_all)."""

    def __init__(self, name, uid, **kw):
        super().__init__(name, **kw)
        self.uid = uid
        self.udir = tempfile.mkdtemp(prefix="bd13-")
        os.chmod(self.udir, 0o777)
        self.socket_path = os.path.join(self.udir, "%s.sock" % name)
        self.config["socket"]["path"] = self.socket_path
        self.config_path = type(self.config_path)(self.udir) / (
            "%s.json" % name)

    def start(self, wait=True, timeout=10):
        self.write_config()
        os.chmod(self.config_path, 0o644)
        args = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.uid,
                "--clear-groups", "--", str(self.binary), "-f",
                str(self.config_path)]
        self.proc = Proc(args, name=self.name, env=self.env,
                         log_path=self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
        shutil.rmtree(self.udir, ignore_errors=True)


# ---------------------------------------------------------------- blind

def health_dep_config(flaky, wait_ms=3000, probe_ms=300, breaker=None,
                      interval_ms=1000, threshold=3):
    """A dependency checked over HTTP on flaky's /health every interval_ms
    (no jitter), with witness checks: the blind-leader tests and the
    witness benchmark."""
    cfg = {
        "breaker": {"open_wait_ms": wait_ms, "open_wait_max_ms": 60000,
                    "backoff_multiplier_pct": 200, "jitter_pct": 0},
        "probe": {"count": 3, "interval_ms": probe_ms},
        "quorum": {"min_votes": 2, "fraction_pct": 50},
        "health": {"http": flaky.url("/health"), "interval_ms": interval_ms,
                   "jitter_ms": 0, "timeout_ms": 500,
                   "unhealthy_threshold": threshold, "healthy_threshold": 1,
                   "witness_checks": 2, "blind_hold_ms": 60000},
    }
    cfg["breaker"].update(breaker or {})
    return cfg


class PortReject:
    """An iptables rule (OUTPUT, comment bd13): TCP connections to
    127.0.0.1:port that also match `match` (iptables match arguments) are
    refused with a reset, so health checks fail at once ("connect
    refused").  Inserted on enter, deleted on exit; needs root."""

    def __init__(self, port, match):
        self.spec = ["OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport",
                     str(port)] + list(match) + [
                         "-m", "comment", "--comment", "bd13", "-j",
                         "REJECT", "--reject-with", "tcp-reset"]

    def insert(self):
        subprocess.run(["iptables", "-w", "-I"] + self.spec, check=True,
                       capture_output=True)

    def delete(self):
        subprocess.run(["iptables", "-w", "-D"] + self.spec,
                       capture_output=True)

    def __enter__(self):
        self.insert()
        return self

    def __exit__(self, *exc):
        self.delete()


class UidBlock(PortReject):
    """uid's TCP connections to port refused (-m owner --uid-owner)."""

    def __init__(self, uid, port):
        super().__init__(port, ["-m", "owner", "--uid-owner", str(uid)])


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def faketime_env(offset):
    """Environment that runs a process with its wall clock moved by offset
    ("+2h", "-2h", libfaketime's syntax) and its monotonic clock left
    alone, like a host whose wall clock is wrong.  The libfaketime library
    is preloaded directly (not through the faketime wrapper, which forks:
    the harness must signal the daemon itself).  None if libfaketime is
    not installed."""
    if not os.path.exists(FAKETIME_LIB):
        return None
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


# ---------------------------------------------------------------- ZooKeeper

def four_letter(port, word="srvr", timeout=2.0):
    """Send a ZooKeeper four-letter word to 127.0.0.1:port; the reply text
    or None if the server does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.sendall(word.encode())
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.decode("utf-8", "replace")
    except OSError:
        return None


def zk_mode(port, timeout=2.0):
    """"leader", "follower", "standalone", or None (down/not serving) for
    the ZooKeeper server with client port `port`."""
    text = four_letter(port, "srvr", timeout)
    for line in (text or "").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


class Ensemble:
    """A ZooKeeper ensemble run by scripts/zk-ensemble.sh on private ports.

    Server n (1-based) listens for clients on base + 3(n-1); quorum and
    election ports follow.  force_sync=False (default) skips fsync."""

    def __init__(self, size=3, tick_ms=500, force_sync=False, rdir=None):
        if size not in (1, 3, 5):
            raise ValueError("ensemble size must be 1, 3 or 5")
        self.size = size
        self.tick_ms = tick_ms
        self.force_sync = force_sync
        self.dir = Path(rdir) if rdir else current().run_dir / "zk"
        self.base = None
        self.started = False

    def _script(self, *args, timeout=90):
        env = dict(os.environ)
        env["ZK_FORCE_SYNC"] = "yes" if self.force_sync else "no"
        cmd = [str(ZK_SCRIPT), "-d", str(self.dir), "-p", str(self.base),
               "-t", str(self.tick_ms), "-n", str(self.size)] + \
            [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout, env=env)
        if r.returncode != 0:
            raise AssertionError("zk-ensemble.sh %s failed (%d):\n%s%s" % (
                " ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def start(self):
        """Start every server and wait for a quorum with one leader."""
        require(ZK_JAR.exists(), "ZooKeeper server (%s)" % ZK_JAR,
                "run scripts/install-deps.sh")
        fixed = self.base is not None
        _all_ensembles.add(self)
        for attempt in range(3):
            if not fixed:
                self.base = free_ports(3 * self.size, consecutive=True)[0]
            self.started = True
            try:
                self._script("start")
                return self
            except AssertionError as exc:
                # Someone may have taken a port between our check and the
                # server's bind: try other ports.
                self.stop()
                _all_ensembles.add(self)
                if fixed or attempt == 2 or \
                        "Address already in use" not in self._logs():
                    raise exc
        return self

    def _logs(self):
        return "".join(tail(self.log_path(n), 200)
                       for n in range(1, self.size + 1))

    def stop(self):
        """Kill every server (idempotent)."""
        if self.started:
            try:
                self._script("stop")
            except Exception as exc:
                print("harness: ensemble stop: %s" % exc, file=sys.stderr)
            self.started = False
        _all_ensembles.discard(self)

    def kill(self, n):
        """SIGKILL server n (1-based)."""
        self._script("kill", n)

    def restart(self, n):
        """Start server n again and wait until it serves."""
        self._script("restart", n)

    def wait(self):
        """Wait for a quorum again (after kills/restarts)."""
        self._script("wait")

    def client_port(self, n):
        return self.base + 3 * (n - 1)

    @property
    def hosts(self):
        return ",".join("127.0.0.1:%d" % self.client_port(n)
                        for n in range(1, self.size + 1))

    def host(self, n):
        return "127.0.0.1:%d" % self.client_port(n)

    def mode(self, n):
        """"leader", "follower", "standalone", or None (down/not serving)."""
        return zk_mode(self.client_port(n))

    def status(self):
        """{n: mode or None} for every server."""
        return {n: self.mode(n) for n in range(1, self.size + 1)}

    def leader(self):
        """The number of the leading server, or None."""
        for n, m in self.status().items():
            if m in ("leader", "standalone"):
                return n
        return None

    def pid(self, n):
        """Server n's pid from its pid file (None if not running)."""
        try:
            pid = int((self.dir / ("server%d" % n) / "zk.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def signal(self, n, sig):
        pid = self.pid(n)
        if pid:
            os.kill(pid, sig)

    def pause(self, n):
        """SIGSTOP server n (it stops answering without closing sockets)."""
        self.signal(n, signal.SIGSTOP)

    def resume(self, n):
        self.signal(n, signal.SIGCONT)

    def log_path(self, n):
        return self.dir / ("server%d" % n) / "zk.log"

    def heal(self):
        """Bring every server back (used between tests of a shared
        ensemble); waits for quorum."""
        for n in range(1, self.size + 1):
            self.resume(n)
            if self.pid(n) is None:
                self.restart(n)
        self.wait()


class _SharedEnsemble:
    """A module-wide ensemble started on first use (run.py owns it)."""

    def __init__(self, rdir):
        self.rdir = Path(rdir)
        self.ensemble = None
        self.broken = None

    def get(self):
        if self.broken:
            raise self.broken
        if self.ensemble is None:
            try:
                self.ensemble = Ensemble(rdir=self.rdir).start()
            except Exception as exc:
                self.broken = exc
                raise
        return self.ensemble

    def heal(self):
        if self.ensemble is not None and self.ensemble.started:
            try:
                self.ensemble.heal()
            except Exception as exc:
                print("harness: shared ensemble heal: %s" % exc,
                      file=sys.stderr)

    def stop(self):
        if self.ensemble is not None:
            self.ensemble.stop()


def zk_ensemble(size=3, tick_ms=500):
    """The module's shared ensemble if it set SHARED_ENSEMBLE = True (and
    asks for the default shape), else a new one owned by this test."""
    ctx = current()
    if ctx.shared is not None and size == 3 and tick_ms == 500:
        ctx.used_shared = True
        return ctx.shared.get()
    e = Ensemble(size=size, tick_ms=tick_ms,
                 rdir=ctx.run_dir / ("zk%d" % (len(ctx.ensembles) + 1)))
    ctx.ensembles.append(e)
    return e.start()


# ---------------------------------------------------------------- flaky HTTP

def _build_flaky():
    """BUILD/tools/flaky_service, or a private build of it when the tree's
    build is missing or stale (it needs only libevent, util.c and log.c)."""
    exe = BUILD / "tools" / "flaky_service"
    src = ROOT / "tests" / "tools" / "flaky_service.c"
    if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
        return exe
    # Keyed by the source's content: several trees (worktrees) of one
    # user share the temporary directory, and a binary built from another
    # tree's flaky_service.c may lack what this one's tests read.
    digest = hashlib.sha1(src.read_bytes()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / ("breakerd-flaky-%d-%s" % (
        os.getuid(), digest))
    cache.mkdir(exist_ok=True)
    out = cache / "flaky_service"
    if out.exists():
        return out
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libevent"],
                           capture_output=True, text=True).stdout.split()
    r = subprocess.run(["cc", "-std=c11", "-O1", "-g", "-D_GNU_SOURCE",
                        "-I", str(ROOT / "src"), "-I", str(ROOT / "include"),
                        "-o", str(out) + ".tmp", str(src),
                        str(ROOT / "src" / "util.c"),
                        str(ROOT / "src" / "log.c")] + flags,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("cannot build flaky_service:\n" + r.stderr)
    os.replace(str(out) + ".tmp", out)
    return out


class FlakyService:
    """The HTTP dependency whose health a test switches at run time.

    f.port serves /health (and every path) by mode; f.cport is the control
    port.  Modes: ok, error, slow, hang, refuse."""

    def __init__(self, mode="ok", slow_ms=None, name="flaky",
                 log_file=None):
        self.mode = mode
        self.slow_ms = slow_ms
        self.name = name
        self.log_file = log_file      # -l: one line per request
        self.port = None
        self.cport = None
        self.proc = None

    def start(self, timeout=10):
        """Start it and wait until the control port answers; returns port.
        Ports are free when chosen but bound later by the child: if another
        process took one meanwhile, it starts again on other ports."""
        exe = _build_flaky()
        for attempt in range(PORT_ATTEMPTS):
            self.port, self.cport = free_ports(2)
            args = self._args(exe)
            self.proc = Proc(args, name=self.name)
            try:
                wait_until(self._ready, timeout, 0.05,
                           "flaky_service did not start: %s" %
                           self.proc.log_text())
                return self.port
            except PortInUse:
                if attempt == PORT_ATTEMPTS - 1:
                    raise

    def _args(self, exe):
        """The command line (subclasses add options)."""
        args = [exe, "-p", self.port, "-c", self.cport, "-m", self.mode]
        if self.slow_ms is not None:
            args += ["-s", self.slow_ms]
        if self.log_file is not None:
            args += ["-l", self.log_file]
        return args

    def _ready(self):
        if not self.proc.alive():
            self.proc.wait(5)
            text = self.proc.log_text()
            if port_clash(text):
                raise PortInUse("flaky_service: a port was taken:\n" + text)
            raise AssertionError("flaky_service exited:\n" + text)
        try:
            self.stats()
            return True
        except OSError:
            return False

    def _control(self, path, timeout=5):
        url = "http://127.0.0.1:%d%s" % (self.cport, path)
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()

    def url(self, path="/health"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def set_mode(self, mode, slow_ms=None):
        """Switch the mode; slow_ms changes the delay of "slow"."""
        q = "/_control/mode?m=%s" % mode
        if slow_ms is not None:
            q += "&delay_ms=%d" % slow_ms
        self._control(q)
        self.mode = mode

    def stats(self):
        """The control port's JSON statistics (see docs/testing.md)."""
        return json.loads(self._control("/_control/stats"))

    def requests(self):
        """Alias of stats(): totals, per source / path / instance, recent."""
        return self.stats()

    def reset(self):
        """Zero the counters."""
        self._control("/_control/reset")

    def get(self, path="/health", timeout=5, headers=None):
        """One request to the service port: (status, body); raises OSError
        (e.g. ConnectionRefusedError, socket.timeout) when it does not
        answer."""
        req = urllib.request.Request(self.url(path), headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        if self.proc:
            self.proc.signal(signal.SIGTERM)
            return self.proc.wait(5)
        return None

    def kill(self):
        if self.proc:
            self.proc.kill()

    @property
    def log_path(self):
        return self.proc.log_path if self.proc else None


# ---------------------------------------------------------------- raw ZooKeeper

def try_dep_writes(z, base):
    """Try, one at a time, each write a breakerd makes under a
    dependency's znode base (set state, create override, join the
    election, delete state) through the MiniZk z; yield its ZkError, or
    None if it succeeded (for checks that a client without the credential
    may write nothing: lazily, so a check failing at one write stops the
    rest)."""
    writes = [lambda: z.set(base + "/state", b'{"state":"OPEN"}'),
              lambda: z.create(base + "/override", b'{"state":"OPEN"}'),
              lambda: z.create(base + "/election/n_", b"x",
                               sequential=True),
              lambda: z.delete(base + "/state")]
    for w in writes:
        err = None
        try:
            w()
        except ZkError as exc:
            err = exc
        yield err


class ZkError(Exception):
    """A ZooKeeper error reply; .code is the server's error number."""

    NAMES = {-4: "CONNECTIONLOSS", -101: "NONODE", -102: "NOAUTH",
             -103: "BADVERSION", -108: "NOCHILDRENFOREPHEMERALS",
             -110: "NODEEXISTS", -111: "NOTEMPTY", -112: "SESSIONEXPIRED"}

    def __init__(self, code, path=""):
        self.code = code
        super().__init__("%s (%d) %s" % (self.NAMES.get(code, "ZK error"),
                                         code, path))


class _Jute:
    """Big-endian jute encoding of the few records MiniZk needs."""

    def __init__(self, data=b""):
        self.out = bytearray()
        self.data = data
        self.pos = 0

    def int(self, v):
        self.out += v.to_bytes(4, "big", signed=True)
        return self

    def long(self, v):
        self.out += v.to_bytes(8, "big", signed=True)
        return self

    def bool(self, v):
        self.out.append(1 if v else 0)
        return self

    def buf(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.out += b
        return self

    def str(self, s):
        return self.buf(s.encode())

    def rint(self):
        v = int.from_bytes(self.data[self.pos:self.pos + 4], "big",
                           signed=True)
        self.pos += 4
        return v

    def rlong(self):
        v = int.from_bytes(self.data[self.pos:self.pos + 8], "big",
                           signed=True)
        self.pos += 8
        return v

    def rbuf(self):
        n = self.rint()
        if n < 0:
            return None
        v = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return v

    def rstr(self):
        b = self.rbuf()
        return None if b is None else b.decode()

    def rstat(self):
        keys = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
                "aversion", "ephemeralOwner", "dataLength", "numChildren",
                "pzxid")
        kinds = "lllliiilii" + "l"
        return {k: (self.rlong() if t == "l" else self.rint())
                for k, t in zip(keys, kinds)}


class MiniZk(_Closable):
    """A tiny synchronous ZooKeeper client (no watches, no reconnect) for
    tests that must read or write znodes directly: create, get, set,
    delete, exists, children.  Open ACL only.  Keep it short-lived: it
    sends no pings, so the session expires after timeout_ms idle."""

    OP_CREATE, OP_DELETE, OP_EXISTS, OP_GETDATA, OP_SETDATA = 1, 2, 3, 4, 5
    OP_GETCHILDREN, OP_CLOSE = 8, -11

    def __init__(self, hostport, timeout_ms=10000, sock_timeout=5):
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), sock_timeout)
        self.xid = 0
        req = _Jute().int(0).long(0).int(timeout_ms).long(0) \
            .buf(b"\0" * 16).bool(False)
        self._send(req.out)
        r = _Jute(self._recv())
        r.rint()
        self.timeout_ms = r.rint()
        self.session_id = r.rlong()
        if self.timeout_ms <= 0:
            self.sock.close()
            raise ZkError(-4, "session refused by %s" % hostport)
        if _ctx is not None:
            _ctx.clients.append(self)

    def _send(self, payload):
        self.sock.sendall(len(payload).to_bytes(4, "big") + bytes(payload))

    def _recvn(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ZkError(-4, "connection closed")
            data += chunk
        return data

    def _recv(self):
        return self._recvn(int.from_bytes(self._recvn(4), "big"))

    def _call(self, op, body, path):
        self.xid += 1
        self._send(_Jute().int(self.xid).int(op).out + body.out)
        while True:
            r = _Jute(self._recv())
            xid, _zxid, err = r.rint(), r.rlong(), r.rint()
            if xid == self.xid:
                break            # skip pings (-2) and watch events (-1)
        if err != 0:
            raise ZkError(err, path)
        return r

    def create(self, path, data=b"", ephemeral=False, sequential=False,
               makepath=False):
        """Create a znode; returns the created path."""
        if isinstance(data, str):
            data = data.encode()
        if makepath:
            parts = path.strip("/").split("/")[:-1]
            for i in range(len(parts)):
                try:
                    self.create("/" + "/".join(parts[:i + 1]))
                except ZkError as exc:
                    if exc.code != -110:
                        raise
        flags = (1 if ephemeral else 0) | (2 if sequential else 0)
        body = _Jute().str(path).buf(data).int(1).int(31).str("world") \
            .str("anyone").int(flags)
        return self._call(self.OP_CREATE, body, path).rstr()

    def get(self, path):
        """(data bytes, stat dict)."""
        r = self._call(self.OP_GETDATA, _Jute().str(path).bool(False), path)
        data = r.rbuf()
        return data, r.rstat()

    def set(self, path, data, version=-1):
        """Set data; returns the new stat."""
        if isinstance(data, str):
            data = data.encode()
        body = _Jute().str(path).buf(data).int(version)
        return self._call(self.OP_SETDATA, body, path).rstat()

    def delete(self, path, version=-1):
        self._call(self.OP_DELETE, _Jute().str(path).int(version), path)

    def exists(self, path):
        """The stat, or None if there is no such node."""
        try:
            return self._call(self.OP_EXISTS, _Jute().str(path).bool(False),
                              path).rstat()
        except ZkError as exc:
            if exc.code == -101:
                return None
            raise

    def children(self, path):
        """Sorted child names."""
        r = self._call(self.OP_GETCHILDREN, _Jute().str(path).bool(False),
                       path)
        n = r.rint()
        return sorted(r.rstr() for _ in range(max(n, 0)))

    def close(self):
        """End the session (ephemerals go at once) and the connection."""
        try:
            self.xid += 1
            self._send(_Jute().int(self.xid).int(self.OP_CLOSE).out)
            self._recv()
        except (OSError, ZkError):
            pass
        super().close()
