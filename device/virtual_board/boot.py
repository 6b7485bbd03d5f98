# Runs inside MicroPython's unix port (not CPython) when the virtual board boots:
# it makes the sandbox look like a board's flash, then runs boot.py and main.py
# the way a board's firmware does after a reset.
import os
import sys

os.umount("/")
os.mount(os.VfsPosix(os.getenv("NEUROEDGE_BOARD_ROOT")), "/")  # '/' is the board's flash
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]


class _OS:  # MicroPython cannot make module objects; an object with the same names will do
    pass


_os = _OS()
for _name in dir(os):
    setattr(_os, _name, getattr(os, _name))


# VfsPosix with a root folder resolves both paths of rename() into one shared buffer,
# so the first is lost (ENOENT); a root-less VfsPosix given host paths does it right.
def _rename(old, new, _host=os.VfsPosix(), _root=os.getenv("NEUROEDGE_BOARD_ROOT"), _os=os):
    def host(p):
        return _root + (p if p.startswith("/") else _os.getcwd().rstrip("/") + "/" + p)

    _host.rename(host(old), host(new))


_os.rename = _rename

if os.getenv("NEUROEDGE_BOARD_FLASH"):
    # The flash a board has (the host disk is far larger): os.statvfs reports this
    # size, less what the files on it take, so "does it fit" checks meet real limits.
    def _used(path):
        total = 0
        for entry in os.ilistdir(path):
            full = path.rstrip("/") + "/" + entry[0]
            total += _used(full) if entry[1] == 0x4000 else os.stat(full)[6]
        return total

    def _statvfs(path, _flash=int(os.getenv("NEUROEDGE_BOARD_FLASH"))):
        blocks = _flash // 4096
        free = max(0, blocks - (_used("/") + 4095) // 4096)
        return (4096, 4096, blocks, free, free, 0, 0, 0, 0, 255)

    _os.statvfs = _statvfs
sys.modules["os"] = _os  # `import os` on this board finds these
del _name, _os, _OS, _rename

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
