"""Sections: editor rules in their order, classifier, fallback labels, caps and folding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.config import FallbackConfig, ListConfig, TopicConfig
from digest.exceptions import DigestError
from digest.topics import (
    assign_sections,
    example_text,
    fit_classifier,
    keyword_pattern,
    load_model,
    save_model,
    top_terms,
)
from digest.types import Entry, Story
from tests.conftest import SHARED

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


def story(
    key: str, title: str, *, source: str = "src", text: str = "", categories: tuple[str, ...] = ()
) -> Story:
    lead = Entry(
        source=source,
        entry_id=key,
        title=title,
        summary_text=text,
        categories=categories,
        published=NOW,
    )
    return Story(key=key, lead=lead)


def lst(topics: tuple[str, ...], **kw: object) -> ListConfig:
    return ListConfig(
        name="world",
        title="World",
        sender="a@example.org",
        topics=topics,
        fallback=FallbackConfig(name="more", title="More news"),
        **kw,
    )  # type: ignore[arg-type]


TOPICS = (
    TopicConfig(name="americas", title="Americas", keywords=("US", "Peru", "White House")),
    TopicConfig(
        name="europe", title="Europe", keywords=("EU", "France"), categories=("Europe News",)
    ),
    TopicConfig(name="tech", title="Tech", patterns=(r"\bA\.?I\b",), sources=("heise",)),
    TopicConfig(name="sport", title="Sport", max_stories=2),
)


def test_keyword_pattern_caps_and_word_boundaries() -> None:
    assert keyword_pattern("US").search("US strikes")
    assert not keyword_pattern("US").search("tell us more")
    assert not keyword_pattern("US").search("USB sticks")
    assert keyword_pattern("peru").search("PERU votes")
    assert not keyword_pattern("Peru").search("Peruvian food")
    assert keyword_pattern("White House").search("the white  house said")
    assert keyword_pattern("E.U.").search("the E.U. said") and not keyword_pattern("E.U.").search(
        "EUX"
    )


def test_rules_apply_in_documented_order_and_sections_keep_config_order() -> None:
    stories = [
        story("1", "France and the US sign deal"),  # keyword: americas comes first in list order
        story("2", "Tell us about your holiday", source="heise"),  # not "US"; source hint -> tech
        story("3", "Brussels summit opens", categories=("europe news",)),  # feed category
        story("4", "New AI model released"),  # pattern
        story("5", "Match report", source="espn"),  # source default topic
        story("6", "Quiet day at the zoo"),  # nothing -> fallback
    ]
    sections = assign_sections(
        stories,
        topics=TOPICS,
        list_config=lst(("tech", "americas", "europe", "sport")),
        source_topics={"espn": "sport"},
    )
    assert [s.name for s in sections] == ["tech", "americas", "europe", "sport", "more"]
    placed = {st.key: (sec.name, st.section_reason) for sec in sections for st in sec.stories}
    assert placed["1"][0] == "americas" and "keyword 'US'" in placed["1"][1]
    assert placed["2"][0] == "tech" and "source heise" in placed["2"][1]
    assert placed["3"] == ("europe", "feed category 'Europe News'")
    assert placed["4"][0] == "tech" and "pattern" in placed["4"][1]
    assert placed["5"][0] == "sport"
    assert placed["6"][0] == "more" and placed["6"][1].startswith("about: ")
    assert all(st.section == sec.name for sec in sections for st in sec.stories)


def test_topics_outside_the_list_are_not_used() -> None:
    sections = assign_sections(
        [story("1", "Peru votes")], topics=TOPICS, list_config=lst(("europe",)), source_topics={}
    )
    assert [s.name for s in sections] == ["more"]


def test_cap_and_thin_sections_fold_into_fallback_in_rank_order() -> None:
    stories = [story(str(i), f"Match {i}", source="espn") for i in range(4)]
    stories.insert(1, story("p", "Peru votes"))
    sections = assign_sections(
        stories,
        topics=TOPICS,
        list_config=lst(("americas", "sport"), min_section_stories=2),
        source_topics={"espn": "sport"},
    )
    by = {s.name: [x.key for x in s.stories] for s in sections}
    assert by == {"sport": ["0", "1"], "more": ["p"]}
    assert "folded" in sections[-1].stories[0].section_reason


def test_top_terms_are_readable_labels() -> None:
    stories = [
        story(
            "a",
            "Jesse Jackson dies",
            text="The civil rights leader Jesse Jackson has died aged 84.",
        ),
        story("b", "Volcano erupts in Iceland", text="Lava flows near the town of Grindavik."),
    ]
    labels = top_terms(stories)
    assert "jackson" in labels[0] and "volcano" in labels[1]
    assert top_terms([]) == []


@pytest.fixture(scope="module")
def bbc_model():  # type: ignore[no-untyped-def]
    rows = [
        json.loads(line) for line in (SHARED / "datasets" / "topics" / "bbc_shared.jsonl").open()
    ]
    train = rows[:400]
    return fit_classifier(
        [example_text(r["title"], r["text"][:600]) for r in train], [r["label"] for r in train]
    ), rows[400:]


def test_classifier_learns_sections(bbc_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, test = bbc_model
    predicted = model.predict([example_text(r["title"], r["text"][:600]) for r in test])
    accuracy = sum(p == r["label"] for p, r in zip(predicted, test, strict=True)) / len(test)
    assert accuracy > 0.9
    path = tmp_path / "model.joblib"
    save_model(model, path)
    again = load_model(path)
    assert again.predict(["Chelsea beat Arsenal in the cup final"]) == ["sport"]


def test_classifier_is_used_after_rules(bbc_model) -> None:  # type: ignore[no-untyped-def]
    model, _ = bbc_model
    topics = (
        TopicConfig(name="sport", title="Sport"),
        TopicConfig(name="politics", title="Politics", keywords=("Peru",)),
    )
    stories = [
        story("1", "Striker scores twice as United win the league match"),
        story("2", "Peru football"),
    ]
    sections = assign_sections(
        stories,
        topics=topics,
        list_config=lst(("sport", "politics")),
        source_topics={},
        model=model,
    )
    by = {s.name: [(x.key, x.section_reason.split()[0]) for x in s.stories] for s in sections}
    assert by == {"sport": [("1", "classifier")], "politics": [("2", "keyword")]}


def test_bad_model_files_and_labels_raise_digest_errors(tmp_path: Path) -> None:
    with pytest.raises(DigestError):
        load_model(tmp_path / "missing.joblib")
    with pytest.raises(DigestError):
        fit_classifier(["a", "b"], ["x", "x"])
