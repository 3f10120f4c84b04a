#!/usr/bin/env python3
"""run.py - breakerd's integration test runner (Python 3 stdlib only).

    python3 tests/integration/run.py [-k SUBSTR] [--keep-logs]
                                     [--timeout S] [files...]

Discovers tests/integration/test_*.py (or the files given), runs every
module-level test_* function in definition order, each with a fresh run
directory and a fresh harness context, and kills whatever a test started
when it ends.  One line per test (PASS/FAIL/SKIP); a failure prints its
traceback and the tails of its logs, and keeps its run directory.  The last
line is "integration: N passed, N failed[, N skipped]"; exit status 1 if
any test failed.  Under CI=true a skip is a failure unless the test said
the machine cannot do it (bdlib.unable()): a CI run without ZooKeeper,
say, is red, not green with most tests skipped.

A test function takes no arguments, or arguments by name: ens/ensemble/zk
(bdlib.zk_ensemble()), run_dir/tmp (its run directory).  A module may set
SHARED_ENSEMBLE = True (one ZooKeeper ensemble for all its tests, each with
its own root), TIMEOUT = seconds, and a function may set fn.timeout.
"""

import argparse
import importlib.util
import inspect
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The tests import each other from here and the shared bdlib (and the
# scripts they test) from scripts/.
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[1] / "scripts"))

import bdlib  # noqa: E402


def _alarm(_signum, _frame):
    raise bdlib.TestTimeout("test timed out")


def load_module(path):
    """Import a test file as a module named after it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    spec.loader.exec_module(mod)
    return mod


def test_functions(mod):
    """The module's own test_* functions, in source order."""
    fns = [f for n, f in vars(mod).items()
           if n.startswith("test_") and inspect.isfunction(f)
           and f.__module__ == mod.__name__]
    return sorted(fns, key=lambda f: f.__code__.co_firstlineno)


def call_args(fn, rdir):
    """Arguments for fn by parameter name."""
    kw = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in ("ens", "ensemble", "zk"):
            kw[p.name] = bdlib.zk_ensemble()
        elif p.name in ("run_dir", "tmp"):
            kw[p.name] = Path(rdir)
        elif p.default is inspect.Parameter.empty:
            raise TypeError("%s: unknown parameter %r" % (fn.__name__,
                                                          p.name))
    return kw


def print_logs(ctx, shared):
    """Tails of everything a failed test started."""
    for d in ctx.daemons:
        print("---- %s (%s) last lines:" % (d.name, d.log_path))
        print(bdlib.tail(d.log_path, 40))
    daemon_logs = {str(d.log_path) for d in ctx.daemons}
    for p in ctx.procs:
        if str(p.log_path) not in daemon_logs:
            print("---- %s (%s) last lines:" % (p.name, p.log_path))
            print(bdlib.tail(p.log_path, 15))
    ens = list(ctx.ensembles)
    if ctx.used_shared and shared.ensemble is not None:
        ens.append(shared.ensemble)
    for e in ens:
        for n in range(1, e.size + 1):
            print("---- zk server %d (%s) last lines:" % (n, e.log_path(n)))
            lines = [ln for ln in bdlib.tail(e.log_path(n), 400)
                     .splitlines() if "Processing" not in ln]
            print("\n".join(lines[-8:]))


def run_one(fn, mod, rdir, shared, timeout):
    """Run one test; returns ("PASS"|"FAIL"|"SKIP", detail, context)."""
    name = "%s::%s" % (mod.__name__, fn.__name__)
    ctx = bdlib.begin_test(name, rdir, shared, mod)
    status, detail = "PASS", ""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        fn(**call_args(fn, rdir))
    except bdlib.Unable as exc:
        status, detail = "SKIP", str(exc)
    except bdlib.Skip as exc:
        status, detail = "SKIP", str(exc)
        if bdlib.in_ci():
            # Only what the machine cannot do may skip in CI (unable());
            # a missing component or a broken precondition is a failure.
            status = "FAIL"
            detail = "skipped under CI=true (only bdlib.unable() may " \
                "skip in CI): %s\n" % exc
    except bdlib.TestTimeout:
        status = "FAIL"
        detail = "timed out after %ss\n%s" % (timeout,
                                             traceback.format_exc())
    except Exception:
        status, detail = "FAIL", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    problems = bdlib.end_test()
    if problems:
        status = "FAIL"
        detail += "sanitizer/crash report in a log:\n  " + \
            "\n  ".join(problems)
    return status, detail, ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="substr", default=None,
                    help="run only tests whose module::name contains this")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep every test's run directory")
    ap.add_argument("--timeout", type=float, default=120,
                    help="per-test timeout in seconds (default 120)")
    ap.add_argument("--dir", default=None,
                    help="where run directories go (default a new "
                    "breakerd-it-* under $TMPDIR)")
    ap.add_argument("files", nargs="*")
    opts = ap.parse_args()

    bdlib.install_signal_handlers()
    files = [Path(f).resolve() for f in opts.files] or \
        sorted(HERE.glob("test_*.py"))
    base = Path(opts.dir) if opts.dir else \
        Path(tempfile.mkdtemp(prefix="breakerd-it-"))
    base.mkdir(parents=True, exist_ok=True)
    if opts.keep_logs:
        os.environ["BREAKERD_KEEP_LOGS"] = "1"
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    try:
        for path in files:
            run_file(path, base, opts, counts)
    except KeyboardInterrupt:
        print("interrupted")
        bdlib.end_test()
        counts["FAIL"] += 1
    finally:
        for e in list(bdlib._all_ensembles):
            e.stop()
    if counts["FAIL"] == 0 and not opts.keep_logs:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print("logs kept in %s" % base)
    line = "integration: %d passed, %d failed" % (counts["PASS"],
                                                   counts["FAIL"])
    if counts["SKIP"]:
        line += ", %d skipped" % counts["SKIP"]
    print(line, flush=True)
    return 1 if counts["FAIL"] else 0


def run_file(path, base, opts, counts):
    """Run the selected tests of one file, with its shared ensemble."""
    try:
        mod = load_module(path)
    except Exception:
        print("FAIL %s (import)\n%s" % (path.name, traceback.format_exc()))
        counts["FAIL"] += 1
        return
    fns = [f for f in test_functions(mod)
           if not opts.substr or opts.substr in
           "%s::%s" % (mod.__name__, f.__name__)]
    if not fns:
        return
    shared = None
    mdir = base / mod.__name__
    if getattr(mod, "SHARED_ENSEMBLE", False):
        shared = bdlib._SharedEnsemble(mdir / "zk-shared")
    failed = False
    try:
        for fn in fns:
            rdir = mdir / fn.__name__
            timeout = getattr(fn, "timeout", getattr(mod, "TIMEOUT",
                                                     opts.timeout))
            t0 = time.monotonic()
            status, detail, ctx = run_one(fn, mod, rdir, shared, timeout)
            counts[status] += 1
            took = time.monotonic() - t0
            if status == "PASS":
                print("PASS %s (%.1fs)" % (fn.__name__, took), flush=True)
                if not opts.keep_logs:
                    shutil.rmtree(rdir, ignore_errors=True)
            elif status == "SKIP":
                print("SKIP %s: %s" % (fn.__name__, detail), flush=True)
                if not opts.keep_logs:
                    shutil.rmtree(rdir, ignore_errors=True)
            else:
                failed = True
                print("FAIL %s (%.1fs)\n%s\n     run dir: %s" % (
                    fn.__name__, took, detail.rstrip(), rdir))
                print_logs(ctx, shared)
                sys.stdout.flush()
    finally:
        if shared is not None:
            shared.stop()
    if not failed and not opts.keep_logs:
        shutil.rmtree(mdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
