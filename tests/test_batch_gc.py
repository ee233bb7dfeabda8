"""Batch commands collect garbage less often (issue 14: 0.32 s of the demo run's 4.4 s CPU
went to the collector walking the run's long-lived objects again and again)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.pipeline import BATCH_GC_THRESHOLD, batch_gc
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults, whatever an earlier test set
    yield before
    gc.set_threshold(*before)


def test_batch_gc_raises_only_the_youngest_threshold_and_never_lowers_it() -> None:
    batch_gc()
    assert gc.get_threshold() == (BATCH_GC_THRESHOLD, 10, 10)
    assert gc.isenabled()
    gc.set_threshold(50_000, 10, 10)
    batch_gc()
    assert gc.get_threshold() == (50_000, 10, 10)


@pytest.mark.parametrize(
    "command", [["run", "--list", "nosuch"], ["send", "nosuch"], ["build", "nosuch"]]
)
def test_run_send_and_build_use_it(command: list[str]) -> None:
    result = CliRunner().invoke(cli, ["-c", str(REPO / "config.yaml"), *command])
    assert result.exit_code == 2  # the list is not configured: refused, after batch_gc
    assert gc.get_threshold()[0] == BATCH_GC_THRESHOLD
