"""Shared fixtures. Real captured feeds are read from ../shared, never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared sits beside the repository (as in CI); DIGEST_SHARED points elsewhere if needed.
SHARED = Path(os.environ.get("DIGEST_SHARED") or REPO.parent / "shared")
REAL_FEEDS = SHARED / "feeds" / "real"
BAD_FEEDS = SHARED / "badfeeds"
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="session")
def real_feeds() -> Path:
    """Folder of the real captured feeds (../shared/feeds/real)."""
    if not REAL_FEEDS.is_dir():
        pytest.fail(f"missing {REAL_FEEDS}: clone the repository beside ../shared")
    return REAL_FEEDS


MISSING_SHARED = (
    "missing ../shared ({path}): the tests read the captured feeds and data sets from it; "
    "clone it beside this repository or set DIGEST_SHARED to its folder"
)


def pytest_configure(config: pytest.Config) -> None:
    """Without ../shared, stop with one clear message instead of a traceback per test."""
    if not SHARED.is_dir():
        pytest.exit(MISSING_SHARED.format(path=SHARED), returncode=4)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output.",
    )


@pytest.fixture(scope="session")
def golden(request: pytest.FixtureRequest):
    """``golden(path, actual)``: compare ``actual`` with the golden file at ``path``; with
    ``pytest --update-golden`` rewrite the file instead (then review the diff)."""
    update = bool(request.config.getoption("--update-golden"))

    def check(path: Path, actual: str) -> None:
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(actual)
            return
        if not path.exists():
            pytest.fail(f"missing golden file {path}; run pytest --update-golden and review it")
        with open(path, encoding="utf-8", newline="") as handle:
            expected = handle.read()
        assert actual == expected, f"{path.name} changed; if intended, run pytest --update-golden"

    return check
