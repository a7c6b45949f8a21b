"""The context of one command or `plan()` call: project, validated config, its warnings, one renderer.

A command builds one ``Context`` and passes it down, so the config is loaded, validated and hashed
once, stays in memory for the whole call (nothing reads it back from the warehouse), and every
model and macro file is read and rendered by one ``Renderer``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .config import canonical_json, load_config_with_notices, validate_config_with_notices
from .project import Project, load_project, resolve_config_path
from .render import Renderer


@dataclass
class Context:
    """What one call works with. ``renderer`` is created on first use, then shared."""

    project: Project
    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    _renderer: Renderer | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, config: str | os.PathLike[str] | dict | None = None,
             project_dir: str | os.PathLike[str] | None = None, include_blocked: bool | None = None,
             project: Project | None = None) -> Context:
        """Load the project and validate the config (a path, a mapping or None for the default).

        `project` if given; else the project ``load_project(project_dir)`` resolves (with
        `project_dir` None: FOXWAREHOUSE_PROJECT_DIR, else the nearest foxwarehouse.yml from the
        current folder upwards, else the packaged models), as every command does.
        """
        project = project or load_project(project_dir)
        overrides = {"training_plan.include_blocked": True} if include_blocked else None
        # Config notices (FoxML-only keys and the like) come back as data for the caller to report.
        if isinstance(config, dict):
            validated, notices = validate_config_with_notices(config, overrides=overrides)
        else:
            validated, notices = load_config_with_notices(resolve_config_path(config, project), overrides=overrides)
        return cls(project, validated, notices)

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.project, self.config)
        return self._renderer

    @cached_property
    def config_json(self) -> str:
        """The canonical JSON stored in ``runs.config``."""
        return canonical_json(self.config)

    @cached_property
    def config_hash(self) -> str:
        # the same sha256 as config.config_hash, over the JSON already made
        return hashlib.sha256(self.config_json.encode("utf-8")).hexdigest()
