# Runs inside MicroPython's unix port (not CPython) when the virtual board boots:
# it makes the sandbox look like a board's flash, then runs boot.py and main.py
# the way a board's firmware does after a reset.
import os
import sys

os.umount("/")
os.mount(os.VfsPosix(os.getenv("NEUROEDGE_BOARD_ROOT")), "/")  # '/' is the board's flash
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]
# A board runs main.py only when it resets into the friendly REPL; a soft reset
# from the raw REPL (mpremote) runs boot.py alone.
_run = ["boot.py"] if os.getenv("NEUROEDGE_BOARD_MODE") == "raw" else ["boot.py", "main.py"]
del os, sys
_f = _code = None
for _name in _run:
    try:
        _f = open(_name)
    except OSError:
        continue
    _code = _f.read()
    _f.close()
    exec(_code)
del _name, _run, _code, _f
