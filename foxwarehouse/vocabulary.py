"""The contract's fixed vocabularies (inputs, config, routes and jobs; see docs/ROUTING.md), shared by
config validation, ingest and the trainer-side consumer. Standard library only: `foxwarehouse.consumer` imports it."""
from __future__ import annotations

STABILITIES = ("STABLE", "DRIFTING", "DIVERGED", "UNKNOWN")
ROUTES = (
    "ROUTE_CROSS_SECTIONAL",
    "ROUTE_SYMBOL_SPECIFIC",
    "ROUTE_BOTH",
    "ROUTE_EXPERIMENTAL_ONLY",
    "ROUTE_BLOCKED",
)
TRAINING_TYPES = ("cross_sectional", "symbol_specific", "blocked")
