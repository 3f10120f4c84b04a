"""test_identity.py - an instance id is one daemon's: a second breakerd
started with an id that a live session holds is refused with a clear
error (after waiting long enough for a killed predecessor's session to
expire), and the first one is not disturbed.
"""

import time

from bdlib import Daemon, Ensemble, MiniZk, current, wait_until, zk_root

SHARED_ENSEMBLE = True
DEPS = ["payments"]


def test_duplicate_instance_id_refused(ens):
    first = Daemon("inst-a", deps=DEPS, zk=ens).start()
    wait_until(lambda: first.status().get("registered") == "1", 15,
               msg="first instance registered")
    timeout_ms = int(first.status()["zk_timeout_ms"])
    # Same instance id, its own socket and log.
    dup = Daemon("inst-a-dup", deps=DEPS, zk=ens,
                 overrides={"instance_id": "inst-a"})
    dup.start()
    # While it waits (it says so: it has seen the id taken), it has joined
    # no election: only the first daemon's candidate node is there.
    wait_until(lambda: 'membership: %s/instances/inst-a is held by session'
               % zk_root() in dup.log_text(), 10,
               msg="the duplicate never saw the id taken:\n" +
               dup.log_text()[-2000:])
    with MiniZk(ens.host(1)) as z:
        kids = z.children("%s/deps/payments/election" % zk_root())
    assert len(kids) == 1, kids
    # It waits up to 2T + 1 s for the holder's session to expire, then
    # gives up; bound generously for a loaded machine.
    status = dup.wait_exit(2 * timeout_ms / 1000.0 + 15)
    assert status is not None, "duplicate still running:\n" + dup.log_text()
    assert status != 0, status
    log = dup.log_text()
    assert 'instance id "inst-a" is already registered by another live ' \
        'session' in log, log
    # The words a daemon logs when it leads (the first one did).
    for lead in ("leader (owner checked)", "prober: payments: leading"):
        assert lead in first.log_text(), lead
        assert lead not in log, log
    # The first daemon is untouched: still registered, still answering.
    st = first.status()
    assert st.get("registered") == "1" and st.get("ready") == "1", st
    assert first.cmd("GET payments").startswith("OK payments ")


def test_restart_with_same_id_after_kill(ens):
    """A killed daemon's successor with the same id waits for the old
    session to expire instead of refusing at once."""
    d = Daemon("inst-b", deps=DEPS, zk=ens).start()
    wait_until(lambda: d.status().get("registered") == "1", 15,
               msg="registered")
    d.kill()
    again = Daemon("inst-b-again", deps=DEPS, zk=ens,
                   overrides={"instance_id": "inst-b"}).start()
    wait_until(lambda: again.status().get("registered") == "1", 20,
               msg="the successor registers once the old session expired")
    assert again.alive()


def test_restart_with_same_id_across_quorum_loss():
    """A killed daemon's successor waits for the old session to expire;
    if the ensemble loses its quorum meanwhile, the new leader gives every
    session a fresh timeout, so the old one lives on after the outage.  The
    wait must count connected time: the successor registers once the old
    session is gone, and does not give up as if the id were another
    daemon's (chaos once saw both restarted instances exit that way)."""
    e = Ensemble(size=3, rdir=current().run_dir / "zk3").start()
    try:
        d = Daemon("inst-q", deps=DEPS, zk=e).start()
        wait_until(lambda: d.status().get("registered") == "1", 15,
                   msg="registered")
        timeout_s = int(d.status()["zk_timeout_ms"]) / 1000.0
        d.kill()
        again = Daemon("inst-q-again", deps=DEPS, zk=e,
                       overrides={"instance_id": "inst-q"}).start()
        wait_until(lambda: "is held by session" in again.log_text(), 10,
                   msg="the successor never saw the old node:\n" +
                   again.log_text()[-2000:])
        seen = time.monotonic()
        # No quorum for longer than the successor's whole wait (2T + 1 s).
        down = [n for n in (1, 2, 3) if n != 1][:2]
        for n in down:
            e.kill(n)
        while time.monotonic() - seen < 2 * timeout_s + 3:
            assert again.alive(), "successor exited during the outage:\n" \
                + again.log_text()[-2000:]
            time.sleep(0.2)
        for n in down:
            e.restart(n)
        e.wait()
        wait_until(lambda: not again.alive() or
                   again.status().get("registered") == "1",
                   4 * timeout_s + 20,
                   msg="the successor registers after the outage")
        log = again.log_text()
        assert again.alive(), "successor exited:\n" + log[-3000:]
        assert "already registered by another live session" not in log, log
    finally:
        e.stop()
