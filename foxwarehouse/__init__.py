"""foxwarehouse: a relational, SQL-first plan warehouse for ML training routing.

Library entry points are imported lazily so that `foxwarehouse.consumer` stays cheap for trainers.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["plan", "open", "load_plan", "PlanResult", "__version__"]


def plan(*args: Any, **kwargs: Any):
    """Run the whole pipeline in-process; see `foxwarehouse.pipeline.plan`."""
    from .pipeline import plan as _plan

    return _plan(*args, **kwargs)


def load_plan(path: Any):
    """Load an exported training plan; see `foxwarehouse.consumer.load_plan`."""
    from .consumer import load_plan as _load_plan

    return _load_plan(path)


def __getattr__(name: str) -> Any:
    if name == "PlanResult":
        from .pipeline import PlanResult

        return PlanResult
    if name == "open":
        from .analyst import open_warehouse

        return open_warehouse
    raise AttributeError(name)
