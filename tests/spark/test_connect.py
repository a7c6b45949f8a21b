"""The Spark engine over Spark Connect: a real Connect server on this machine, the CLI as a client.

The server is a local Spark (two cores) with Spark's Connect plugin, in its own process as on a
cluster; every Spark command runs `python -m foxwarehouse` in a process of its own, with only the
Connect client in it (the suite's classic session would otherwise be the active one). Also here:
`--engine` on `build` and `ingest`, and an unreachable or malformed `spark.remote`.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CliResult, run_cli
from spark_helpers import assert_same_files, plan_on

from foxwarehouse.project import bundled_dir

# Every test but the last needs pyspark (marked spark); `--engine bogus` runs in the default suite.
spark = pytest.mark.spark

ENGINES_DOC = Path(__file__).resolve().parents[2] / "docs" / "ENGINES.md"
TRY_IT = "To try it on one machine"   # the paragraph of docs/ENGINES.md before its three lines
SERVER_START_SECONDS = 180
ENV_NAMES = ("SPARK_REMOTE", "FOXWAREHOUSE_SPARK_REMOTE", "FOXWAREHOUSE_SPARK_MASTER")


def try_it_lines() -> list[str]:
    """The lines docs/ENGINES.md gives to try Spark Connect on one machine: start the server,
    plan against it, stop the server."""
    text = ENGINES_DOC.read_text(encoding="utf-8")
    block = re.search(r"```\n(.*?)```", text[text.index(TRY_IT):], flags=re.S)
    assert block is not None, f"no example after {TRY_IT!r} in {ENGINES_DOC}"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 3 and "start-connect-server.sh" in lines[0] and "stop-connect-server.sh" in lines[2], lines
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A Spark Connect server started for this module as docs/ENGINES.md starts one (on a free port
    of 127.0.0.1 instead of 15002, which another program may hold), stopped after it: its URL and
    the folder of its log."""
    pytest.importorskip("pyspark.sql.connect.session")
    start, _, stop = try_it_lines()
    port = free_port()
    folder = tmp_path_factory.mktemp("connect-server")
    # The daemon's pid file and log in this folder: the stop line stops this server only.
    env = {**client_env(None), "SPARK_PID_DIR": str(folder), "SPARK_LOG_DIR": str(folder)}
    started = subprocess.run(f"{start} --conf spark.connect.grpc.binding.port={port} "
                             f"--conf spark.connect.grpc.binding.address=127.0.0.1",
                             shell=True, env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    logs = "".join(p.read_text(errors="replace") for p in folder.glob("*.out"))
                    pytest.fail(f"the Spark Connect server did not start: {logs[-3000:]}")
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}", folder
    finally:
        stopped = subprocess.run(stop, shell=True, env=env, capture_output=True, text=True, timeout=120)
        for pid_file in folder.glob("*.pid"):   # a stop script that failed: end the server all the same
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        assert stopped.returncode == 0, stopped


@pytest.fixture
def connect_url(connect_server: tuple[str, Path]) -> str:
    return connect_server[0]


def unreleased_sessions(log_folder: Path) -> set[str]:
    """The sessions the server's log shows used and not closed (its INFO lines name both)."""
    log = "".join(p.read_text(errors="replace") for p in log_folder.glob("*.out"))
    used = set(re.findall(r"sessionId: ([0-9a-f-]{36}) accessed", log))
    return used - set(re.findall(r"Closing session with userId: \S* and sessionId: ([0-9a-f-]{36})", log))


def client_env(remote: str | None) -> dict[str, str]:
    """This process's environment without any Spark location, plus FOXWAREHOUSE_SPARK_REMOTE."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if remote is not None:
        env["FOXWAREHOUSE_SPARK_REMOTE"] = remote
    return env


def cli_process(args: list[Any], cwd: Path, remote: str | None = None, timeout: float = 300) -> CliResult:
    """`foxwarehouse ARGS` in a process of its own (the Connect client only)."""
    proc = subprocess.run([sys.executable, "-m", "foxwarehouse", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=client_env(remote), timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def spark_plan(root: Path, metrics: Path, remote: str | None, extra: tuple[str, ...] = ()) -> tuple[CliResult, Path]:
    out = root / "out_spark"
    result = cli_process(["plan", "--metrics", metrics, "--db", root / "spark.duckdb", "--out", out,
                          "--engine", "spark", "--skip-tests", *extra], root, remote)
    return result, out


def one_error_line(result: CliResult) -> str:
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result
    return lines[0]


@spark
def test_the_documented_plan_over_connect_gives_the_duckdb_files(tmp_path: Path, connect_url: str) -> None:
    # docs/ENGINES.md's line as written (the server named in the environment, as a machine names
    # its cluster), with this server's URL, the bundled metrics and where to write added.
    metrics = bundled_dir("examples") / "routing_candidates"
    duckdb, duckdb_out = plan_on("duckdb", tmp_path, metrics)
    assert duckdb.code == 0, duckdb
    line = try_it_lines()[1]
    assert "sc://localhost:15002" in line and " foxwarehouse plan --metrics METRICS " in line, line
    spark_out = tmp_path / "out_spark"
    command = (line.replace("sc://localhost:15002", connect_url).replace("METRICS", shlex.quote(str(metrics)))
               .replace(" foxwarehouse ", f" {shlex.quote(sys.executable)} -m foxwarehouse ")
               + f" --skip-tests --db {tmp_path / 'spark.duckdb'} --out {spark_out}")
    spark = subprocess.run(command, shell=True, cwd=tmp_path, env=client_env(None), capture_output=True,
                           text=True, timeout=300)
    assert spark.returncode == 0 and "Traceback" not in spark.stderr, spark
    assert_same_files(duckdb_out, spark_out)


@spark
def test_raw_metrics_over_connect_named_in_the_project_file_give_the_duckdb_files(tmp_path: Path,
                                                                                   connect_url: str) -> None:
    # The server named by spark.remote in the project file; the raw-metrics shape has the sources
    # without rows (a Connect session infers no schema from an empty table).
    project = tmp_path / "project"
    assert run_cli(["init", project]).code == 0
    with open(project / "foxwarehouse.yml", "a", encoding="utf-8") as fh:
        fh.write(f"\nspark:\n  remote: {connect_url}\n")
    metrics = bundled_dir("examples") / "raw_metrics"
    duckdb, duckdb_out = plan_on("duckdb", tmp_path, metrics, extra=("--project-dir", str(project)))
    assert duckdb.code == 0, duckdb
    spark, spark_out = spark_plan(tmp_path, metrics, None, ("--project-dir", str(project)))
    assert spark.code == 0 and "Traceback" not in spark.err, spark
    assert_same_files(duckdb_out, spark_out)


@spark
def test_build_engine_spark_runs_the_models_on_spark(tmp_path: Path, connect_server: tuple[str, Path]) -> None:
    connect_url, log_folder = connect_server
    project = tmp_path / "project"
    assert run_cli(["init", project]).code == 0
    # jaro_winkler_similarity is DuckDB's own; Spark has no such function: only a build on Spark fails.
    (project / "sql" / "extra_scores.sql").write_text(
        "SELECT target, jaro_winkler_similarity(target, 'x') AS similarity FROM {{ ref('routing_candidates') }}\n",
        encoding="utf-8")
    common = ["--project-dir", project, "--db", tmp_path / "w.duckdb"]
    metrics = bundled_dir("examples") / "routing_candidates"
    assert cli_process(["ingest", metrics, *common], tmp_path).code == 0
    on_spark = cli_process(["build", "--engine", "spark", "--skip-tests", *common], tmp_path, connect_url)
    assert "extra_scores.sql: on Spark:" in one_error_line(on_spark), on_spark
    # Every command released its session on the server as it ended, a failed one too: the server
    # would otherwise hold its checkpointed rows for an hour.
    assert not unreleased_sessions(log_folder)
    on_duckdb = cli_process(["build", "--engine", "duckdb", "--skip-tests", *common], tmp_path, connect_url)
    assert on_duckdb.code == 0 and "extra_scores" in on_duckdb.out, on_duckdb


@spark
def test_ingest_engine_spark_reads_a_uri_over_connect(tmp_path: Path, connect_url: str) -> None:
    metrics = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
    result = cli_process(["ingest", metrics.as_uri(), "--engine", "spark", "--db", tmp_path / "w.duckdb"],
                         tmp_path, connect_url)
    assert result.code == 0 and "Traceback" not in result.err, result
    assert "routing_candidates" in result.out, result


@spark
@pytest.mark.parametrize("command", ["plan", "build", "ingest"])
def test_an_unreachable_server_is_one_line_at_once(command: str, tmp_path: Path) -> None:
    # Nothing listens on port 1: pyspark's client would retry for minutes; the engine checks first.
    metrics = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
    db = tmp_path / "w.duckdb"
    args: dict[str, list[Any]] = {
        "plan": ["plan", "--metrics", metrics, "--out", tmp_path / "out", "--skip-tests"],
        "build": ["build", "--skip-tests"],
        "ingest": ["ingest", metrics.as_uri()],
    }
    start = time.monotonic()
    result = cli_process([*args[command], "--engine", "spark", "--db", db], tmp_path, "sc://127.0.0.1:1",
                         timeout=60)
    line = one_error_line(result)
    assert "cannot reach the Spark Connect server 127.0.0.1:1" in line, result
    assert time.monotonic() - start < 30, "an unreachable server must fail fast"
    if command == "plan":
        assert not db.exists()   # refused before a run was made


@spark
@pytest.mark.parametrize("remote", ["http://127.0.0.1:15002", "sc://", "sc://host:notaport/;token=secret",
                                    "localhost:15002"])
def test_a_malformed_remote_is_one_line_without_its_parameters(remote: str, tmp_path: Path) -> None:
    metrics = bundled_dir("examples") / "routing_candidates"
    result, _ = spark_plan(tmp_path, metrics, remote)
    line = one_error_line(result)
    assert "spark.remote must be a Spark Connect URL" in line and "secret" not in line, result


@pytest.mark.parametrize("command", ["plan", "build", "ingest"])
def test_engine_bogus_is_one_line(command: str, tmp_path: Path) -> None:
    args = {"plan": ["plan", "--metrics", bundled_dir("examples") / "routing_candidates"],
            "build": ["build"], "ingest": ["ingest", bundled_dir("examples") / "routing_candidates"]}[command]
    result = run_cli([*args, "--engine", "bogus", "--db", tmp_path / "w.duckdb"])
    line = one_error_line(result)
    assert "bogus" in line, result
    assert not (tmp_path / "w.duckdb").exists()


def test_the_documented_cluster_project_files_are_valid(tmp_path: Path) -> None:
    from foxwarehouse.project import read_project_file

    text = ENGINES_DOC.read_text(encoding="utf-8")
    cluster = text[text.index("## Running on a cluster"):]
    cluster = cluster[:cluster.index("\n## ", 3)]
    blocks = re.findall(r"^```yaml\n(.*?)^```", cluster, flags=re.M | re.S)
    assert len(blocks) == 2, blocks
    for block in blocks:
        path = tmp_path / "foxwarehouse.yml"
        path.write_text(block, encoding="utf-8")
        settings = read_project_file(path)
        assert settings.engine == "spark" and bool(settings.spark.remote) != bool(settings.spark.master), block
        assert settings.spark.conf, block
