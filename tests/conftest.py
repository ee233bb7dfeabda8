"""Shared fixtures. Real captured feeds are read from ../shared, never copied into the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REAL_FEEDS = SHARED / "feeds" / "real"
BAD_FEEDS = SHARED / "badfeeds"
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="session")
def real_feeds() -> Path:
    """Folder of the real captured feeds (../shared/feeds/real)."""
    if not REAL_FEEDS.is_dir():
        pytest.fail(f"missing {REAL_FEEDS}: clone the repository beside ../shared")
    return REAL_FEEDS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output.",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to regenerate golden files (never in CI)."""
    return bool(request.config.getoption("--update-golden"))
