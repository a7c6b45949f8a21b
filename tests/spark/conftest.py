"""The Spark engine's suite: one local Spark session (two cores) for every test that needs one.

Every test here is marked `spark` and left out of the default run; `.ci/run` runs the suite with
`-m spark` after installing the extra (`pip install '.[spark]'`).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """The one local Spark session of the suite; the engine finds it as the active session."""
    pytest.importorskip("pyspark")
    from foxwarehouse.spark.session import SparkSettings, get_session

    session = get_session(SparkSettings(master="local[2]"))
    yield session
    session.stop()
