"""Drives `kubectl exec -it POD -- sh` (or `kubectl attach -it POD` to a container running a
shell with `stdin` and `tty`, or `kubectl run -it --rm` of a busybox shell named POD) through a
pseudo-terminal, as a person at a terminal would: types a
command, interrupts a sleep with ^C, and exits with a status. Prints what the terminal showed
after each step (as Python reprs, one per line) and kubectl's exit code last.

usage: terminal.py exec|attach|run POD
"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

mode, pod = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    # A 33x111 terminal: kubectl sends its size, the shell's `stty size` shows it.
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    if mode == "exec":
        os.execvp("kubectl", ["kubectl", "exec", "-it", pod, "--", "sh"])
    if mode == "run":
        os.execvp("kubectl", ["kubectl", "run", "-it", "--rm", "--restart=Never",
                              "--image=busybox", pod, "--", "sh"])
    os.execvp("kubectl", ["kubectl", "attach", "-it", pod])


def read_until(wanted, limit=15.0):
    """What the terminal shows until `wanted` appears (or the limit passes)."""
    out = b""
    end = time.time() + limit
    while time.time() < end and wanted not in out:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


if mode in ("attach", "run"):
    # The shell printed its prompt before anyone was attached: Enter asks for a new one.
    print(repr(read_until(b"try pressing enter.")))
    os.write(fd, b"\r")
# The prompt (after the Enter, when attached: the shell's first one may come before it or not).
print(repr(read_until(b"# " if mode == "exec" else b"\r\n# ")))
os.write(fd, b"echo hi\r")
print(repr(read_until(b"hi\r\n# ")))
# Line editing: up recalls `echo hi`, two lefts, an X typed in the middle.
os.write(fd, b"\x1b[A\x1b[D\x1b[DX\r")
print(repr(read_until(b"Xhi\r\n# ")))
os.write(fd, b"sleep 100\r")
time.sleep(0.5)
started = time.time()
os.write(fd, b"\x03")
print(repr(read_until(b"# ")))
print("interrupted in %.1f s" % (time.time() - started))
os.write(fd, b"stty size\r")
print(repr(read_until(b"111\r\n# ")))
os.write(fd, b"exit 7\r")
print(repr(read_until(b"exit code 7" if mode == "exec" else b"\0", 10)))
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
