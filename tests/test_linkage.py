"""digest.linkage: average link and flat clusters in numpy, identical to scipy's (issue 14:
clustering no longer imports scipy.cluster and scipy.spatial, about 0.17 s of every run)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from digest import linkage as ours
from digest.cluster import cluster
from digest.evaluate import rows_to_entries
from tests.conftest import DATASETS, REAL_FEEDS, REPO
from tests.realfeed_window import window_entries

GOOGLENEWS = DATASETS / "clustering" / "googlenews_stories_shared.jsonl"


def _same_as_scipy(dist: np.ndarray) -> None:
    expected = linkage(dist, method="average")
    got = ours.average_linkage(dist)
    assert np.array_equal(got, expected)  # bit for bit: merges, order, heights, sizes
    for t in (0.0, 0.05, 0.2, 0.35, 0.5, 0.8, 1.0, 1.5, 2.0):
        expected_flat = fcluster(expected, t, criterion="distance")
        assert np.array_equal(ours.flat_clusters(got, t), expected_flat)


@pytest.mark.parametrize("kind", ["uniform", "quarters", "two values", "all equal"])
def test_random_matrices_with_ties_give_scipys_tree(kind: str) -> None:
    rng = np.random.default_rng(14)
    for _ in range(40):
        n = int(rng.integers(2, 70))
        m = n * (n - 1) // 2
        if kind == "uniform":
            dist = rng.random(m)
        elif kind == "quarters":  # many ties at every level
            dist = rng.integers(0, 9, m) / 4.0
        elif kind == "two values":
            dist = np.where(rng.random(m) < 0.3, 0.25, 0.5)
        else:
            dist = np.ones(m)
        _same_as_scipy(dist)


def test_overwrite_works_in_the_callers_array_and_gives_the_same_tree() -> None:
    dist = np.random.default_rng(1).integers(0, 5, 45 * 44 // 2) / 4.0
    expected = linkage(dist, method="average")
    given = dist.copy()
    assert np.array_equal(ours.average_linkage(given, overwrite=True), expected)
    kept = dist.copy()
    ours.average_linkage(kept)
    assert np.array_equal(kept, dist)  # without overwrite the input is left alone


def test_bad_input_is_refused_as_scipy_refuses_it() -> None:
    with pytest.raises(ValueError):
        ours.average_linkage(np.array([0.1, 0.2]))  # 2 entries: no n with n(n-1)/2 == 2
    with pytest.raises(ValueError):
        ours.average_linkage(np.array([0.1, np.nan, 0.3]))
    with pytest.raises(ValueError):
        ours.average_linkage(np.zeros((3, 3)))
    assert ours.flat_clusters(ours.average_linkage(np.array([0.3])), 0.5).tolist() == [1, 1]


def _record(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Every condensed matrix clustering hands to :func:`digest.linkage.average_linkage`."""
    seen: list[np.ndarray] = []
    real = ours.average_linkage

    def recording(dist: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        seen.append(np.array(dist, dtype=np.float64))
        return real(dist, overwrite=overwrite)

    monkeypatch.setattr(ours, "average_linkage", recording)
    return seen


def _stories(found: list) -> list[list[tuple[str, str]]]:
    return [[(e.source, e.entry_id) for e in s.entries] for s in found]


def _with_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    def scipys(dist: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        return linkage(dist, method="average")

    monkeypatch.setattr(ours, "average_linkage", scipys)
    monkeypatch.setattr(ours, "flat_clusters", lambda z, t: fcluster(z, t, criterion="distance"))


@pytest.mark.parametrize("data", ["real feeds", "googlenews"])
def test_clustering_real_data_gives_scipys_trees_and_stories(
    data: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the demo window of the real feeds and on GoogleNews stories (every entry at one
    time, so one batch of 1,500), every linkage clustering asks for is scipy's, and the
    stories are those scipy's linkage and fcluster give."""
    if data == "real feeds":
        entries = window_entries(REAL_FEEDS)
    else:
        with GOOGLENEWS.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        entries = rows_to_entries(rows[:1500])
    with monkeypatch.context() as m:
        seen = _record(m)
        got = cluster(entries, weights={})
    assert seen and max(d.size for d in seen) > 10_000
    for dist in seen:
        _same_as_scipy(dist)
    with monkeypatch.context() as m:
        _with_scipy(m)
        expected = cluster(entries, weights={})
    assert _stories(got) == _stories(expected)


def test_clustering_imports_no_scipy_cluster_or_spatial() -> None:
    code = (
        "import sys, json\n"
        "from tests.conftest import DATASETS\n"
        "from digest.cluster import cluster\n"
        "from digest.evaluate import rows_to_entries\n"
        "path = DATASETS / 'clustering' / 'googlenews_stories_shared.jsonl'\n"
        "rows = [json.loads(line) for line, _ in zip(path.open(), range(300))]\n"
        "stories = cluster(rows_to_entries(rows), weights={})\n"
        "scipy = sorted(m for m in sys.modules if m.startswith('scipy.'))\n"
        "print(json.dumps([len(stories), scipy]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    stories, modules = json.loads(out.stdout.splitlines()[-1])
    assert 10 < stories < 300
    heavy = [m for m in modules if m.startswith(("scipy.cluster", "scipy.spatial"))]
    assert not heavy, heavy
