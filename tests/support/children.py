"""Child processes of a test driver that never outlive it.

ctest's timeout kills only the driver, so every server, load generator or proxy it starts gets
PR_SET_PDEATHSIG (SIGKILL when the driver dies), and kill_children() ends the rest on the way
out. Standard library only: the drivers run under /usr/bin/python3 and in the client venv.

    import children
    proc = children.spawn([server, "--listen=127.0.0.1:0"], stderr=log)
    ...
    children.kill_children()  # in a finally
"""
import ctypes
import signal
import subprocess

PR_SET_PDEATHSIG = 1

_children = []


def die_with_parent():
    """In the child before exec: SIGKILL when the driver dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(cmd, **kwargs):
    """subprocess.Popen that dies with the driver and is killed by kill_children()."""
    proc = subprocess.Popen(cmd, preexec_fn=die_with_parent, **kwargs)
    _children.append(proc)
    return proc


def kill_children():
    for proc in _children:
        if proc.poll() is None:
            proc.kill()
    for proc in _children:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
