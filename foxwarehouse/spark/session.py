"""The Spark session of the Spark engine: its settings (project file and environment) and how it starts,
a local or cluster session in this process (``spark.master``) or a Spark Connect client (``spark.remote``).

pyspark is an optional extra and is imported here only, when the engine is spark; without it the
command stops with one line naming the extra to install.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ProjectError

INSTALL_HINT = "pip install 'foxwarehouse[spark]'"
MASTER_ENV = "FOXWAREHOUSE_SPARK_MASTER"
REMOTE_ENVS = ("FOXWAREHOUSE_SPARK_REMOTE", "SPARK_REMOTE")
CONF_ENV_PREFIX = "FOXWAREHOUSE_SPARK_CONF_"  # FOXWAREHOUSE_SPARK_CONF_spark_executor_memory=4g
DEFAULT_MASTER = "local[*]"
CONNECT_DEFAULT_PORT = 15002    # Spark Connect's port when the URL names none
# How long the engine waits for a Spark Connect server to accept a connection. pyspark's client
# retries an unreachable server for 10 minutes or more; the engine checks once, first, instead.
CONNECT_PROBE_SECONDS = 10.0
RELEASE_SECONDS = 5.0           # how long a finishing command waits to release its Connect session

# Settings that make Spark compute what DuckDB computes: UTC for any timestamp; ANSI mode, so that
# a cast that cannot succeed or an overflowing integer fails as in DuckDB instead of becoming NULL
# (TRY_CAST stays the explicit NULL-on-failure form); few shuffle partitions, since every model's
# result comes back to one machine anyway. The project's own settings win over these.
SESSION_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
STARTUP_DEFAULTS: dict[str, str] = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


@dataclass(frozen=True)
class SparkSettings:
    """Where the Spark engine runs: a master URL (``local[*]`` by default) or a Spark Connect URL."""

    master: str | None = None
    remote: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)

    def with_environment(self, environ: Mapping[str, str] | None = None) -> SparkSettings:
        """These settings with the environment's on top (the environment names a cluster per machine)."""
        env = os.environ if environ is None else environ
        master = env.get(MASTER_ENV) or self.master
        remote = next((env[name] for name in REMOTE_ENVS if env.get(name)), None) or self.remote
        conf = dict(self.conf)
        for key, value in env.items():
            if key.startswith(CONF_ENV_PREFIX) and len(key) > len(CONF_ENV_PREFIX):
                conf[key[len(CONF_ENV_PREFIX):].replace("_", ".")] = value
        if env.get(MASTER_ENV) and not any(env.get(name) for name in REMOTE_ENVS):
            remote = None   # a master named on this machine wins over a remote the project file names
        return SparkSettings(master, remote, conf)


def settings_from_project(value: Any, where: str) -> SparkSettings:
    """The ``spark:`` mapping of a project file (master, remote, conf), or ProjectError saying why not."""
    if value is None:
        return SparkSettings()
    if not isinstance(value, Mapping):
        raise ProjectError(f"{where}: spark must be a mapping (master, remote, conf), not {value!r}")
    known = ("master", "remote", "conf")
    for key in value:
        if key not in known:
            raise ProjectError(f"{where}: unknown key spark.{key}; known keys: {', '.join(known)}")
    texts: dict[str, str | None] = {}
    for key in ("master", "remote"):
        text = value.get(key)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise ProjectError(f"{where}: spark.{key} must be text (a URL), not {text!r}")
        texts[key] = text.strip() if isinstance(text, str) else None
    if texts["master"] and texts["remote"]:
        raise ProjectError(f"{where}: set spark.master or spark.remote, not both")
    conf = value.get("conf") or {}
    if not isinstance(conf, Mapping):
        raise ProjectError(f"{where}: spark.conf must be a mapping of Spark settings, not {conf!r}")
    settings: dict[str, str] = {}
    for key, setting in conf.items():
        if isinstance(setting, bool):
            setting = "true" if setting else "false"
        if not isinstance(key, str) or not isinstance(setting, (str, int, float)):
            raise ProjectError(f"{where}: spark.conf.{key} must be a text or number value, not {setting!r}")
        settings[key] = str(setting)
    return SparkSettings(texts["master"], texts["remote"], settings)


def require_pyspark() -> None:
    """Stop with one line (exit 2) when pyspark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ProjectError(f"engine spark needs pyspark, which is not installed: {INSTALL_HINT}") from None


def preflight(settings: SparkSettings) -> None:
    """Stop with one line (exit 2) before anything runs when the engine cannot start a session:
    pyspark missing, or the Spark Connect server of `settings` (with the environment) unreachable.
    A session already active in this process is the one used, so its settings are not checked."""
    require_pyspark()
    remote = settings.with_environment().remote
    if remote:
        from pyspark.sql import SparkSession

        if SparkSession.getActiveSession() is None:
            check_remote(remote)


def get_session(settings: SparkSettings) -> Any:
    """The Spark session the engine uses: the active one in this process if any (a notebook's, or a
    test suite's), else one started from `settings`; the session settings that make results match
    DuckDB's are set on it, and the session functions the transpiled models call are defined, either way."""
    require_pyspark()
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        builder = SparkSession.builder.appName("foxwarehouse")
        if settings.remote:
            check_remote(settings.remote)
            # On Spark Connect the session's static settings (executor memory...) are the server's:
            # pyspark skips any it cannot set, and so does the conf.set loop below.
            builder = builder.remote(settings.remote)
        else:
            master = settings.master or DEFAULT_MASTER
            builder = builder.master(master)
            startup = dict(STARTUP_DEFAULTS)
            if master.startswith("local") and "spark.driver.memory" not in settings.conf:
                # A local session's driver is all of Spark, and every model's rows come back through
                # it: Spark's default of 1 GB dies at about a million candidates.
                startup["spark.driver.memory"] = local_driver_memory()
            log_config = Path(__file__).with_name("log4j2.properties")
            if log_config.is_file():
                startup["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={log_config.as_uri()}"
            for key, value in startup.items():
                builder = builder.config(key, value)
        for key, value in settings.conf.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        if settings.remote:
            atexit.register(release_at_exit, session)
    quiet_python_side()
    for key, value in {**SESSION_DEFAULTS, **settings.conf}.items():
        try:
            session.conf.set(key, value)
        except Exception:  # noqa: BLE001 - a static setting of a running session: it was set at startup
            pass
    from .transpile import SESSION_FUNCTIONS

    for statement in SESSION_FUNCTIONS:
        session.sql(statement)
    return session


def connect_address(remote: str) -> tuple[str, int] | None:
    """The (host, port) a Spark Connect URL ``sc://host[:port][/;param=value...]`` names; None for
    ``local``/``local[N]`` (pyspark starts a Connect server in this process). ProjectError when
    `remote` is neither."""
    if re.fullmatch(r"local(\[[^\]]*\])?", remote):
        return None
    shown = remote.split(";", 1)[0]   # never echo the parameters: they may hold a token
    if not remote.startswith("sc://"):
        raise ProjectError(f"spark.remote must be a Spark Connect URL like sc://host:15002, not {shown!r}")
    parts = urlsplit(remote)
    try:
        port = parts.port or CONNECT_DEFAULT_PORT
    except ValueError:
        port = 0
    if not parts.hostname or not 0 < port < 65536:
        raise ProjectError(f"spark.remote must be a Spark Connect URL like sc://host:15002, not {shown!r}")
    return parts.hostname, port


def check_remote(remote: str, timeout: float = CONNECT_PROBE_SECONDS) -> None:
    """Stop with one line (exit 2) when the Spark Connect server of `remote` does not accept a
    connection within `timeout` seconds, instead of pyspark's minutes of retries."""
    address = connect_address(remote)
    if address is None:
        return
    host, port = address
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer in {timeout:g} s"
        raise ProjectError(f"cannot reach the Spark Connect server {host}:{port} (spark.remote): {reason}") from None


def release_at_exit(session: Any, timeout: float = RELEASE_SECONDS) -> None:
    """Release this process's Spark Connect session on the server as the process ends: the server
    would otherwise keep its views and checkpointed model rows (executor memory) until the session
    times out, an hour by default. Waits at most `timeout` seconds, since pyspark retries a server
    that went away for minutes."""
    def stop() -> None:
        with contextlib.suppress(Exception):
            session.stop()

    worker = threading.Thread(target=stop, name="foxwarehouse-spark-release", daemon=True)
    worker.start()
    worker.join(timeout)


def local_driver_memory() -> str:
    """The driver memory of a local session: a third of this machine's memory, 1 to 16 GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that says
        return "2g"
    return f"{max(1, min(16, total // 3 // 2**30))}g"


def quiet_python_side() -> None:
    """Silence pyspark's own loggers of failing queries: they print the whole Java stack as JSON
    on stderr, while foxwarehouse reports the failure as one line naming the model."""
    import logging

    # py4j logs a lost connection to the JVM (a driver that ran out of memory) with its traceback;
    # the failure reaches the user as one line all the same.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True
