"""Benchmarks for story clustering and sectioning on labelled JSONL files.

The file format is the one of ``../shared/datasets/``: one JSON object per line with ``id``,
``title``, ``text`` and either ``story`` (a gold story id, for clustering) or ``label`` (a
section name, for topics); real-feed files add ``source``, ``feed``, ``url``, ``published``,
``section`` and ``kind`` (``../shared/datasets/realstories/README.md``), which
:func:`rows_to_entries` and :func:`evaluate_stories` use.

Metrics follow the usual definitions:

- B-cubed precision/recall/F1 (Bagga & Baldwin 1998; Amigó et al. 2009): per item, precision is
  the share of its predicted cluster in its gold story and recall the share of its gold story in
  its predicted cluster, each averaged over items; F1 is their harmonic mean.
- Pairwise precision/recall/F1 over item pairs (Miranda et al. 2018, Priberam ``eval_lib.py``).
- NMI/AMI/ARI from scikit-learn.
- Macro-F1, per-label F1 and the confusion matrix for sections (scikit-learn).

Nothing here prints; the CLI formats the returned values.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from digest.exceptions import DigestError
from digest.types import Entry

__all__ = [
    "ClusterScores",
    "StoryScores",
    "TopicScores",
    "bcubed",
    "check_rows",
    "evaluate_clusters",
    "evaluate_sections",
    "evaluate_stories",
    "evaluate_topics",
    "load_jsonl",
    "pairwise",
    "rows_to_entries",
]

# A fixed, arbitrary time for rows without a date: every such item is "published" together.
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a labelled JSONL file into a list of dicts.

    Raises :class:`DigestError` naming the file and line when the file cannot be read, is
    not UTF-8, holds no row at all (empty or blank lines only), a line is not JSON, or a
    line is not a JSON object with a string ``title``.
    """
    path = Path(path)
    rows: list[dict[str, Any]] = []
    number = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("title"), str):
                    raise DigestError(f"{path}:{number}: expected an object with a 'title' string")
                rows.append(row)
    except OSError as exc:
        raise DigestError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DigestError(f"{path}:{number}: not JSON ({exc.msg} at column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise DigestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not rows:
        raise DigestError(f"{path}: no rows (the file is empty)")
    return rows


def check_rows(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Refuse labelled rows a score would be wrong on, naming the row (1-based, as the
    non-blank lines of the file) and its ``id``: a missing or empty label of ``fields``
    (a string or an integer, such as GoogleNews's story numbers), a ``published`` that is
    neither absent/``null`` nor an ISO 8601 time, and two rows with the same ``source``
    and ``id`` (they would be one entry). Raises :class:`DigestError`."""
    seen: dict[tuple[str, str], int] = {}
    for number, row in enumerate(rows, 1):
        name = f"row {number} (id {row.get('id', '?')!r})"
        for field_name in fields:
            value = row.get(field_name)
            if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
                raise DigestError(f"{name}: needs a '{field_name}' (a non-empty string or a number), got {value!r}")
        value = row.get("published")
        if value is not None and _iso_time(value) is None:
            raise DigestError(f"{name}: 'published' {value!r} is not an ISO 8601 time such as 2026-02-17T10:04:08Z")
        key = (str(row.get("source") or ""), str(row.get("id", number - 1)))
        if key in seen:
            raise DigestError(f"{name}: the same source and id as row {seen[key]}")
        seen[key] = number


def _iso_time(value: object) -> datetime | None:
    """``value`` (ISO 8601, ``Z`` allowed) as an aware UTC time, else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _published(row: dict[str, Any], i: int) -> datetime:
    """The row's ``published`` (ISO 8601, ``Z`` allowed) in UTC; rows without a usable one all
    get the same fixed time (so the time window never splits them)."""
    return _iso_time(row.get("published")) or _EPOCH + timedelta(seconds=i % 60)


def _row_language(row: dict[str, Any]) -> str | None:
    """The row's own ``language`` as a normalised tag, ``None`` when it has none (or not a
    well-formed one)."""
    from digest.parse import normalise_language

    value = row.get("language")
    return normalise_language(value) if isinstance(value, str) else None


def rows_to_entries(rows: Sequence[dict[str, Any]], *, title_only: bool = False) -> list[Entry]:
    """Make one :class:`Entry` per dataset row, as the pipeline would have stored it.

    ``source`` is the row's ``source`` (or ``"dataset"``), ``entry_id`` its ``id``, ``url``
    its ``url``, ``published`` its ``published`` (ISO 8601 UTC) and ``first_seen`` the same.
    Rows without a date (the GoogleNews file) all get one fixed time, so that the time window
    never splits them. ``language`` is the row's ``language`` (a BCP 47 tag, normalised as
    :func:`digest.parse.normalise_language` does), else English (``"en"``); the eval
    commands then give a row found in its local feed file that item's language, as a build
    would (:func:`_with_feed_details`).
    """
    entries: list[Entry] = []
    for i, row in enumerate(rows):
        when = _published(row, i)
        url = row.get("url")
        entries.append(
            Entry(
                source=str(row.get("source") or "dataset"),
                entry_id=str(row.get("id", i)),
                title=str(row.get("title") or ""),
                url=str(url) if isinstance(url, str) and url else None,
                summary_text="" if title_only else str(row.get("text") or ""),
                published=when,
                first_seen=when,
                language=_row_language(row) or "en",
            )
        )
    return entries


def bcubed(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1) of predicted cluster ids ``pred`` against ``gold``."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    n = len(gold)
    if n == 0:
        return 0.0, 0.0, 0.0
    joint = Counter(zip(gold, pred, strict=True))
    gsize = Counter(gold)
    psize = Counter(pred)
    precision = sum(c * c / psize[p] for (_, p), c in joint.items()) / n
    recall = sum(c * c / gsize[g] for (g, _), c in joint.items()) / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def pairwise(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[float, float, float]:
    """Pair-counting (precision, recall, F1): pairs put together by ``pred`` vs by ``gold``."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")

    def pairs(counter: Counter[Any]) -> int:
        return sum(c * (c - 1) // 2 for c in counter.values())

    both = pairs(Counter(zip(gold, pred, strict=True)))
    in_pred = pairs(Counter(pred))
    in_gold = pairs(Counter(gold))
    precision = both / in_pred if in_pred else 1.0
    recall = both / in_gold if in_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class ClusterScores:
    """Clustering figures: B-cubed and pairwise P/R/F1, NMI/AMI/ARI, counts, seconds, bytes."""

    items: int
    gold_clusters: int
    clusters: int
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    nmi: float
    ami: float
    ari: float
    seconds: float
    peak_bytes: int


@dataclass(frozen=True)
class TopicScores:
    """Sectioning figures: macro-F1, accuracy, per-label F1 and the confusion matrix.

    ``confusion[i][j]`` counts test items of ``labels[i]`` predicted as ``labels[j]``.
    """

    items: int
    macro_f1: float
    accuracy: float
    labels: tuple[str, ...]
    per_label_f1: dict[str, float] = field(default_factory=dict)
    confusion: tuple[tuple[int, ...], ...] = ()
    seconds: float = 0.0


def evaluate_clusters(
    rows: Sequence[dict[str, Any]], *, title_only: bool = False, sources: Sequence[Any] = ()
) -> ClusterScores:
    """Cluster ``rows`` (dataset dicts with ``story``) with :func:`digest.cluster.cluster`.

    Each entry's language is its row's ``language``, else that of the row's item in its
    local feed file (a configured source of ``sources`` whose file the row's ``feed``
    names, or that file in the folder of a configured source's file), else English, as in
    :func:`evaluate_stories`; with no ``sources`` the row's or English. Wall time and peak
    memory (``tracemalloc``, Python and NumPy allocations) cover the clustering call only.
    Raises :class:`DigestError` when a row has no ``story``.
    """
    from sklearn import metrics

    from digest.cluster import cluster

    check_rows(rows, ("story",))
    entries = rows_to_entries(rows, title_only=title_only)
    if sources:
        named = [
            replace(e, source=name)
            for e, name in zip(entries, _source_names(rows, sources), strict=True)
        ]
        languages = _with_feed_details(named, rows, sources, language_only=True)
        entries = [replace(e, language=f.language) for e, f in zip(entries, languages, strict=True)]
    gold = [row["story"] for row in rows]
    index = {(e.source, e.entry_id): i for i, e in enumerate(entries)}
    tracemalloc.start()
    started = time.perf_counter()
    stories = cluster(entries, weights={}, window_hours=24.0)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pred = [-1] * len(entries)
    for number, story in enumerate(stories):
        for entry in story.entries:
            pred[index[(entry.source, entry.entry_id)]] = number
    p, r, f = bcubed(gold, pred)
    pp, pr, pf = pairwise(gold, pred)
    return ClusterScores(
        items=len(rows),
        gold_clusters=len(set(gold)),
        clusters=len(stories),
        bcubed_precision=p,
        bcubed_recall=r,
        bcubed_f1=f,
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f1=pf,
        nmi=float(metrics.normalized_mutual_info_score(gold, pred)),
        ami=float(metrics.adjusted_mutual_info_score(gold, pred)),
        ari=float(metrics.adjusted_rand_score(gold, pred)),
        seconds=seconds,
        peak_bytes=peak,
    )


def evaluate_topics(
    train: Sequence[dict[str, Any]],
    test: Sequence[dict[str, Any]],
    *,
    title_only: bool = False,
) -> TopicScores:
    """Train :func:`digest.topics.fit_classifier` on ``train`` and score it on ``test``.

    Both are dataset dicts with ``label``. Raises :class:`DigestError` when a row has none.
    """
    from sklearn import metrics

    from digest.topics import example_text, fit_classifier

    for rows in (train, test):
        if any("label" not in row for row in rows):
            raise DigestError("every row needs a 'label' field for topic evaluation")
    started = time.perf_counter()
    model = fit_classifier(
        [example_text(r["title"], "" if title_only else r.get("text", "")) for r in train],
        [str(r["label"]) for r in train],
    )
    predicted = list(
        model.predict(
            [example_text(r["title"], "" if title_only else r.get("text", "")) for r in test]
        )
    )
    seconds = time.perf_counter() - started
    gold = [str(r["label"]) for r in test]
    labels = tuple(sorted(set(gold) | {str(p) for p in predicted}))
    f1s = metrics.f1_score(gold, predicted, labels=list(labels), average=None, zero_division=0)
    matrix = metrics.confusion_matrix(gold, predicted, labels=list(labels))
    return TopicScores(
        items=len(test),
        macro_f1=float(metrics.f1_score(gold, predicted, average="macro", zero_division=0)),
        accuracy=float(metrics.accuracy_score(gold, predicted)),
        labels=labels,
        per_label_f1={label: float(v) for label, v in zip(labels, f1s, strict=True)},
        confusion=tuple(tuple(int(x) for x in row) for row in matrix),
        seconds=seconds,
    )


def _gold_stories(rows: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Row indices grouped by gold ``story`` (each row alone when it has none), in file order."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(str(row.get("story") or f"\x00{i}"), []).append(i)
    return list(groups.values())


def evaluate_sections(
    rows: Sequence[dict[str, Any]],
    *,
    config: Any,
    list_name: str,
    folds: int = 0,
    seed: int = 0,
    feeds: bool = True,
) -> TopicScores:
    """Section each gold story of ``rows`` with the rules of list ``list_name`` of ``config``
    and score it against the gold ``section`` of its entries (macro-F1 over the gold labels
    and whatever was predicted; a story the list leaves out counts as ``(left out)``).

    Each gold story becomes one :class:`~digest.types.Story` whose lead is its entry from the
    highest-weight source (then the longest summary), as clustering would choose. The
    classifier: with ``folds`` ≥ 2, one is trained per fold on the *other* folds' rows
    (title + text, label = ``section``) and settles the held-out fold's stories the rules
    leave undecided (stories, not entries, are split, so no story is in both); with
    ``folds`` 0, the list's own ``topic_model`` if it has one. Rows are matched to the
    configured sources and, with ``feeds``, get their feed categories as in
    :func:`evaluate_stories`. Raises :class:`DigestError`
    when a row has no ``section`` or the list is unknown.
    """
    import random

    from sklearn import metrics

    from digest.topics import assign_sections, example_text, fit_classifier, load_model
    from digest.types import Story

    if any("section" not in row for row in rows):
        raise DigestError("every row needs a 'section' field for section evaluation")
    try:
        list_config = config.list(list_name)
    except KeyError:
        raise DigestError(f"no list named {list_name!r} in the configuration") from None
    sources = config.list_sources(list_config)
    weights = {s.name: s.weight for s in sources}
    source_topics = {s.name: s.topic for s in sources if s.topic}
    # every story is scored: no section caps, no folding of thin sections
    topic_configs = [
        config.topic(name).model_copy(update={"max_stories": len(rows) + 1})
        for name in list_config.topics
    ]
    list_config = list_config.model_copy(update={"min_section_stories": 1})
    entries = [
        replace(e, source=name)
        for e, name in zip(rows_to_entries(rows), _source_names(rows, sources), strict=True)
    ]
    if feeds:
        entries = _with_feed_details(entries, rows, sources)
    groups = _gold_stories(rows)

    def lead_first(i: int) -> tuple[float, int]:
        return (-weights.get(entries[i].source, 1.0), -len(entries[i].summary_text))

    stories = []
    for members in groups:
        ordered = sorted(members, key=lead_first)
        stories.append(
            Story(
                key=str(ordered[0]),
                lead=entries[ordered[0]],
                others=tuple(entries[i] for i in ordered[1:]),
            )
        )
    gold = [Counter(str(rows[i]["section"]) for i in m).most_common(1)[0][0] for m in groups]

    def section(chunk: Sequence[int], model: Any | None) -> dict[int, str]:
        built = assign_sections(
            [stories[i] for i in chunk],
            topics=topic_configs,
            list_config=list_config,
            source_topics=source_topics,
            model=model,
        )
        placed = {st.key: sec.name for sec in built for st in sec.stories}
        return {i: placed.get(stories[i].key, "(left out)") for i in chunk}

    started = time.perf_counter()
    predicted: dict[int, str] = {}
    model: Any = None
    if folds >= 2:
        order = list(range(len(stories)))
        random.Random(seed).shuffle(order)
        for fold in range(folds):
            held = set(order[fold::folds])
            train = [i for g, m in enumerate(groups) if g not in held for i in m]
            model = fit_classifier(
                [example_text(rows[i]["title"], rows[i].get("text", "")) for i in train],
                [str(rows[i]["section"]) for i in train],
            )
            predicted.update(section(sorted(held), model))
    else:
        model = load_model(list_config.topic_model) if list_config.topic_model else None
        predicted = section(range(len(stories)), model)
    seconds = time.perf_counter() - started
    guess = [predicted[i] for i in range(len(stories))]
    labels = tuple(sorted(set(gold) | set(guess)))
    f1s = metrics.f1_score(gold, guess, labels=list(labels), average=None, zero_division=0)
    matrix = metrics.confusion_matrix(gold, guess, labels=list(labels))
    return TopicScores(
        items=len(stories),
        macro_f1=float(
            metrics.f1_score(gold, guess, labels=sorted(set(gold)), average="macro", zero_division=0)
        ),
        accuracy=float(metrics.accuracy_score(gold, guess)),
        labels=labels,
        per_label_f1={label: float(v) for label, v in zip(labels, f1s, strict=True)},
        confusion=tuple(tuple(int(x) for x in row) for row in matrix),
        seconds=seconds,
    )


@dataclass(frozen=True)
class StoryScores:
    """Whole-build figures on a labelled real-feed file (``digest eval stories``).

    Clustering (B-cubed and pairwise P/R/F1) is over every row; an entry left out as not news
    or dropped as off-topic is a story of its own. ``sections_macro_f1`` compares each
    non-noise entry's section (its story's, ``"(left out)"`` when the list dropped it) with its
    gold ``section`` (``section_confusion``: rows gold, columns predicted, both in the order
    of ``section_labels``, which holds the gold sections and whatever was predicted);
    ``noise_precision``/``noise_recall`` compare the entries left out as not news with the
    gold ``noise-`` stories (1.0 when there is nothing to find or nothing found); with no
    news entry at all there is no section to score and ``sections_macro_f1`` is 0.0.
    """

    items: int
    gold_stories: int
    stories: int
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    sections_macro_f1: float
    per_section_f1: dict[str, float]
    noise_precision: float
    noise_recall: float
    noise_found: int
    noise_gold: int
    seconds: float
    section_labels: tuple[str, ...] = ()
    section_confusion: tuple[tuple[int, ...], ...] = ()


def _feed_details(
    files: Sequence[tuple[str, Path, str | None]], now: datetime
) -> tuple[dict[tuple[str, str], Entry], dict[str, str | None]]:
    """What a real build knows of each entry beyond the JSONL fields (feed categories, lead
    image, author, parse flags such as an audio enclosure, language), read from local feed files ``(source name, path, configured
    language)``: ``(source name, guid or link) -> Entry``, and each source's feed language
    (the feed's own, else the configured one; ``None`` when neither). A file that is missing
    or does not parse adds nothing (its rows then have only their JSONL fields)."""
    from digest.exceptions import DigestError as _Error
    from digest.parse import parse_feed

    found: dict[tuple[str, str], Entry] = {}
    languages: dict[str, str | None] = {}
    for name, path, language in files:
        try:
            parsed = parse_feed(path.read_bytes(), source=name, now=now, language=language)
        except (OSError, _Error, ValueError):
            continue
        languages.setdefault(name, parsed.language)
        for entry in parsed.entries:
            for key in (entry.entry_id, entry.url):
                if key:
                    found.setdefault((name, key), entry)
    return found, languages


def _local_feeds(
    entries: Sequence[Entry], rows: Sequence[dict[str, Any]], sources: Sequence[Any]
) -> list[tuple[str, Path, str | None]]:
    """The local feed files rows are looked up in, ``(source name, path, configured
    language)``: each configured source's ``path``, and for the entry of a row whose source
    has none, the file its ``feed`` names in a folder holding a configured source's file
    (the capture folder of ``../shared/feeds/real``), read with no configured language."""
    files: dict[str, tuple[str, Path, str | None]] = {}
    folders: list[Path] = []
    for source in sources:
        if source.path is not None:
            path = Path(str(source.path))
            files.setdefault(source.name, (source.name, path, source.language))
            if path.parent not in folders:
                folders.append(path.parent)
    for entry, row in zip(entries, rows, strict=True):
        feed = str(row.get("feed") or "")
        if entry.source in files or not feed or Path(feed).name != feed:
            continue
        local = next((folder / feed for folder in folders if (folder / feed).is_file()), None)
        if local is not None:
            files[entry.source] = (entry.source, local, None)
    return list(files.values())


def _with_feed_details(
    entries: Sequence[Entry],
    rows: Sequence[dict[str, Any]],
    sources: Sequence[Any],
    *,
    language_only: bool = False,
) -> list[Entry]:
    """``entries`` (one per row, ``source`` a configured source's name or the row's own)
    with the feed categories, lead image, author and flags of the item their row's ``guid`` or
    ``url`` finds in that source's local feed file (:func:`_local_feeds`,
    :func:`_feed_details`), and its language unless the row gives one: the item's (as
    :func:`digest.parse.parse_feed` sets it: the item's, else the feed's, else the
    source's configured one), else the feed file's, else the entry's own (``"en"``, see
    :func:`rows_to_entries`). ``language_only``: the language alone (``eval clusters``
    scores the clusterer, which reads no categories). Others unchanged."""
    from dataclasses import replace as _replace

    latest = max((e.time for e in entries if e.time is not None), default=_EPOCH)
    details, languages = _feed_details(
        _local_feeds(entries, rows, sources), latest + timedelta(days=1)
    )
    result = list(entries)
    for i, (entry, row) in enumerate(zip(entries, rows, strict=True)):
        keys = (str(row.get("guid") or ""), str(row.get("url") or ""))
        parsed = next((details[(entry.source, k)] for k in keys if (entry.source, k) in details), None)
        language = entry.language
        if _row_language(row) is None:
            found = parsed.language if parsed is not None else None
            language = found or languages.get(entry.source) or entry.language
        if parsed is not None and not language_only:
            result[i] = _replace(
                entry,
                categories=parsed.categories,
                image=parsed.image,
                author=parsed.author,
                flags=parsed.flags,
                language=language,
            )
        elif language != entry.language:
            result[i] = _replace(entry, language=language)
    return result


def _source_names(rows: Sequence[dict[str, Any]], sources: Sequence[Any]) -> list[str]:
    """Each row's configured source name: the source whose ``path``/``url`` ends with the
    row's ``feed`` file name, else the row's ``source``."""
    by_file: dict[str, str] = {}
    for source in sources:
        for where in (source.path, source.url):
            if where is not None:
                by_file.setdefault(Path(str(where)).name, source.name)
    return [_config_source(row, by_file) for row in rows]


def _config_source(row: dict[str, Any], by_file: dict[str, str]) -> str:
    feed = str(row.get("feed") or "")
    return by_file.get(feed) or str(row.get("source") or "dataset")


def evaluate_stories(
    rows: Sequence[dict[str, Any]], config: Any, list_config: Any, *, feeds: bool = True
) -> StoryScores:
    """Run the list's whole build path on ``rows`` and score it against their labels.

    ``rows`` need ``story``, ``section`` (and ``title``; ``source``, ``feed``, ``url``,
    ``published``, ``text`` are used when present); the format is
    ``../shared/datasets/realstories/README.md``. A row's ``feed`` (file name) is matched to
    the config source whose ``path``/``url`` ends with it, so source weights and topics apply
    as in a real build. The path is :func:`digest.edition.assemble` (noise filter, dedupe,
    cluster, rank, sections with the list's rules and ``topic_model``) over a window holding
    every row, with the list's and each section's story cap lifted to hold them all. With
    ``feeds`` (the default), a row found by ``guid`` or ``url`` in its source's local feed
    file (the source's ``path``) gets that item's feed categories, lead image and author, which
    the JSONL does not carry and noise and section rules read. Raises :class:`DigestError`
    when a row lacks ``story`` or ``section``.
    """
    from dataclasses import replace as _replace

    from sklearn import metrics

    from digest import cluster as clustering
    from digest import edition as editions
    from digest import noise
    from digest.topics import load_model

    check_rows(rows, ("story", "section"))
    sources = config.list_sources(list_config)
    entries = [
        _replace(e, source=name)
        for e, name in zip(rows_to_entries(rows), _source_names(rows, sources), strict=True)
    ]
    if feeds:
        entries = _with_feed_details(entries, rows, config.list_sources(list_config))
    index = {(e.source, e.entry_id): i for i, e in enumerate(entries)}
    times = [e.time for e in entries if e.time is not None]
    start, end = min(times), max(times) + timedelta(seconds=1)
    started = time.perf_counter()
    model = load_model(list_config.topic_model) if list_config.topic_model else None
    cap = max(len(entries), 1)
    wide = list_config.model_copy(update={"max_stories": cap})
    uncapped = config.model_copy(
        update={"topics": [t.model_copy(update={"max_stories": cap}) for t in config.topics]}
    )
    built = editions.assemble(
        config=uncapped,
        list_config=wide,
        period="eval",
        window=(start, end),
        entries=entries,
        sent={},
        model=model,
    )
    seconds = time.perf_counter() - started
    pred: list[int] = [-1] * len(entries)
    section: list[str] = ["(left out)"] * len(entries)
    for number, story in enumerate(built.stories):
        for e in story.entries:
            i = index[(e.source, e.entry_id)]
            pred[i] = number
            section[i] = story.section or "(left out)"
    # copies dedupe dropped follow the copy that was kept
    news, not_news = noise.split_noise(entries)
    for group in clustering.copy_groups(news):
        kept = [index[(news[g].source, news[g].entry_id)] for g in group]
        placed = [i for i in kept if pred[i] >= 0]
        for i in kept:
            if pred[i] < 0 and placed:
                pred[i], section[i] = pred[placed[0]], section[placed[0]]
    # entries left out as not news (built.left_out also holds those left out after clustering)
    left_out = {index[(e.source, e.entry_id)] for e, _ in not_news}
    next_label = len(built.stories)
    for i in range(len(pred)):
        if pred[i] < 0:
            pred[i] = next_label
            next_label += 1
    gold = [str(r["story"]) for r in rows]
    p, r_, f = bcubed(gold, pred)
    pp, pr, pf = pairwise(gold, pred)
    gold_noise = {i for i, g in enumerate(gold) if g.startswith("noise-")}
    found = left_out & gold_noise
    scored = [i for i in range(len(rows)) if i not in gold_noise]
    gold_sections = [str(rows[i]["section"]) for i in scored]
    pred_sections = [section[i] for i in scored]
    labels = sorted(set(gold_sections))
    shown = sorted(set(gold_sections) | set(pred_sections))
    f1s: Sequence[float] = []
    matrix: Any = []
    if scored:  # a file of noise alone has no section to score
        with warnings.catch_warnings():  # one label alone: sklearn warns, the figures stand
            warnings.simplefilter("ignore", UserWarning)
            f1s = metrics.f1_score(
                gold_sections, pred_sections, labels=labels, average=None, zero_division=0
            )
            matrix = metrics.confusion_matrix(gold_sections, pred_sections, labels=shown)
    return StoryScores(
        items=len(rows),
        gold_stories=len(set(gold)),
        stories=len(built.stories),
        bcubed_precision=p,
        bcubed_recall=r_,
        bcubed_f1=f,
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f1=pf,
        sections_macro_f1=float(sum(f1s) / len(f1s)) if len(f1s) else 0.0,
        per_section_f1={label: float(v) for label, v in zip(labels, f1s, strict=True)},
        noise_precision=len(found) / len(left_out) if left_out else 1.0,
        noise_recall=len(found) / len(gold_noise) if gold_noise else 1.0,
        noise_found=len(left_out),
        noise_gold=len(gold_noise),
        seconds=seconds,
        section_labels=tuple(shown),
        section_confusion=tuple(tuple(int(x) for x in row) for row in matrix),
    )
