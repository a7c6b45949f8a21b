"""Progress of a `plan`: how long each stage (ingest, build, export) and each model took.

A :class:`Progress` times the stages ``pipeline.plan`` runs and reports one line per finished
stage (``build took 0.41 s``) through its `note` callable. The command line prints these lines on
stderr (stdout stays the plan summary): as they come on a terminal, else after the plan succeeded,
with the ingest report, so that a failing plan still prints its one error line and nothing else. With `verbose`, the steps inside a stage (one per model)
get a line each too. When the stream is a terminal and a stage runs longer than `tick_after`
seconds, a progress line (``build... 12 s``) is redrawn once a second and wiped when the stage ends,
so a long plan is never silent.

Code deep inside a stage (the build's model loop) reports its steps through :func:`step`, which
uses the Progress of the ``plan`` in progress, if any (a context variable: no parameter needs to be
passed down, and without a plan in progress it only runs the block). :meth:`Progress.record`
gives the same figures as data for the run record.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

_CURRENT: contextvars.ContextVar[Progress | None] = contextvars.ContextVar("foxwarehouse_progress", default=None)


def format_seconds(seconds: float) -> str:
    """0.0412 -> '0.04 s'; 83.2 -> '83.2 s' (two significant decimals below 10 s)."""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


class Progress:
    """The stage and step times of one plan, reported as they finish (see the module docstring)."""

    def __init__(self, note: Callable[[str], None] | None = None, verbose: bool = False,
                 stream: TextIO | None = None, tick_after: float = 2.0, clock: Callable[[], float] = time.perf_counter):
        self.note = note
        self.verbose = verbose
        self.stream = stream
        self.tick_after = tick_after
        self.clock = clock
        self.stages: dict[str, float] = {}
        self.steps: dict[str, dict[str, float]] = {}
        self._stage: str | None = None

    # -- stages ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the stage `name`; its line is reported when it ends without an error."""
        token = _CURRENT.set(self)
        outer, self._stage = self._stage, name
        ticker = self._start_ticker(name)
        start = self.clock()
        try:
            yield
        finally:
            elapsed = self.clock() - start
            if ticker is not None:
                ticker()
            self._stage = outer
            _CURRENT.reset(token)
        self.stages[name] = self.stages.get(name, 0.0) + elapsed
        self._say(f"{name} took {format_seconds(elapsed)}")

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step (a model) of the current stage; a line with `verbose`."""
        start = self.clock()
        yield
        elapsed = self.clock() - start
        stage = self._stage or "plan"
        self.steps.setdefault(stage, {})[name] = elapsed
        if self.verbose:
            self._say(f"  {stage}: {name} took {format_seconds(elapsed)}")

    def record(self) -> dict[str, Any]:
        """The figures as data: ``{"stages": {stage: seconds}, "steps": {stage: {step: seconds}}}``."""
        rounded = {name: round(seconds, 4) for name, seconds in self.stages.items()}
        steps = {stage: {name: round(s, 4) for name, s in items.items()} for stage, items in self.steps.items()}
        return {"stages": rounded, "steps": steps}

    # -- output ---------------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        if self.note is not None:
            self.note(line)

    def _start_ticker(self, name: str) -> Callable[[], None] | None:
        """On a terminal: a thread redrawing ``NAME... N s`` once a second after `tick_after` seconds.

        Returns the function that stops it and wipes the line (None when not on a terminal).
        """
        stream = self.stream
        if stream is None or not is_terminal(stream):
            return None
        stop = threading.Event()
        drawn = threading.Event()
        start = self.clock()

        def run() -> None:
            if stop.wait(self.tick_after):
                return
            while not stop.is_set():
                with contextlib.suppress(OSError, ValueError):
                    stream.write(f"\r{name}... {self.clock() - start:.0f} s\033[K")
                    stream.flush()
                    drawn.set()
                stop.wait(1.0)

        thread = threading.Thread(target=run, name=f"foxwarehouse-progress-{name}", daemon=True)
        thread.start()

        def finish() -> None:
            stop.set()
            thread.join(timeout=2.0)
            if drawn.is_set():
                with contextlib.suppress(OSError, ValueError):
                    stream.write("\r\033[K")
                    stream.flush()

        return finish


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def current() -> Progress | None:
    """The Progress of the plan in progress in this context, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Time a step (a model) of the running stage for its plan's Progress; only runs the block without one."""
    progress = _CURRENT.get()
    if progress is None:
        yield
        return
    with progress.step(name):
        yield
