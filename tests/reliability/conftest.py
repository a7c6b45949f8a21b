"""Shared by every module of the reliability suite."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_log import complete


@pytest.fixture(scope="module", autouse=True)
def _reliability_log_complete() -> Iterator[None]:
    """Mark each module's suites finished in the reliability log once its tests have run (see
    tests/reliability_log.py): the report never picks a session that was cut short."""
    yield
    complete()
