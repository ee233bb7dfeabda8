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


@pytest.fixture
def fresh_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """:func:`digest.embed.model` loaded anew at each call, its cache in ``tmp_path``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def load() -> embed.Model:
        embed.model.cache_clear()
        model = embed.model()
        assert model is not None
        return model

    yield load
    embed.model.cache_clear()


TEXTS = ["Jesse Jackson dies at 84", "Rights leader Jesse Jackson has died", "日本語", " "]


def test_the_float32_weights_are_kept_on_disk_and_memory_mapped(
    tmp_path: Path, fresh_model  # type: ignore[no-untyped-def]
) -> None:
    first = fresh_model()  # converts the float16 file, keeps the float32 copy
    kept = list((tmp_path / "cache" / "digest").glob("*.npy"))
    assert len(kept) == 1
    again = fresh_model()
    assert not again.embedding.flags.writeable  # the read-only map of that copy
    assert np.array_equal(again.embedding, first.embedding)
    for norm in (True, False):
        assert np.array_equal(again.embed(TEXTS, norm=norm), first.embed(TEXTS, norm=norm))


def test_a_broken_or_unwritable_weights_cache_only_costs_the_conversion(
    tmp_path: Path, fresh_model, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    expected = fresh_model().embed(TEXTS, norm=True)
    (kept,) = (tmp_path / "cache" / "digest").glob("*.npy")
    kept.write_bytes(kept.read_bytes()[: 1 << 20])  # truncated (a full disk, a kill)
    assert np.array_equal(fresh_model().embed(TEXTS, norm=True), expected)
    np.save(kept, np.zeros((3, 256), dtype=np.float32))  # another matrix
    assert np.array_equal(fresh_model().embed(TEXTS, norm=True), expected)
    assert np.load(kept, mmap_mode="r").shape[0] > 3  # written again, whole
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # no folder can be made there
    assert np.array_equal(fresh_model().embed(TEXTS, norm=True), expected)


def test_copies_of_other_installations_stay_until_long_unused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import time

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    installs = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.safetensors").write_bytes(name.encode())
        installs.append(tmp_path / name / "weights.safetensors")
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    embed.save_weights(installs[0], matrix)
    embed.save_weights(installs[1], matrix)  # two installations in use: both kept
    assert all(embed.cached_weights(w, (2, 3)) is not None for w in installs[:2])
    (copy_a,) = [p for p in (tmp_path / "cache" / "digest").glob("*.npy")
                 if embed._cache_path(installs[0]) == p]  # fmt: skip
    long_ago = time.time() - (embed.STALE_DAYS + 1) * 86400
    os.utime(copy_a, (long_ago, long_ago))
    embed.save_weights(installs[2], matrix)
    assert embed.cached_weights(installs[0], (2, 3)) is None  # unused for a month: removed
    assert np.array_equal(embed.cached_weights(installs[1], (2, 3)), matrix)
    assert embed.cached_weights(installs[1], (3, 2)) is None  # not the matrix asked for


def test_the_model_reads_words_not_letters() -> None:
    """Urdu, Chinese, Greek and Korean fall apart into single letters or bytes in the
    model's vocabulary (any two texts of the script then look alike); English, German,
    Portuguese and Russian do not. Their embeddings are zero and marked unread."""
    texts = [
        "Earthquake kills dozens in northern Turkey",
        "Erdbeben tötet Dutzende im Norden der Türkei",
        "Terremoto mata dezenas no norte da Turquia",
        "Землетрясение убило десятки человек на севере Турции",
        "gta dlc beach sandy place",
        "ترکی کے شمال میں زلزلے سے درجنوں ہلاک",
        "土耳其北部地震造成数十人死亡",
        "Σεισμός σκότωσε δεκάδες στη βόρεια Τουρκία",
        "지진으로 터키 북부에서 수십 명 사망",
        "苹果发布新款iPhone 17 Pro手机，售价7999元起",
        "",
    ]
    model = embed.model()
    assert model is not None
    shares = model.letter_shares(texts)
    assert (shares[:5] <= 0.6).all() and (shares[5:10] >= 0.9).all() and shares[10] == 0.0
    found = embed.embed_read(texts)
    assert found is not None
    vectors, read = found
    assert read.tolist() == [True] * 5 + [False] * 5 + [True]
    assert not vectors[5:10].any() and vectors[:5].any()
