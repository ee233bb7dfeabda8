"""Assign ranked stories to the sections of an edition.

Order in which the rules apply to each story (the first that decides wins):

1. **Weighed evidence of the lede** (the lead's title and the first :data:`LEAD_SENTENCES`
   sentences of its summary, :func:`lead_text`) for each section of the list:
   - the topic's ``keywords`` and ``patterns``: keywords match whole words (``\\b``
     boundaries, any script; none at an edge in a script written without spaces, such as
     Chinese: :data:`digest.places.UNSPACED`); a keyword written ALL IN CAPITALS (``US``,
     ``EU``, ``NATO``) matches case-sensitively, every other keyword case-insensitively, so
     ``US`` never matches the pronoun "us"; patterns are regular expressions, case-insensitive. In the
     title a keyword of a topic without ``places`` weighs :data:`KEYWORD_TITLE`, in the
     summary :data:`KEYWORD_SUMMARY`; a keyword of a topic with places weighs as a place;
   - the **places** named (:func:`digest.places.locate`: countries, capitals, cities and
     demonyms of the shipped gazetteer, weighed so that where the news happens outweighs
     who is named), for the topic whose ``places`` hold their region. A name that is also
     one of the list's keywords counts for that keyword's topic only. A region no topic of
     the list covers (Africa in a list without an Africa section) is a candidate too: when
     it wins, the story is the fallback's (or left out). Places count only for a list with
     at least one topic that has ``places``. When the title and lede name no place and
     no keyword, the outlet's own labels speak: a feed category that is exactly a place name
     (:data:`CATEGORY_PLACE`; tags such as the NYT's list every country an article names, so
     they never outweigh the lede), the desks the outlets filed its entries under
     (:data:`DESK`, :func:`digest.places.desks`: ``/world/europe/``, ``/us-news/``,
     ``"US news"``; the lead's first, then the other entries') and the gazetteer's names of
     every region's news (marked ``^``: the US president), weighed as their marks say.
   Per section the strongest mention counts fully and each other one half, title and
   summary added; places in the titles of the story's other entries count as in the summary,
   times :data:`OTHER_TITLES`. The heaviest candidate decides (ties: the list's topic order) when it
   reaches :data:`MIN_EVIDENCE`; a lead that speaks for :data:`MANY_REGIONS` sections or
   more, none by far the most, is a world story: the fallback's; so is a lead whose title
   speaks for no section and whose summary speaks for two or more, none by far the most
   ("… at the center of the Iran and Ukraine negotiations"), unless the lead's desk is one
   of them (The Economist's ``/asia/`` over "America, Australia and China battle for
   influence among the island states": asia). Only regions count for these
   two rules: a topic that stands for no region (business: :func:`_regional`) names what the
   news is about, and when it weighs most it decides ("Insurers face a bill after floods hit
   Florida" is business, not a story of two regions).
2. **Feed categories**: an entry's own category label equal (case-insensitively) to one of
   a topic's ``categories``; then a folder of the lead's link named as one of them (the
   outlet's desk: ``/economy/`` or ``/business/`` for a topic with ``categories: [Economy]``).
3. **Source hints**: the lead's source listed in a topic's ``sources``, else the source's own
   default topic (``SourceConfig.topic``, given as ``source_topics``).
4. **Classifier** learned from labelled examples (``digest topics fit``), when a model is
   given: its label if it is one of the list's topics and its margin reaches ``min_margin``
   (only for stories rules 1-3 left undecided).
5. **Fallback** section (``ListConfig.fallback``). Stories that land here get a readable
   label from their top terms in ``section_reason`` (``"about: jackson, civil, rights"``).
   A list without a fallback leaves them out; a list without topics has one section for
   everything.

Then: sections keep the list's topic order with the fallback last; each keeps the ranked
order of its stories and at most ``TopicConfig.max_stories`` of them (the rest are left out);
a section with fewer than ``ListConfig.min_section_stories`` stories folds into the fallback
(when there is one). Empty sections are not returned.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from digest.config import FallbackConfig, ListConfig, TopicConfig
from digest.exceptions import DigestError
from digest.overrides import keyword_pattern
from digest.places import Mention, Place, desks, gazetteer, locate
from digest.types import Section, Story

__all__ = [
    "TopicModel",
    "assign_sections",
    "example_text",
    "fit_classifier",
    "keyword_pattern",
    "load_model",
    "save_model",
    "section_of",
    "top_terms",
]

log = logging.getLogger("digest.topics")


def example_text(title: str, text: str = "") -> str:
    """The text a classifier sees for one item: the title twice (it carries the topic), then
    the body."""
    title = (title or "").strip()
    return f"{title}\n{title}\n{(text or '').strip()}"


def _story_text(story: Story) -> str:
    titles = " ".join(e.title for e in story.entries[1:])
    return example_text(story.lead.title, f"{story.lead.summary_text} {titles}")


@dataclass
class TopicModel:
    """A section classifier: a fitted scikit-learn pipeline and the labels it knows.

    ``pipeline`` maps texts (:func:`example_text`) to labels and has ``decision_function``.
    """

    pipeline: Any
    labels: tuple[str, ...]

    def predict(self, texts: Sequence[str]) -> list[str]:
        """One label per text."""
        return [str(label) for label in self.pipeline.predict(list(texts))]

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """One (label, margin) per text; the margin is the winning decision value."""
        if not texts:
            return []
        scores = np.asarray(self.pipeline.decision_function(list(texts)))
        classes = [str(c) for c in self.pipeline.classes_]
        if scores.ndim == 1:  # two classes: positive means classes[1]
            return [(classes[1], float(s)) if s >= 0 else (classes[0], float(-s)) for s in scores]
        best = scores.argmax(axis=1)
        return [(classes[i], float(scores[row, i])) for row, i in enumerate(best)]


def fit_classifier(texts: Sequence[str], labels: Sequence[str], *, c: float = 0.25) -> TopicModel:
    """Train a section classifier on texts made with :func:`example_text`.

    Word uni- and bigrams (words in over half the examples dropped: function words of any
    language) plus character 2-5-grams inside words (seen at least twice), sub-linear TF-IDF,
    a linear SVM (``C = c``). Chosen by 3×5-fold cross-validation on the shared BBC and AG
    files: macro-F1 0.970 and 0.865 against 0.963 and 0.851 for plain TF-IDF + LinearSVC.
    Raises :class:`DigestError` with fewer than two labels or mismatched lengths.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    if len(texts) != len(labels):
        raise DigestError("texts and labels differ in length")
    if len(set(labels)) < 2:
        raise DigestError("a classifier needs examples of at least two labels")
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), max_df=0.5)),
            (
                "chars",
                TfidfVectorizer(
                    sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 5), min_df=2
                ),
            ),
        ]
    )
    pipeline = Pipeline([("features", features), ("svm", LinearSVC(C=c, random_state=0))])
    pipeline.fit(list(texts), list(labels))
    return TopicModel(pipeline=pipeline, labels=tuple(sorted(set(labels))))


def save_model(model: TopicModel, path: str | Path) -> None:
    """Write ``model`` to ``path`` (joblib pickle). Raises :class:`DigestError` on I/O errors."""
    import joblib

    try:
        joblib.dump(model, Path(path))
    except OSError as exc:
        raise DigestError(f"cannot write model {path}: {exc.strerror or exc}") from None


def load_model(path: str | Path) -> TopicModel:
    """Read a model written by :func:`save_model`.

    It is a pickle: load only models you made. Raises :class:`DigestError` when the file is
    missing or is not a topic model.
    """
    import joblib

    try:
        model = joblib.load(Path(path))
    except (OSError, EOFError, ValueError) as exc:
        raise DigestError(f"cannot read model {path}: {exc}") from None
    if not isinstance(model, TopicModel):
        raise DigestError(f"{path}: not a digest topic model")
    return model


def top_terms(stories: Sequence[Story], *, count: int = 3) -> list[tuple[str, ...]]:
    """The ``count`` most distinctive words of each story (TF-IDF against the others).

    Words of the lead's title come first (a headline names the event), then the rest, each
    group by weight. Words of one or two letters are skipped; in batches of 20 stories or
    more, words found in over 20 % of them are skipped too (function words of any language),
    and for stories in English, English stop words.
    Returns ``()`` for a story with no usable word.
    """
    from digest.tfidf import STOP_WORDS, tfidf, tokenize

    if not stories:
        return []
    docs = [tokenize(_story_text(s), min_chars=3) for s in stories]
    fitted = tfidf(docs, sublinear_tf=True, max_df=0.2 if len(docs) >= 20 else 1.0)
    if fitted is None:
        return [() for _ in docs]
    matrix, vocab = fitted
    result = []
    for row, story in enumerate(stories):
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        cols, vals = matrix.indices[start:stop], matrix.data[start:stop]
        in_title = set(tokenize(story.lead.title, min_chars=3))
        if (story.lead.language or "").lower().startswith("en"):  # a label, not function words
            keep = np.array([vocab[c] not in STOP_WORDS for c in cols], dtype=bool)
            cols, vals = cols[keep], vals[keep]
        not_title = np.array([vocab[c] not in in_title for c in cols], dtype=bool)
        order = np.lexsort((cols, -vals, not_title))[:count]
        result.append(tuple(str(vocab[cols[i]]) for i in order))
    return result


KEYWORD_TITLE, KEYWORD_SUMMARY = 7.0, 1.5
"""Weight of a keyword or pattern of a topic without ``places`` in the lead's title /
summary. Such a topic's own words name its subject ("Ukraine", "tariffs", "prices"): in the
title they outweigh one place named there, even "in Russia" (3 × 2)."""
PLACE_KEYWORD_TITLE, PLACE_KEYWORD_SUMMARY = 3.0, 1.0
"""Weight of a keyword of a topic that has ``places``: it names who or what (``Jesse
Jackson``), weighed as a place named without a cue."""
EVENT_CUE = 3.0
"""Factor for the gazetteer's ``world`` names (the Olympics, the UN): an event of the whole
world settles where a story belongs over the countries taking part."""
CATEGORY_PLACE = 1.0
"""Weight of a feed category that is exactly a gazetteer name (the NYT's ``China``, ``Iran``),
weighed as a place named in the summary without a cue, and counted only when the lede names
nothing: such tags list every place the whole article names. Counting them always scored
sections macro-F1 0.845 on the tuning window w1 but 0.662 on the held-out w0; only on a
silent lede, 0.831 and 0.817."""
DESK = 1.0
"""Weight of the outlets' own desks (:func:`digest.places.desks`: a link filed under
``/world/europe/`` or ``/us-news/``, a category ``"US news"``), counted like the feed's place
tags only when the lede names no place: where its editors filed a story that does not say
where it happens ("So, how did conservatives like the State of the Union?"). Every entry's
desk counts, each region once: a lead without one (a BBC link) takes the desk of another
outlet's copy (EL PAÍS's ``/usa/``)."""
OTHER_TITLES = 0.25
"""Factor for the places named in the titles of a story's other entries (each counted as in
the summary): where the other outlets agree the news happens confirms or tips the lead's
evidence ("Macron holds talks with India's Modi" beside "… Rafale deal in India"). Chosen
on the tuning window w1 (0: 0.844, 0.25 and 0.5: 0.860, 1.0: 0.770); the held-out w0, almost
all single-entry stories, does not move."""
MIN_EVIDENCE = 0.5
"""Least total weight for the rules to decide (one demonym in the summary, "the Canadian
author", is enough when nothing else speaks); below it the classifier may."""
MANY_REGIONS = 3
"""A lead that speaks for this many sections or more, none of them by far the most (the best
under :data:`DOMINANT` × the third), is a world story."""
DOMINANT = 1.5


@dataclass(frozen=True)
class Evidence:
    """What the lead of a story says for one candidate: a topic ``name`` of the list, or
    ``None`` for a region no topic of the list covers (``region`` says which); the summed
    ``weight`` and the strongest ``reason``; ``in_title`` when the title carries it."""

    name: str | None
    region: str
    weight: float
    reason: str
    in_title: bool


def _field_score(weights: Sequence[float]) -> float:
    """The strongest mention counts fully, each other one half (a second name of the same
    region confirms it but does not double it)."""
    ordered = sorted(weights, reverse=True)
    return ordered[0] + 0.5 * sum(ordered[1:]) if ordered else 0.0


LEAD_SENTENCES = 2
"""How much of the summary the rules read: its first sentences, the *lede* that says what
happened and where. A feed that carries the whole article in its summary would otherwise let
every country the body mentions in passing outweigh where the news happens."""
LEAD_WORDS = 80
"""A cap on those sentences, in words, for summaries without sentence punctuation."""

_SENTENCE_END = re.compile(
    r"(?<!\b[A-Z])[.?!…][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])"
    r"|[。！？][”’」』）]*"  # Chinese and Japanese stops: no space after, no capitals
    r"|[۔؟](?=\s)"  # the Urdu full stop and question mark (a script without capitals)
)


def lead_text(summary: str, *, sentences: int = LEAD_SENTENCES, words: int = LEAD_WORDS) -> str:
    """The first ``sentences`` sentences of ``summary`` (plain text), at most ``words`` words.

    A sentence ends at ``.``, ``?``, ``!`` or ``…`` (closing quotes and brackets kept) followed
    by white space and a capital letter or digit, so "U.S." and "3.5" do not end one; in
    Chinese or Japanese at ``。``, ``！`` or ``？``; in Urdu at ``۔`` or ``؟`` before a space."""
    text = " ".join((summary or "").split())
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    lead = text[: ends[sentences - 1]] if len(ends) >= sentences else text
    cut = lead.split()
    return " ".join(cut[:words]) if len(cut) > words else lead


_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str] | None:
    """The lower-cased words of ``text``, or ``None`` when it holds a letter outside ASCII
    (where case-insensitive matching knows more than ``lower()``: "ſ" is an "s")."""
    if not text.isascii() and any(c.isalpha() and not c.isascii() for c in text):
        return None
    return frozenset(_WORD.findall(text.lower()))


@functools.lru_cache(maxsize=4096)
def _keyword_words(keyword: str) -> tuple[str, ...] | None:
    """The lower-cased words a keyword's pattern needs in a text (``None``: not ASCII)."""
    return tuple(_WORD.findall(keyword.lower())) if keyword.isascii() else None


@functools.lru_cache(maxsize=256)
def _keyword_index(keywords: tuple[str, ...]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """For :func:`_candidates`: the positions of ``keywords`` under the first word each needs,
    and those of keywords that need none (not ASCII, no word: always tried). A keyword with a
    letter outside ASCII that no ASCII letter matches in any case ("Ucrânia", "经济") is in
    neither: it cannot match a text whose letters are all ASCII, the only texts given words."""
    index: dict[str, list[int]] = {}
    always: list[int] = []
    for i, keyword in enumerate(keywords):
        needed = _keyword_words(keyword)
        if needed:
            index.setdefault(needed[0], []).append(i)
        elif not any(c.isalpha() and _beyond_ascii(c) for c in keyword):
            always.append(i)
    return {word: tuple(at) for word, at in index.items()}, tuple(always)


_ASCII = "".join(map(chr, range(128)))


def _beyond_ascii(char: str) -> bool:
    """True for a character that no ASCII character matches, in any case, as
    :func:`keyword_pattern` compares ("â", "经"; not "ſ", which matches "s", nor the Kelvin
    sign, which matches "k")."""
    return not re.search(re.escape(char), _ASCII, re.IGNORECASE)


def _candidates(keywords: tuple[str, ...], words: frozenset[str] | None) -> set[int]:
    """The positions of the ``keywords`` that may match a text of these ``words``
    (:func:`_words`; ``None``: all of them): each word of a whole-word keyword is a word of
    the text it matches. A shortcut for :func:`_evidence`, which otherwise runs every
    keyword's pattern (~200) over each lede; found through the text's words, so its cost
    follows the lede's length, not the number of keywords."""
    if words is None:
        return set(range(len(keywords)))
    index, always = _keyword_index(keywords)
    found = set(always)
    for word in index.keys() & words:
        for i in index[word]:
            needed = _keyword_words(keywords[i]) or ()
            if all(w in words for w in needed):
                found.add(i)
    return found


@functools.lru_cache(maxsize=4096)
def _claimed(keywords: tuple[str, ...], name: str) -> bool:
    """True when one of the list's ``keywords`` is exactly the place ``name``."""
    return any(keyword_pattern(w).fullmatch(name) for w in keywords)


def _noun(place: Place) -> str:
    """How a reason names a gazetteer entry: ``place``, or ``term`` for one that is not a place
    (``"term 'figure skater' (world)"``, ``"term 'FCC' (americas)"``)."""
    return "term" if place.term else "place"


def _region_topics(topics: Sequence[TopicConfig]) -> dict[str, str]:
    """Region -> the first topic whose ``places`` hold it."""
    region_topic: dict[str, str] = {}
    for topic in topics:
        for region in topic.places:
            region_topic.setdefault(region, topic.name)
    return region_topic


def _evidence(story: Story, topics: Sequence[TopicConfig]) -> list[Evidence]:
    """Keyword, pattern and place evidence for each candidate section, best first (ties:
    the list's topic order, regions no topic covers last). Reads the lead's title and the
    first sentences of its summary (:func:`lead_text`)."""
    title, summary = story.lead.title or "", lead_text(story.lead.summary_text or "")
    title_words, summary_words = _words(title), _words(summary)
    found: dict[tuple[str | None, str], dict[str, list[tuple[float, str]]]] = {}

    def add(key: tuple[str | None, str], field: str, weight: float, reason: str) -> None:
        found.setdefault(key, {"title": [], "summary": []})[field].append((weight, reason))

    for topic in topics:
        title_w, summary_w = (
            (PLACE_KEYWORD_TITLE, PLACE_KEYWORD_SUMMARY)
            if topic.places
            else (KEYWORD_TITLE, KEYWORD_SUMMARY)
        )
        keywords = tuple(topic.keywords)
        in_title = _candidates(keywords, title_words)
        in_summary = _candidates(keywords, summary_words)
        for i in sorted(in_title | in_summary):
            word = keywords[i]
            pattern = keyword_pattern(word)
            if i in in_title and pattern.search(title):
                add((topic.name, ""), "title", title_w, f"keyword {word!r}")
            elif i in in_summary and pattern.search(summary):
                add((topic.name, ""), "summary", summary_w, f"keyword {word!r} in the summary")
        for expression in topic.patterns:
            if re.search(expression, title, re.IGNORECASE):
                add((topic.name, ""), "title", title_w, f"pattern {expression!r}")
            elif re.search(expression, summary, re.IGNORECASE):
                add((topic.name, ""), "summary", summary_w, f"pattern {expression!r} in the summary")
    region_topic = _region_topics(topics)
    keywords = tuple(w for t in topics for w in t.keywords)
    # places are evidence only for a list that has sections by region
    everywhere: list[Mention] = []  # names of every region's news: for a silent lede only
    for mention in locate(title, summary) if region_topic else ():
        if _claimed(keywords, mention.place.name):
            continue  # the editor's keyword claims this name for its topic
        if mention.place.alone:
            everywhere.append(mention)
            continue
        region = mention.place.region
        weight = mention.weight * (EVENT_CUE if region == "world" else 1.0)
        cue = f", {mention.cue}" if mention.cue else ""
        where = "" if mention.field == "title" else " in the summary"
        reason = f"{_noun(mention.place)} {mention.place.name!r} ({region}{cue}){where}"
        add((region_topic.get(region), region if region not in region_topic else ""),
            mention.field, weight, reason)
    # the other outlets' headlines: where they agree the news happens
    for other in story.entries[1:] if region_topic and OTHER_TITLES else ():
        for mention in locate(other.title or ""):
            if _claimed(keywords, mention.place.name) or mention.place.alone:
                continue
            region = mention.place.region
            weight = OTHER_TITLES * mention.weight * (EVENT_CUE if region == "world" else 1.0)
            cue = f", {mention.cue}" if mention.cue else ""
            reason = (
                f"{_noun(mention.place)} {mention.place.name!r} ({region}{cue})"
                f" in {other.source}'s title"
            )
            add((region_topic.get(region), region if region not in region_topic else ""),
                "summary", weight, reason)
    # a feed category that is a place name ("China", "Iran") is the outlet's tag for a place
    # the article names somewhere: it speaks only when the lede itself names nothing
    silent = not any(hit for fields in found.values() for hit in fields.values())
    # a name of every region's news (the US president) says whom a lede that names nothing
    # else concerns: "The goal of the Trump Action Tracker is ..." is American news
    for mention in everywhere if silent else ():
        region = mention.place.region
        where = "" if mention.field == "title" else " in the summary"
        add((region_topic.get(region), region if region not in region_topic else ""),
            mention.field, mention.weight,
            f"term {mention.place.name!r} ({region}, named alone){where}")
    for category in story.lead.categories if region_topic and CATEGORY_PLACE and silent else ():
        for mention in locate("", category):
            if mention.place.name.casefold() != category.strip().casefold():
                continue
            region = mention.place.region
            add((region_topic.get(region), region if region not in region_topic else ""),
                "summary", CATEGORY_PLACE, f"feed category {category!r} ({region})")

    # the outlets' desks (where their editors filed the story's entries, the lead's first)
    # likewise settle a silent lede
    filed: dict[str, str] = {}
    for entry in story.entries if region_topic and silent and DESK else ():
        for region, label in desks(entry.url, entry.categories):
            filed.setdefault(region, label)
    for region, label in filed.items():
        add((region_topic.get(region), region if region not in region_topic else ""),
            "summary", DESK, f"desk {label!r} ({region})")

    # a topic's keywords and its regions' places add up to one candidate
    merged: dict[tuple[str | None, str], Evidence] = {}
    order = {t.name: i for i, t in enumerate(topics)}
    for key, fields in found.items():
        title_hits = fields["title"]
        weight = _field_score([w for w, _ in title_hits]) + _field_score(
            [w for w, _ in fields["summary"]]
        )
        best = max(title_hits or fields["summary"], key=lambda pair: pair[0])
        merged[key] = Evidence(
            name=key[0], region=key[1], weight=weight, reason=best[1], in_title=bool(title_hits)
        )
    return sorted(
        merged.values(),
        key=lambda e: (-e.weight, order.get(e.name or "", len(order)), e.region),
    )


def _regional(topic: TopicConfig) -> bool:
    """True for a topic that stands for a region: it has ``places``, or half its keywords or
    more are gazetteer places (``Ukraine``, ``Kyiv``, ``Crimea``). Any other topic (business,
    whose ``Wall Street`` is one place among a hundred words; science) names a subject, which
    can happen anywhere."""
    return bool(topic.places) or _mostly_places(tuple(topic.keywords))


@functools.lru_cache(maxsize=256)
def _mostly_places(keywords: tuple[str, ...]) -> bool:
    names = {p.name.casefold() for p in gazetteer() if not p.term}
    placed = sum(" ".join(w.split()).casefold() in names for w in keywords)
    return bool(keywords) and 2 * placed >= len(keywords)


def _link_sections(url: str | None) -> frozenset[str]:
    """The folders of a link's path before its last segment, lower case, ``-``/``_`` as
    spaces: where the outlet filed it (``/economy/`` of ``/economy/2026/2/17/slug``)."""
    from urllib.parse import urlsplit

    try:
        path = urlsplit(url or "").path
    except ValueError:
        return frozenset()
    parts = [p for p in path.split("/") if p][:-1]
    return frozenset(" ".join(re.sub(r"[-_]+", " ", p).split()).casefold() for p in parts)


def _filed_among(
    story: Story, topics: Sequence[TopicConfig], named: Sequence[Evidence]
) -> tuple[str, str] | None:
    """The section of the lead's desk (:func:`digest.places.desks`) when it is one of the
    regions ``named``: the outlet's editors settle which of the regions a summary names the
    news belongs to. ``None`` when the lead has no such desk."""
    region_topic = _region_topics(topics)
    names = {e.name for e in named if e.name}
    for region, label in desks(story.lead.url, story.lead.categories):
        name = region_topic.get(region)
        if name in names:
            return name, f"desk {label!r} ({region}) among the regions named in the summary"
    return None


def _rule_topic(
    story: Story,
    topics: Sequence[TopicConfig],
    source_topics: Mapping[str, str],
) -> tuple[str | None, str] | None:
    """(topic name, reason) from the editor rules 1-3, or ``None`` when no rule decides.
    The name is ``None`` (with a reason) when the news happens in a region no topic of the
    list covers, or across many regions: the fallback's, if the list has one."""
    evidence = [e for e in _evidence(story, topics) if e.weight > 0]
    if evidence and evidence[0].weight >= MIN_EVIDENCE:
        # a topic of no region (business) names what the news is about, not where: it is
        # never one of "several regions", and when it weighs most it decides
        subjects = {t.name for t in topics if not _regional(t)}
        strong = [e for e in evidence if e.weight >= MIN_EVIDENCE and e.name not in subjects]
        if evidence[0].name in subjects:
            strong = []
        if len(strong) >= MANY_REGIONS and strong[0].weight < DOMINANT * strong[2].weight:
            listed = ", ".join(e.name or e.region for e in strong)
            return None, f"several regions named ({listed})"
        if (
            len(strong) >= 2
            and not any(e.in_title for e in strong)
            and strong[0].weight <= DOMINANT * strong[1].weight
        ):
            desk = _filed_among(story, topics, strong)
            if desk is not None:
                return desk
            listed = ", ".join(e.name or e.region for e in strong)
            return None, f"several regions named in the summary only ({listed})"
        best = evidence[0]
        if best.name is None:
            return None, f"{best.reason}: not a section of this list"
        return best.name, best.reason
    labels = {c.casefold() for e in story.entries for c in e.categories}
    for topic in topics:
        for category in topic.categories:
            if category.casefold() in labels:
                return topic.name, f"feed category {category!r}"
    filed = _link_sections(story.lead.url)
    for topic in topics:
        for category in topic.categories:
            if category.casefold() in filed:
                return topic.name, f"filed under /{category.casefold()}/"
    names = {t.name for t in topics}
    for topic in topics:
        if story.lead.source in topic.sources:
            return topic.name, f"source {story.lead.source}"
    hinted = source_topics.get(story.lead.source)
    if hinted in names:
        return str(hinted), f"source {story.lead.source} default topic"
    return None


def assign_sections(
    stories: Sequence[Story],
    *,
    topics: Sequence[TopicConfig],
    list_config: ListConfig,
    source_topics: Mapping[str, str],
    model: Any | None = None,
    min_margin: float = -0.25,
) -> tuple[Section, ...]:
    """Group ranked ``stories`` into the list's sections (rules in the module docstring).

    ``topics`` is every configured topic; the list's ``topics`` pick and order the ones used
    (all of ``topics`` when the list names none). ``source_topics`` maps a source name to its
    default topic. ``model`` is a :class:`TopicModel` (see :func:`load_model`) or ``None``.
    Each returned story has ``section`` and ``section_reason`` set. Pure; never raises for
    odd stories.
    """
    by_name = {t.name: t for t in topics}
    wanted = list_config.topics or tuple(by_name)
    active = [by_name[name] for name in wanted if name in by_name]
    names = {t.name for t in active}
    # a list without topics has one section for everything, fallback or not
    fallback = list_config.fallback or (None if active else FallbackConfig())

    chosen: list[tuple[str | None, str]] = [
        _rule_topic(s, active, source_topics) or (None, "") for s in stories
    ]
    if model is not None:
        pending = [i for i, (name, why) in enumerate(chosen) if name is None and not why]
        guesses = model.classify([_story_text(stories[i]) for i in pending]) if pending else []
        for i, (label, margin) in zip(pending, guesses, strict=True):
            if label in names and margin >= min_margin:
                chosen[i] = (label, f"classifier {label} (margin {margin:.2f})")

    buckets: dict[str, list[Story]] = {t.name: [] for t in active}
    spill: list[Story] = []
    for story, (name, reason) in zip(stories, chosen, strict=True):
        if name is None:
            spill.append(replace(story, section=None, section_reason=reason))
            continue
        bucket = buckets[name]
        if len(bucket) < by_name[name].max_stories:
            bucket.append(replace(story, section=name, section_reason=reason))
        else:
            log.debug("topics.cap section=%s story=%s", name, story.key)

    if fallback is None:  # off-topic stories are left out; a thin section cannot fold
        for story in spill:
            log.debug("topics.off_topic story=%s reason=%s", story.key, story.section_reason)
        return tuple(
            Section(name=t.name, title=t.title, stories=tuple(buckets[t.name]))
            for t in active
            if buckets[t.name]
        )
    for name, bucket in buckets.items():
        if bucket and len(bucket) < list_config.min_section_stories:
            spill.extend(
                replace(s, section_reason=f"{s.section_reason}; folded: thin section")
                for s in bucket
            )
            buckets[name] = []
    # the fallback keeps the ranked order of the stories it receives
    position = {s.key: i for i, s in enumerate(stories)}
    spill.sort(key=lambda s: position.get(s.key, 0))
    # terms weighed against every story of the edition: a larger batch gives a better IDF
    terms_of = dict(zip((s.key for s in stories), top_terms(stories), strict=True)) if spill else {}
    folded = []
    for story in spill:
        terms = terms_of.get(story.key, ())
        about = f"about: {', '.join(terms)}" if terms else ""
        reason = "; ".join(part for part in (story.section_reason, about) if part)
        folded.append(replace(story, section=fallback.name, section_reason=reason))
    sections = [
        Section(name=t.name, title=t.title, stories=tuple(buckets[t.name]))
        for t in active
        if buckets[t.name]
    ]
    if folded:
        sections.append(Section(name=fallback.name, title=fallback.title, stories=tuple(folded)))
    return tuple(sections)


def section_of(
    story: Story,
    *,
    topics: Sequence[TopicConfig],
    list_config: ListConfig,
    source_topics: Mapping[str, str],
    model: Any | None = None,
) -> tuple[str, str] | None:
    """``(section name, reason)`` that the list's rules give one ``story`` alone (the rules
    of :func:`assign_sections`, without caps or folding), or ``None`` when the list has no
    fallback and no rule claims it. For a story an editor split off."""
    single = list_config.model_copy(update={"min_section_stories": 1})
    sections = assign_sections(
        [story], topics=topics, list_config=single, source_topics=source_topics, model=model
    )
    for section in sections:
        for placed in section.stories:
            return section.name, placed.section_reason
    return None
