"""pyproject.toml: each dependency is declared once (one place to change its version)."""

from __future__ import annotations

import tomllib
from collections import Counter

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO


def test_each_dependency_is_declared_once() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}
    for group, requirements in groups.items():
        names = Counter(canonicalize_name(Requirement(r).name) for r in requirements)
        twice = sorted(name for name, n in names.items() if n > 1)
        assert not twice, f"{group}: declared more than once: {', '.join(twice)}"
