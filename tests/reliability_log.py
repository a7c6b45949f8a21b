"""What the reliability suite tried and what happened, as JSON lines for docs/RELIABILITY.md.

Each test of the adversarial suite calls `record(...)` once per case it checked (after its checks
passed, so a line means "tried, and nothing was lost"). Lines go to the file named by
``FOXWAREHOUSE_RELIABILITY_LOG``, else ``.reliability/log.jsonl`` at the repository root. Every
line carries the session id of the pytest process that wrote it; each test module's teardown calls
`complete()`, and `tests/make_reliability_report.py` renders the newest completed session of each
suite into docs/RELIABILITY.md.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOG = ROOT / ".reliability" / "log.jsonl"
SESSION = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"


def log_path() -> Path:
    return Path(os.environ.get("FOXWAREHOUSE_RELIABILITY_LOG") or DEFAULT_LOG)


MAX_LOG_BYTES = 5_000_000
COMPLETE = "__complete__"
_pruned = False
_recorded: set[str] = set()
_completed: set[str] = set()


def record(suite: str, case: str, outcome: str, **details: Any) -> None:
    """Append one case: `suite` (e.g. bad_inputs), `case` (its name), `outcome` (what happened)."""
    global _pruned
    entry = {"session": SESSION, "time": time.time(), "suite": suite, "case": case, "outcome": outcome, **details}
    if case != COMPLETE:
        _recorded.add(suite)
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _pruned:
            _pruned = True
            _prune(path)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
    except OSError:
        pass  # a read-only checkout still runs the suite; only the report goes stale


def complete() -> None:
    """Mark every suite this session recorded as finished (a test module's teardown calls this), so
    the report never picks a session that was still running or was cut short."""
    for suite in sorted(_recorded - _completed):
        _completed.add(suite)
        record(suite, COMPLETE, "finished")


def _prune(path: Path) -> None:
    """Keep the log small: past MAX_LOG_BYTES, keep only the newest session of each suite."""
    if not path.exists() or path.stat().st_size < MAX_LOG_BYTES:
        return
    entries = read(path)
    newest: dict[str, tuple[float, str]] = {}
    for e in entries:
        if e["time"] >= newest.get(e["suite"], (0.0, ""))[0]:
            newest[e["suite"]] = (e["time"], e["session"])
    keep = [e for e in entries if newest[e["suite"]][1] == e["session"]]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e, ensure_ascii=False, default=str) + "\n" for e in keep), encoding="utf-8")
    os.replace(tmp, path)


def read(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or log_path()
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a killed run
    return out
