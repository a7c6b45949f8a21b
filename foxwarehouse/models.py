"""Model metadata in one place: each model's entry in ``sql/models.yml``.

An entry holds what the model means (``description``, ``grain``, ``columns``), how it is stored
(``materialized: view`` for a model computed when read; a table per run otherwise) and the
post-build ``audits`` that check it. The catalog (foxwarehouse.analyst.catalog), the build (through
``render.view_models``) and the audits (foxwarehouse.build.audits) all read the file through
:func:`read_models_yml`, so a model's metadata has one home and one syntax.

Projects made by older versions of ``foxwarehouse init`` may still mark a view with a
``-- materialized: view`` line in the model's SQL and keep their audits in ``sql/audits.yml``;
both keep working (see ``render.is_view_model`` and ``audits.load_audits``).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ModelError
from .project import Project
from .yaml_loader import safe_load as load_yaml_strict

MODELS_FILE = "models.yml"
MATERIALIZATIONS = ("table", "view")


@dataclass(frozen=True)
class ModelMeta:
    """What sql/models.yml says about one model (``materialized`` is None when the entry is silent)."""

    name: str
    materialized: str | None = None
    audits: list[dict[str, Any]] = field(default_factory=list)


def models_file(project: Project) -> Path:
    return project.sql_dir / MODELS_FILE


def read_models_yml(path: Path) -> Any:
    """The parsed sql/models.yml (``{}`` when empty); OSError / yaml.YAMLError propagate to the caller,
    which words the error for its command. Callers get their own copy (the parse is cached by text)."""
    return copy.deepcopy(_parse_models_yml(path.read_text(encoding="utf-8")))


@functools.lru_cache(maxsize=16)
def _parse_models_yml(text: str) -> Any:
    return load_yaml_strict(text) or {}  # YAML 1.2, no duplicate keys, bounded


def model_meta(project: Project) -> dict[str, ModelMeta]:
    """model name -> its metadata from sql/models.yml (empty when the project has no such file)."""
    path = models_file(project)
    if not path.is_file():
        return {}
    try:
        data = read_models_yml(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelError(f"{path}: cannot read the model metadata: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return {}   # nothing declared; `foxwarehouse docs` reports a malformed file in its own words
    out: dict[str, ModelMeta] = {}
    for name, entry in models.items():
        if not isinstance(entry, dict):
            continue
        materialized = entry.get("materialized")
        if materialized is not None and materialized not in MATERIALIZATIONS:
            raise ModelError(f"{path}: models.{name}.materialized must be one of "
                             f"{', '.join(MATERIALIZATIONS)}, not {materialized!r}")
        audits = entry.get("audits") or []
        if not isinstance(audits, list):
            raise ModelError(f"{path}: models.{name}.audits must be a list of audits")
        out[str(name)] = ModelMeta(str(name), materialized, list(audits))
    return out


def declared_views(project: Project) -> dict[str, bool]:
    """model -> True (``materialized: view``) / False (``materialized: table``) for models that say so."""
    return {name: meta.materialized == "view" for name, meta in model_meta(project).items()
            if meta.materialized is not None}
