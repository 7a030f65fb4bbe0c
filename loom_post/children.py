"""Forked children that end with their parent.

The pipeline's workers and the guard's brotli process are forked; a parent
killed by a signal (an editor closing, CI cancelling a job) would otherwise
leave them running on a large module. Process plumbing, below every layer
that forks.
"""


def die_with_parent(parent):
    """End this (forked) process when `parent` dies, however it dies: Linux's
    PR_SET_PDEATHSIG, else a daemon thread polling the parent pid."""
    import os
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's clean-up handler
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG = 1
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        import threading
        import time

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)
