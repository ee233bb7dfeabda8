"""A story an earlier edition carried comes back only with new reporting (digest.repeats)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.rank import rank
from digest.repeats import developments, is_copy
from digest.types import Entry, Story

NOW = datetime(2026, 2, 19, 7, tzinfo=UTC)
TEXT = (
    "Russian and Ukrainian negotiators ended a first day of US-brokered talks in Geneva on "
    "Tuesday without a breakthrough, officials on both sides said."
)


def e(source: str, n: int, title: str, text: str = TEXT, url: str | None = None) -> Entry:
    return Entry(
        source=source,
        entry_id=f"{source}-{n}",
        title=title,
        url=url or f"https://{source}.example/{n}",
        summary_text=text,
        published=NOW - timedelta(hours=30 - n),
    )


SENT_ENTRIES = [
    e("bbc", 1, "First day of Russia-Ukraine peace talks ends in Geneva"),
    e("nyt", 2, "Ukraine and Russia hold new round of peace talks", "Talks opened in Geneva."),
]
SENT = {(x.source, x.entry_id): "2026-02-18" for x in SENT_ENTRIES}


def test_a_retitled_copy_from_a_new_outlet_does_not_bring_the_story_back() -> None:
    copy = e("wire", 3, "[UPDATE] First day of Russia-Ukraine peace talks ends without breakthrough")
    story = Story(key="k", lead=SENT_ENTRIES[0], others=(SENT_ENTRIES[1], copy))
    assert is_copy(copy, SENT_ENTRIES)
    assert developments(story.entries, SENT) == []
    assert rank([story], weights={}, now=NOW, sent=SENT) == []


def test_new_reporting_from_a_new_outlet_comes_back_as_an_update() -> None:
    news = e(
        "abc",
        4,
        "Second day of Geneva talks brings prisoner exchange deal",
        "Russia and Ukraine agreed on Wednesday to exchange 300 prisoners each, negotiators "
        "said after a second day of talks.",
    )
    story = Story(key="k", lead=SENT_ENTRIES[0], others=(SENT_ENTRIES[1], news))
    [again] = rank([story], weights={}, now=NOW, sent=SENT)
    assert again.update
    assert any(r.name == "update" and "abc" in r.note for r in again.reasons)


def test_same_link_or_same_headline_is_a_copy_short_texts_are_not() -> None:
    same_link = e("other", 5, "Totally new words here", "x", url="https://bbc.example/1?utm_source=rss")
    same_head = e("other", 6, "First day of Russia-Ukraine peace talks ends in Geneva - Wire", "y")
    short = e("other", 7, "Talks", "Talks opened.")
    assert is_copy(same_link, SENT_ENTRIES)
    assert is_copy(same_head, SENT_ENTRIES)
    assert not is_copy(short, SENT_ENTRIES)


def test_a_copy_clustering_kept_apart_from_the_sent_story_is_left_out_too() -> None:
    """Precise clustering may not join a re-titled copy with the story it repeats; it is still
    a repeat, and a different story with a different headline is not."""
    sent_story = Story(key="old", lead=SENT_ENTRIES[0], others=(SENT_ENTRIES[1],))
    marked = e("wire", 8, "[UPDATE] First day of Russia-Ukraine peace talks ends in Geneva", "Short.")
    retitled = e("abc", 9, "First day of Russia-Ukraine peace talks ends without breakthrough")
    other = e("abc", 10, "Floods hit Jakarta as thousands flee their homes",
              "Floods hit Jakarta on Tuesday and thousands fled, officials on both sides said.")
    stories = [sent_story, Story(key="m", lead=marked), Story(key="r", lead=retitled),
               Story(key="o", lead=other)]  # fmt: skip
    kept = rank(stories, weights={}, now=NOW, sent=SENT)
    assert [s.key for s in kept] == ["o"]
    assert rank(stories[1:], weights={}, now=NOW, sent={}) != []  # nothing sent: all news


def test_a_teaser_inside_a_long_sent_article_is_new_reporting_not_a_copy() -> None:
    """Dawn's feed carries whole articles: its 3,400-character piece on Trump and the Iran
    talks held most words of BBC's next-day teaser on the 'guiding principles' agreed, which
    the summary rule alone called a copy, so the story's biggest development stayed out."""
    lede = ("Iran and the US will hold talks in Geneva on Tuesday, and officials say guiding"
            " principles for a nuclear deal were discussed.")
    background = [f"Paragraph {n} of background on sanctions and enrichment." for n in range(20)]
    article = e("dawn", 1, "Trump says he will be involved indirectly in Iran talks",
                " ".join([lede, lede, *background]))
    teaser = e("bbc", 2, "Iran says 'guiding principles' agreed with US at nuclear talks",
               "Iran says guiding principles for a nuclear deal were agreed with the US in Geneva.")
    assert not is_copy(teaser, [article])
    assert developments([article, teaser], {("dawn", "dawn-1"): "2026-02-17"}) == [teaser]
    # the same text, re-titled, is still a copy
    again = e("wire", 3, "[UPDATE] Trump to take part indirectly in talks", article.summary_text)
    assert is_copy(again, [article])
