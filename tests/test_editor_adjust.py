"""Per-edition adjustments: the pure function the preview and publish share, and the store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from digest.adjust import (
    Adjustment,
    EditionSent,
    Rules,
    apply_adjustments,
    boost_factor,
    clean_summary,
    dropped_stories,
    entry_ref,
    merge,
    move,
    refuse_if_sent,
    split,
)
from digest.store import Store
from digest.types import Reason
from tests.sample_edition import NOW, sample_edition


def titles(edition, section: str) -> list[str]:
    return [s.key for sec in edition.sections if sec.name == section for s in sec.stories]


def test_no_adjustments_returns_the_same_edition() -> None:
    edition = sample_edition()
    assert apply_adjustments(edition, []) is edition
    assert apply_adjustments(edition, [Adjustment("s-talks", "explode")]) is edition


def test_pin_moves_a_story_to_the_top_of_its_section_and_marks_it() -> None:
    edition = sample_edition()
    assert titles(edition, "americas") == ["s-jackson", "s-venezuela"]
    pinned = apply_adjustments(edition, [Adjustment("s-venezuela", "pin")])
    assert titles(pinned, "americas") == ["s-venezuela", "s-jackson"]
    story = pinned.sections[2].stories[0]
    assert story.pinned and story.reasons[-1].name == "pin"
    # other sections and the section order are untouched
    assert [s.name for s in pinned.sections] == [s.name for s in edition.sections]
    assert titles(pinned, "ukraine") == titles(edition, "ukraine")


def test_boost_multiplies_the_score_and_resorts() -> None:
    edition = sample_edition()
    boosted = apply_adjustments(edition, [Adjustment("s-alawite", "boost", "2")])
    assert titles(boosted, "middle-east") == ["s-alawite", "s-iran"]
    story = boosted.sections[1].stories[0]
    assert story.score == 4.2 * 2
    assert ("edition boost", 2.0) in [(r.name, r.value) for r in story.reasons]


def test_a_boost_that_is_not_a_number_is_ignored() -> None:
    edition = sample_edition()
    same = apply_adjustments(edition, [Adjustment("s-alawite", "boost", "lots")])
    assert titles(same, "middle-east") == ["s-iran", "s-alawite"]
    assert boost_factor("nan") is None and boost_factor("1e9") is None and boost_factor("0.5") == 0.5


def test_drop_removes_the_story_and_an_emptied_section() -> None:
    edition = sample_edition()
    adjustments = [Adjustment("s-jackson", "drop"), Adjustment("s-venezuela", "drop")]
    dropped = apply_adjustments(edition, adjustments)
    assert "americas" not in [s.name for s in dropped.sections]
    assert len(dropped.stories) == len(edition.stories) - 2
    assert [s.key for s in dropped_stories(edition, adjustments)] == ["s-jackson", "s-venezuela"]


def test_summary_rewrite_replaces_text_and_escapes_html() -> None:
    edition = sample_edition()
    new = apply_adjustments(edition, [Adjustment("s-rio", "summary", "Samba <b>all</b>\x00 night")])
    story = next(s for s in new.stories if s.key == "s-rio")
    assert story.lead.summary_text == "Samba <b>all</b> night"
    assert story.lead.summary_html == "<p>Samba &lt;b&gt;all&lt;/b&gt; night</p>"
    assert clean_summary("a\n\n  b" + "x" * 3000).startswith("a b") and len(clean_summary("x" * 3000)) == 2000


def test_an_adjustment_follows_the_story_when_its_key_changes() -> None:
    """A later build may give the story a new key (another lead); the stored lead entry
    still finds it."""
    edition = sample_edition()
    story = edition.sections[0].stories[1]
    renamed = dataclasses.replace(
        edition,
        sections=(
            dataclasses.replace(
                edition.sections[0],
                stories=(edition.sections[0].stories[0], dataclasses.replace(story, key="new-key")),
            ),
            *edition.sections[1:],
        ),
    )
    adj = Adjustment("s-drones", "drop", lead_source=story.lead.source, lead_entry_id=story.lead.entry_id)
    assert "new-key" not in [s.key for s in apply_adjustments(renamed, [adj]).stories]


def test_store_keeps_one_adjustment_per_story_and_action(db_url: str) -> None:
    store = Store.open(db_url)
    store.set_adjustment("world", "2026-02-18", Adjustment("k", "boost", "2"), now=NOW)
    store.set_adjustment("world", "2026-02-18", Adjustment("k", "boost", "3"), now=NOW)
    store.set_adjustment("world", "2026-02-18", Adjustment("k", "pin"), now=NOW + timedelta(seconds=1))
    store.set_adjustment("world", "2026-02-19", Adjustment("k", "drop"), now=NOW)
    got = store.adjustments("world", "2026-02-18")
    assert [(a.action, a.value) for a in got] == [("boost", "3"), ("pin", "")]
    assert store.clear_adjustment("world", "2026-02-18", "k", "pin") is True
    assert store.clear_adjustment("world", "2026-02-18", "k", "pin") is False
    assert [a.action for a in store.adjustments("world", "2026-02-18")] == ["boost"]
    store.close()


def test_publish_hooks_read_the_store(db_url: str) -> None:
    from digest.adjust import adjusted, may_send

    store = Store.open(db_url)
    edition = sample_edition()
    assert adjusted(edition, store) is edition
    store.set_adjustment("world", edition.period, Adjustment("s-rio", "drop"), now=NOW)
    store.set_adjustment("other", edition.period, Adjustment("s-talks", "drop"), now=NOW)
    assert [s.key for s in adjusted(edition, store).stories if s.key in ("s-rio", "s-talks")] == ["s-talks"]
    assert may_send("world", edition.period, require_approval=False, store=store)
    assert not may_send("world", edition.period, require_approval=True, store=store)
    store.approve_edition("world", edition.period, by="editor", now=NOW)
    assert may_send("world", edition.period, require_approval=True, store=store)
    assert not may_send("world", "2026-02-19", require_approval=True, store=store)
    store.close()


# -- reshaping: split, move, merge --------------------------------------------------------



def _story(edition, key):
    return next(s for s in edition.stories if s.key == key)


def _section_of(edition, key) -> str:
    return next(sec.name for sec in edition.sections for s in sec.stories if s.key == key)


def test_split_takes_an_entry_into_a_story_of_its_own_and_scores_both_again() -> None:
    edition = sample_edition()
    talks = _story(edition, "s-talks")
    key_events = talks.others[1]
    after = apply_adjustments(edition, [split(key_events)])
    left = _story(after, "s-talks")
    assert key_events not in left.entries and len(left.entries) == 2
    alone = next(s for s in after.stories if s.lead == key_events)
    assert alone.others == () and alone.key not in {s.key for s in edition.stories}
    # re-scored from its own outlets: one outlet now, fewer than the three it had
    assert alone.score < talks.score and left.score != talks.score
    assert any(r.name == "editor" for r in alone.reasons)
    assert _section_of(after, alone.key) == "ukraine"  # no list rules given: its story's section
    assert len(after.stories) == len(edition.stories) + 1


def test_split_is_sectioned_by_the_rules_it_is_given() -> None:
    edition = sample_edition()
    talks = _story(edition, "s-talks")
    rules = Rules(
        score=lambda story: (0.5, (Reason("score", 0.5),)),
        section=lambda story: ("europe", "keyword 'test'"),
        sections=(("ukraine", "U"), ("middle-east", "M"), ("americas", "A"), ("europe", "Europe"),
                  ("more", "Elsewhere")),
    )  # fmt: skip
    after = apply_adjustments(edition, [split(talks.others[0])], rules)
    alone = next(s for s in after.stories if s.lead == talks.others[0])
    assert _section_of(after, alone.key) == "europe" and alone.section_reason == "keyword 'test'"
    # a section the edition did not have takes its place in the list's order
    assert [sec.name for sec in after.sections] == ["ukraine", "middle-east", "americas", "europe", "more"]
    assert titles(after, "middle-east") == titles(edition, "middle-east")  # untouched


def test_move_puts_an_entry_into_another_story() -> None:
    edition = sample_edition()
    talks, drones = _story(edition, "s-talks"), _story(edition, "s-drones")
    geneva = talks.others[0]
    after = apply_adjustments(edition, [move(geneva, into=drones)])
    assert geneva in _story(after, "s-drones").entries
    assert geneva not in _story(after, "s-talks").entries
    assert _story(after, "s-drones").lead == drones.lead  # the target keeps its lead
    # moving an entry into the story it is already in changes nothing
    assert apply_adjustments(edition, [move(geneva, into=talks)]) is edition


def test_merge_joins_two_stories_and_pins_still_find_the_result() -> None:
    edition = sample_edition()
    talks, drones = _story(edition, "s-talks"), _story(edition, "s-drones")
    after = apply_adjustments(edition, [merge(drones, into=talks), Adjustment("s-talks", "pin")])
    merged = _story(after, "s-talks")
    assert drones.lead in merged.entries and merged.pinned
    assert "s-drones" not in {s.key for s in after.stories}
    assert len(after.stories) == len(edition.stories) - 1


def test_reshaping_follows_entries_not_keys_and_ignores_what_left_the_window() -> None:
    edition = sample_edition()
    talks = _story(edition, "s-talks")
    renamed = dataclasses.replace(
        edition,
        sections=(
            dataclasses.replace(
                edition.sections[0],
                stories=(dataclasses.replace(talks, key="another-key"), *edition.sections[0].stories[1:]),
            ),
            *edition.sections[1:],
        ),
    )
    after = apply_adjustments(renamed, [split(talks.others[1])])
    assert talks.others[1] not in _story(after, "another-key").entries
    gone = Adjustment("x/y", "split", lead_source="x", lead_entry_id="y")
    assert apply_adjustments(edition, [gone]) is edition
    only = _story(edition, "s-drones")
    assert apply_adjustments(edition, [split(only.lead)]) is edition  # a story's only entry
    assert entry_ref(only.lead) == "npr-world/npr-world:drones"


def test_refuse_if_sent_names_the_edition(db_url: str) -> None:
    store = Store.open(db_url)
    refuse_if_sent(store, "world", "2026-02-18")  # nothing stored yet: allowed
    store.create_edition(
        list_name="world", period="2026-02-18", window_start=NOW - timedelta(days=1),
        window_end=NOW, now=NOW, subject="s", preheader="p", html="<p>x</p>", text="x",
        carried=[], variants={}, recipients=[],
    )  # fmt: skip
    try:
        refuse_if_sent(store, "world", "2026-02-18")
    except EditionSent as exc:
        assert "world/2026-02-18" in str(exc) and "not yet sent" in str(exc)
    else:
        raise AssertionError("a stored edition was not refused")
    finally:
        store.close()


def test_an_entry_split_off_can_be_merged_back() -> None:
    edition = sample_edition()
    talks = _story(edition, "s-talks")
    geneva = talks.others[0]
    once = apply_adjustments(edition, [split(geneva)])
    alone = next(s for s in once.stories if s.lead == geneva)
    back = apply_adjustments(edition, [split(geneva), merge(alone, into=talks)])
    assert set(_story(back, "s-talks").entries) == set(talks.entries)
    assert len(back.stories) == len(edition.stories)


def test_an_editors_note_among_the_score_factors_reads_as_a_neutral_factor() -> None:
    # the "why here" table lists factors that multiply into the score; an editor's split,
    # move or merge and a rewritten summary change no factor, yet they read "0.00" there,
    # as if they had zeroed a score that stayed as it was
    edition = sample_edition()
    talks = _story(edition, "s-talks")
    after = apply_adjustments(
        edition, [split(talks.others[1]), Adjustment("s-rio", "summary", "New text")]
    )
    notes = [
        r
        for s in after.stories
        for r in s.reasons
        if r.name in ("editor", "summary")
    ]
    assert {r.name for r in notes} == {"editor", "summary"}
    assert all(r.value == 1.0 for r in notes)
