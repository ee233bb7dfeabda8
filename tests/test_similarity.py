"""Clustering signals: names, the bundled wordllama model, and the fall-back without it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest import embed
from digest.cluster import cluster
from digest.similarity import names_of
from digest.types import Entry

NOW = datetime(2026, 2, 18, tzinfo=UTC)


def e(i: int, title: str, text: str = "", source: str = "s") -> Entry:
    return Entry(source=f"{source}{i}", entry_id=str(i), title=title, summary_text=text, published=NOW)


def test_names_are_capitalised_words_the_batch_never_writes_in_lower_case() -> None:
    entries = [
        e(1, "Jesse Jackson Dies at 84", "The civil rights leader dies in Chicago."),
        e(2, "Gold Fever Hits South Africa", "A gold rush as fever spreads in the Free State."),
    ]
    first, second = names_of(entries)
    assert {"jesse", "jackson", "chicago"} <= set(first) and "dies" not in first
    assert "fever" not in second and "gold" not in second and "africa" in second


def test_the_bundled_model_loads_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("wordllama tried to download")

    monkeypatch.setattr(requests, "get", refuse)
    embed.model.cache_clear()
    try:
        vectors = embed.embed(["Civil rights leader Jesse Jackson dies", "Jesse Jackson has died", ""])
    finally:
        embed.model.cache_clear()
    assert vectors is not None and vectors.shape == (3, 256)
    assert float(vectors[0] @ vectors[1]) > 0.5 and not vectors[2].any()


def test_clustering_works_without_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "model", lambda: None)
    stories = cluster(
        [
            e(1, "Peru's Congress removes President José Jerí", "Lawmakers removed José Jerí.", "a"),
            e(2, "Peru Congress votes to remove President José Jerí", "Congress removed Jerí.", "b"),
            e(3, "Thousands march in Kosovo on independence day", "Pristina marches.", "c"),
        ],
        weights={},
    )
    assert sorted(len(s.entries) for s in stories) == [1, 2]
