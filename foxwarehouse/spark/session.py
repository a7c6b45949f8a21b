"""The Spark session of the Spark engine: its settings (project file and environment) and how it starts.

pyspark is an optional extra and is imported here only, when the engine is spark; without it the
command stops with one line naming the extra to install.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProjectError

INSTALL_HINT = "pip install 'foxwarehouse[spark]'"
MASTER_ENV = "FOXWAREHOUSE_SPARK_MASTER"
REMOTE_ENVS = ("FOXWAREHOUSE_SPARK_REMOTE", "SPARK_REMOTE")
CONF_ENV_PREFIX = "FOXWAREHOUSE_SPARK_CONF_"  # FOXWAREHOUSE_SPARK_CONF_spark_executor_memory=4g
DEFAULT_MASTER = "local[*]"

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
