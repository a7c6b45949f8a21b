"""The process entry point: ``python -m foxwarehouse`` and the ``foxwarehouse`` console script.

Its own imports are trivial on purpose. The Ctrl-C / SIGTERM handlers (foxwarehouse.interrupts) go
in first, and only then is the CLI imported, inside the ``try``: importing it loads DuckDB, sqlglot
and pyarrow, a few hundred milliseconds during which a Ctrl-C must print one line too.
A signal that arrives before this module runs (Python's own start-up, some 20-50 ms) is Python's.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from . import interrupts


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line in this process with the signal handling of a real run; the exit code."""
    try:
        interrupts.install()
        # A signal during these imports takes effect once they are done (well under a second): a
        # KeyboardInterrupt inside a C extension's initialisation (DuckDB's nanobind) aborts the
        # process, and one that passes through an embedded interpreter call makes Python re-kill
        # itself with SIGINT at exit, whatever exit code we chose.
        with interrupts.deferred():
            from .cli import main

        return main(argv)
    except KeyboardInterrupt as exc:   # also SIGTERM (interrupts.Terminated)
        return interrupts.report(exc)
    except Exception as exc:
        # DuckDB turns a signal it notices itself into "RuntimeError: Query interrupted".
        if interrupts.signalled() is None:
            raise
        return interrupts.report(exc)


def entry() -> None:
    code = run()
    interrupts.done()
    sys.exit(code)


if __name__ == "__main__":
    entry()
