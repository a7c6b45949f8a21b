"""Ctrl-C and SIGTERM: one line, exit 130 / 143, no traceback, a running DuckDB statement
stopped within a second, and what is on disk as after a kill.

This module owns:

* ``install()``, called once by the process entry point (``foxwarehouse/__main__.py``) before the
  CLI is imported: SIGINT raises ``KeyboardInterrupt`` and SIGTERM raises ``Terminated``, a
  KeyboardInterrupt, so every rollback, ``finally`` and staging cleanup that handles Ctrl-C
  handles SIGTERM the same way.
* The DuckDB watcher. Python runs a signal handler only between bytecodes of the main thread, never
  while the main thread is inside a DuckDB statement (C++ with the GIL released), which may run
  for minutes. So ``install()`` also points ``signal.set_wakeup_fd`` at a socket pair, and a
  daemon thread waiting on it calls ``interrupt()`` on every live DuckDB connection of the process
  until the main thread is back in Python and its handler has run. The statement then fails with
  DuckDB's InterruptException within milliseconds and the handler raises.
* ``deferred()`` / ``critical()``: a short stretch (publishing a plan and recording its run as
  exported) during which a signal is only noted and takes effect once the stretch is done, with a
  note saying what state it left.
* ``signalled()`` and ``report()``: what the CLI prints and returns; ``done()``: signals after the
  command finished are ignored while the process exits.

Standard library only, and cheap to import: it is imported before anything heavy.
"""
from __future__ import annotations

import contextlib
import gc
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
WORDS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}

# The watcher's pauses between two rounds of interrupt() while the main thread has not yet seen the
# signal: a statement may start just after a round (and DuckDB clears the flag when one starts).
_FIRST_RETRY = 0.05
_LAST_RETRY = 1.0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (the CLI exits 143)."""


class Section:
    """A critical stretch of work: once ``begin()`` is called, signals wait until the stretch ends.

    ``note`` is added to the one line the CLI prints when a signal waited (what state it left).
    """

    def __init__(self) -> None:
        self.begun = False
        self.note: str | None = None
        self._restore: Any = None

    def begin(self) -> None:
        """From here on, a SIGINT or SIGTERM is noted and raised when the section ends."""
        global _defer
        if self.begun:
            return
        self.begun = True
        with _lock:
            _defer += 1
        if not _installed and _in_main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            # A library caller (no install()): hold Ctrl-C over the section with the same handler.
            self._restore = signal.signal(signal.SIGINT, _on_signal)

    def _end(self, failing: bool) -> None:
        global _defer, _pending, _handled
        if not self.begun:
            return
        if self._restore is not None:
            signal.signal(signal.SIGINT, self._restore)
        with _lock:
            _defer -= 1
            pending = _pending if _defer == 0 else None
            if pending is not None:
                _pending = None
        if pending is not None and not failing:
            _handled = True
            _raise(pending, self.note)


_lock = threading.Lock()
_installed = False
_received: int | None = None     # the first SIGINT/SIGTERM, as soon as either thread saw it
_handled = False                 # the main thread's handler ran (the watcher stops interrupting)
_defer = 0                       # open critical sections
_pending: int | None = None      # a signal that arrived inside a critical section
_wakeup: tuple[socket.socket, socket.socket] | None = None   # kept open for the life of the process


def install() -> None:
    """Install the SIGINT/SIGTERM handlers and the DuckDB watcher (main thread, once per process)."""
    global _installed, _wakeup
    if _installed or not _in_main_thread():
        return
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except (OSError, ValueError):
        _installed = True   # no wakeup: Ctrl-C still works between statements
        return
    _wakeup = (reader, writer)
    threading.Thread(target=_watch, args=(reader,), name="foxwarehouse-signals", daemon=True).start()
    _installed = True


def signalled() -> int | None:
    """The signal (SIGINT or SIGTERM) this process received, or None."""
    return _received


def report(exc: BaseException | None = None) -> int:
    """Print the one line for an interrupt (to stderr) and return its exit code.

    A note from a critical section (``str(exc)`` of the interrupt) says what state the work
    reached; an error that is not itself the interrupt's doing (a FoxError while unwinding) is kept.
    """
    if _installed and _in_main_thread():
        # From here on a second Ctrl-C ends the process at once, silently: the line is printed.
        for signum in EXIT_CODES:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
    signum = _signal_of(exc)
    line = WORDS[signum]
    detail = str(exc) if isinstance(exc, KeyboardInterrupt) else _own_message(exc)
    if detail:
        line += f": {detail}"
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    return EXIT_CODES[signum]


def done() -> None:
    """The command has finished (its exit code is decided): ignore signals while the process exits."""
    if _installed and _in_main_thread():
        for signum in EXIT_CODES:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def critical() -> Iterator[Section]:
    """A section that starts deferring signals when its ``begin()`` is called, until it ends."""
    section = Section()
    failing = True
    try:
        yield section
        failing = False
    finally:
        section._end(failing)


@contextlib.contextmanager
def deferred() -> Iterator[Section]:
    """Defer SIGINT/SIGTERM over the block (see ``critical``)."""
    with critical() as section:
        section.begin()
        yield section


# --- internals ------------------------------------------------------------------------------------

def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received, _pending, _handled
    if _received is None:
        _received = signum
    if _defer:
        _pending = _pending or signum
        return
    _handled = True
    _raise(signum, None)


def _raise(signum: int, note: str | None) -> None:
    args = (note,) if note else ()
    if signum == signal.SIGTERM:
        raise Terminated(*args)
    raise KeyboardInterrupt(*args)


def _signal_of(exc: BaseException | None) -> int:
    if isinstance(exc, Terminated):
        return signal.SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    return _received or signal.SIGINT


def _own_message(exc: BaseException | None) -> str:
    """The message of an error raised while unwinding, unless it only reports the interrupt."""
    if exc is None or _caused_by_interrupt(exc):
        return ""
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) and type(exc).__module__.startswith("foxwarehouse") else ""


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KeyboardInterrupt) or type(current).__name__ == "InterruptException":
            return True
        if "interrupt" in str(current).lower():
            return True   # DuckDB's "Query interrupted" RuntimeError and messages quoting it
        current = current.__cause__ or current.__context__
    return False


def _watch(reader: socket.socket) -> None:
    """The watcher thread: on SIGINT/SIGTERM, interrupt DuckDB until the main thread has the signal."""
    global _received
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum in EXIT_CODES and _received is None:
                _received = signum
        if not any(signum in EXIT_CODES for signum in data):
            continue
        pause = _FIRST_RETRY
        while True:
            with _lock:
                if _handled or _defer:
                    break
                _interrupt_duckdb()
            reader.settimeout(pause)
            try:
                more = reader.recv(64)
                if not more:
                    return
            except TimeoutError:
                pass
            except OSError:
                return
            finally:
                reader.settimeout(None)
            pause = min(pause * 2, _LAST_RETRY)


def _interrupt_duckdb() -> None:
    """Call interrupt() on every live DuckDB connection of the process.

    They are found through the garbage collector's list, so the warehouse connection, the cursors
    an analyst session runs its queries on and the in-memory connections of SQL unit tests and
    diffs are all covered without each registering itself. An idle connection ignores it.
    """
    duckdb = sys.modules.get("duckdb")
    kind = getattr(duckdb, "DuckDBPyConnection", None)
    if kind is None:
        return   # DuckDB not imported yet: nothing to interrupt
    for obj in gc.get_objects():
        if isinstance(obj, kind):
            with contextlib.suppress(Exception):
                obj.interrupt()

