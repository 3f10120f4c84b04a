"""test_fresh_machine.py - the first `make` on a machine without our
packages, in a fresh bookworm container (scripts/fresh-machine-check.sh
--quick): one `make deps all test-bins` must install the build and
library packages and then build, i.e. the Makefile asks pkg-config only
after `deps` ran, and the unit tests pass there.

Runs under CI=true (or BREAKERD_FRESH_CHECK=1) when a Docker engine
answers and its containers reach the Debian mirror; skipped, with the
reason, otherwise (about four minutes, mostly apt-get).  The README's
full commands (`make demo`, `make test`) in such a container are
`scripts/fresh-machine-check.sh [--full]`, run by hand.
"""

import os
import shutil
import subprocess

from bdlib import ROOT, Skip

TIMEOUT = 900


def test_first_make_on_a_fresh_machine():
    if os.environ.get("CI") != "true" and \
            os.environ.get("BREAKERD_FRESH_CHECK") != "1":
        raise Skip("runs under CI=true or BREAKERD_FRESH_CHECK=1 (a fresh "
                   "container installs packages: minutes)")
    if shutil.which("docker") is None or \
            subprocess.run(["docker", "version"],
                           capture_output=True).returncode != 0:
        raise Skip("no Docker engine answers")
    r = subprocess.run([str(ROOT / "scripts" / "fresh-machine-check.sh"),
                        "--quick"], capture_output=True, text=True,
                       timeout=TIMEOUT - 30)
    if r.returncode == 77:
        raise Skip("fresh-machine-check: " + r.stderr.strip()[-300:])
    assert r.returncode == 0, "the first make on a fresh machine " \
        "failed:\n%s%s" % (r.stdout, r.stderr)
    assert "unit: " in r.stderr and " 0 failed" in r.stderr, r.stderr
    print("     " + [ln for ln in r.stderr.splitlines()
                     if "fresh-machine-check: BREAKERD_DEPS" in ln][-1:][0]
          if "fresh-machine-check: BREAKERD_DEPS" in r.stderr else "")
