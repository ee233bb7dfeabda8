"""digest.embed: wordllama's bundled model read directly (issue 14: without importing wordllama
and requests, 0.24 s of every run that clusters), giving wordllama's own vectors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digest import embed
from tests.conftest import REAL_FEEDS, REPO
from tests.realfeed_window import window_entries


def test_the_vectors_are_wordllamas_bit_for_bit() -> None:
    from wordllama import WordLlama

    entries = window_entries(REAL_FEEDS)
    texts = [f"{e.title} {e.summary_text[:300]}" for e in entries]
    texts += [" ", "x" * 5000, "日本語のニュース", "مرحبا بالعالم", "Jesse Jackson"]  # odd ones
    assert len(texts) > 3 * embed.BATCH  # several batches, each padded to its own longest
    ours = embed.model()
    assert ours is not None
    theirs = WordLlama.load(cache_dir=embed.package_folder(), disable_download=True)
    for norm in (True, False):
        assert np.array_equal(ours.embed(texts, norm=norm), theirs.embed(texts, norm=norm))


def test_embedding_imports_neither_wordllama_nor_requests() -> None:
    code = (
        "import json, sys\n"
        "from digest.embed import embed\n"
        "vectors = embed(['Jesse Jackson dies at 84', 'Rights leader Jesse Jackson has died'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('wordllama', 'requests'))\n"
        "print(json.dumps([float(vectors[0] @ vectors[1]), heavy]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    similarity, heavy = json.loads(out.stdout.splitlines()[-1])
    assert similarity > 0.5
    assert heavy == []


def test_missing_files_mean_no_model_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed, "package_folder", lambda: tmp_path)
    embed.model.cache_clear()
    try:
        assert embed.model() is None and embed.embed(["a text"]) is None
    finally:
        embed.model.cache_clear()
