"""Calls that could block on a FIFO, run with a deadline: a helper process opens the FIFOs
for writing after a few seconds, so a reader blocked in ``open()`` returns then and a
regression fails on its time instead of hanging the suite (a thread could not help: the
blocked reader may hold the GIL)."""

import subprocess
import sys
import time

UNBLOCK = """
import os, sys, time
time.sleep(float(sys.argv[1]))
end = time.monotonic() + 20
while time.monotonic() < end:  # a reader blocked in open() waits for a writer
    for fifo in sys.argv[2:]:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: nobody is reading
            pass
    time.sleep(0.2)
"""


def refusal(fn, *args, fifos=(), after_s=6.0, **kwargs):
    """``(exception raised or None, seconds)`` of ``fn(*args, **kwargs)``; with ``fifos``, a
    helper process unblocks readers waiting on them after ``after_s`` seconds."""
    helper = None
    if fifos:
        helper = subprocess.Popen([sys.executable, "-c", UNBLOCK, str(after_s),
                                   *map(str, fifos)])
    start = time.monotonic()
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - returned for the test to check
        raised = exc
    else:
        raised = None
    finally:
        elapsed = time.monotonic() - start
        if helper is not None:
            helper.kill()
            helper.wait()
    return raised, elapsed
