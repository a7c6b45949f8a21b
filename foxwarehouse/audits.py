"""Post-build audits: SELECTs that return failing rows; any row fails the build (blocking)."""
from __future__ import annotations


def run_audits(con, run_id: str, project) -> None:
    """Placeholder until audits are declared in YAML next to the models (issue 3)."""
    return None
