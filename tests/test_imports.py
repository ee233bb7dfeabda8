"""The module graph: config and the pure schedule/polling modules load no stage."""

from __future__ import annotations

import subprocess
import sys

STAGES = ("digest.edition", "digest.rank", "digest.topics", "digest.cluster", "digest.pipeline", "digest.render")


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m for m in sys.modules if m.startswith('digest'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_config_imports_no_stage() -> None:
    """Issue 10, point 5: config <-> edition/rank/topics was the project's one import cycle."""
    loaded = _loaded_by("digest.config")
    assert not loaded & set(STAGES), sorted(loaded & set(STAGES))


def test_schedule_and_polling_are_pure_modules() -> None:
    assert _loaded_by("digest.schedule") == {"digest", "digest.schedule"}
    assert not _loaded_by("digest.polling") & set(STAGES)
