"""test_logs.py - what an operator reads while ZooKeeper is down.

With its ensemble unreachable, the ZooKeeper client library logs about a
hundred retry lines a second.  breakerd logs the change of condition once,
with its cause, counts the library's repeats, and says how many there were
when the session is back.  The test takes one standalone ZooKeeper server
down for 30 s under a connected daemon and counts the lines written.
"""

import time

from bdlib import Daemon, Ensemble, current, wait_until

TIMEOUT = 120
OUTAGE_S = 30
MAX_LINES = 20  # what the outage may cost; without rate limiting: ~3500


def _status(d):
    try:
        return d.status()
    except Exception:  # noqa: BLE001 - a busy daemon answers next time
        return {}


def _lines(d):
    return d.log_text().splitlines()


def test_outage_writes_bounded_log_lines():
    e = Ensemble(size=1, rdir=current().run_dir / "zk").start()
    current().ensembles.append(e)
    d = Daemon("inst-a", deps=["payments"], zk=e,
               overrides={"log_level": "info"}).start()
    wait_until(lambda: _status(d).get("zk_connected") == "1", 20,
               msg="daemon connected")
    before = len(_lines(d))
    e.stop()
    wait_until(lambda: any("connection lost" in ln for ln in
                           _lines(d)[before:]), 20,
               msg="daemon saw the connection go")
    t0 = time.monotonic()
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t0)))
    during = _lines(d)[before:]
    e.start()  # same ports
    back = wait_until(lambda: [ln for ln in _lines(d)[before:]
                               if "reachable again after" in ln], 30,
                      msg="daemon logged the session's return")
    lost = [ln for ln in during if "connection lost (" in ln]
    assert len(lost) == 1, "one line for the change, with its cause:\n" + \
        "\n".join(during)
    assert len(during) <= MAX_LINES, \
        "%d lines in a %d s outage:\n%s" % (len(during), OUTAGE_S,
                                           "\n".join(during[:60]))
    # The library did try (and was counted): the suppression is real.
    n = int(back[0].split("; ", 1)[1].split()[0])
    assert n >= 10, back[0]
    assert "similar messages in the last" in back[0], back[0]
