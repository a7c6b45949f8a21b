"""Test-only fault injection: named checkpoints where a test can have the process killed.

``checkpoint(name)`` marks a point of ingest, build, export or publication. With the environment
variable ``FOXWAREHOUSE_FAULT`` set to ``name`` (or ``name#N`` for its N-th hit), the process sends
itself SIGKILL there, as a power cut or an OOM killer would (``FOXWAREHOUSE_FAULT_ACTION=sleep:S``
pauses S seconds there instead, to hold the warehouse open; ``signal:INT`` or ``signal:TERM`` sends
the process that signal there, as a Ctrl-C or a ``kill`` landing at exactly that point). With ``FOXWAREHOUSE_FAULT_LIST`` set to
a file path, every checkpoint hit is appended to that file (one name per line), which is how the
crash-safety sweep enumerates the points. Both variables are read once, at import; when neither is
set, a checkpoint is one global lookup and a return.
"""
from __future__ import annotations

import os
import signal
import time

_FAULT = os.environ.get("FOXWAREHOUSE_FAULT") or None
_LIST = os.environ.get("FOXWAREHOUSE_FAULT_LIST") or None
_ACTION = os.environ.get("FOXWAREHOUSE_FAULT_ACTION") or "kill"
ACTIVE = _FAULT is not None or _LIST is not None
_hits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """A point where a test may kill the process (no-op unless a FOXWAREHOUSE_FAULT* variable is set)."""
    if not ACTIVE:
        return
    _hit(name)


def _hit(name: str) -> None:
    count = _hits[name] = _hits.get(name, 0) + 1
    if _LIST is not None:
        with open(_LIST, "a", encoding="utf-8") as fh:
            fh.write(name.replace("\n", "\\n") + "\n")
    if _FAULT is not None and (_FAULT == name or _FAULT == f"{name}#{count}"):
        if _ACTION.startswith("sleep:"):
            time.sleep(float(_ACTION.split(":", 1)[1]))
            return
        if _ACTION.startswith("signal:"):
            os.kill(os.getpid(), getattr(signal, "SIG" + _ACTION.split(":", 1)[1]))
            return
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
