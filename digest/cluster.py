"""Near-duplicate removal and same-story grouping across sources.

Two steps, in the order the pipeline calls them:

1. :func:`dedupe` collapses *the same item* reached twice: the same (source, entry id), the
   same canonical URL (scheme, ``www.``, tracking parameters, fragment and a trailing slash
   ignored), or the same wire story republished by several outlets (equal headline once an
   outlet suffix such as `` - Reuters`` is cut, and summaries that agree). It is deliberately
   strict: two different stories must never merge.
2. :func:`cluster` groups entries *about the same event* into a :class:`~digest.types.Story`,
   precise first (a false "also reported by" is the error a reader sees; a missed merge only
   costs a line). Pairwise similarity combines TF-IDF over headline and lede (headline
   counted twice, sub-linear term frequency, CJK text split into character bigrams so no
   language needs a word list, terms in more than 25 % of a large batch's documents written
   in their script dropped), wordllama sentence embeddings (not for text the model spells
   letter by letter, such as Urdu or Chinese, nor Portuguese, German, Spanish or French text,
   which it puts all close: its pairs are judged by TF-IDF alone, in which its own words
   still count), shared names, a same-outlet and a time-distance penalty
   (:mod:`digest.similarity`); two leads that put their events in different countries never
   join (:mod:`digest.placeconflict`). What :mod:`digest.noise` calls not news (a roundup names
   several stories) stands alone, and copies of one text count once. Average-link agglomerative clustering over ``1 − similarity``
   is cut with a size-dependent limit: two single entries join only when clearly close,
   large groups (whose average distance is naturally larger) up to a looser limit; groups of
   ten or more whose centroids agree are joined (halves of one broad story). Finally every
   member of a small story must be close to at least one other member, by the combined
   similarity and by the meaning model on its own; then an entry left alone that carries a
   story's own name (one most of its members carry and no other entry of the batch) joins it
   when the meaning model agrees, and one still alone that shares three rare name words with
   another outlet's report within 36 hours joins that report's story of two or more
   (:mod:`digest.anchors`); one still alone whose headline shares a phrase only two
   headlines of the batch write joins that report, or its story (:mod:`digest.phrases`). Entries
   further apart in time than ``window_hours`` are kept apart. Large batches go in
   time-ordered chunks overlapping by the window (:func:`chunks`), memory linear in the
   number of entries.

The defaults were chosen by cross-validation across real-feed windows and data sets (three
hand-labelled windows, each held out in turn, and two halves of GoogleNews; see ``DESIGN.md``
and ``bench/cluster_cv.py``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

from digest.similarity import Params, Signals, block, signals
from digest.types import Copy, Entry, Story

__all__ = [
    "MAX_BATCH",
    "Params",
    "canonical_url",
    "chunks",
    "cluster",
    "copy_groups",
    "dedupe",
    "story_key",
]

log = logging.getLogger("digest.cluster")

#: Largest batch clustered at once; larger ones go in time-ordered overlapping chunks
#: (the distance matrix grows with the square of the batch: ~400 MB at this size).
MAX_BATCH = 10_000

# Query parameters that only track the click, never select the content.
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|"
    r"ocid|cmpid|at_\w+|ns_\w+|ref|ref_src|referrer|smid|smtyp|taid|ito|yclid|igshid|s_cid)$",
    re.IGNORECASE,
)
# " - Reuters", " | AP News", " — The Guardian": an outlet name after a dash or bar at the end.
_SUFFIX = re.compile(r"\s+[-–—|:]\s+[^-–—|:]{2,40}$")
_WORD = re.compile(r"\w+", re.UNICODE)
# Scripts written without spaces between words (Han, Hiragana, Katakana, Thai, Lao, Khmer).
_CJK_RUN = re.compile(
    r"[\u0e00-\u0eff\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)
_MIN_TITLE_WORDS = 4  # a headline match alone needs at least this many words
_SUMMARY_AGREEMENT = 0.6  # share of the shorter summary's words found in the longer one
_MAX_TEXT_CHARS = 300  # summary characters used for clustering: the lede carries the event;
# the rest of a full-text article talks about context and bridges unrelated stories
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


# ---------------------------------------------------------------------------------------------
# dedupe


def canonical_url(url: str | None) -> str | None:
    """The URL's identity for duplicate detection, or ``None`` when it cannot identify an item.

    Lower-cased host without ``www.``, no scheme (http and https are the same item), no
    tracking parameters (``utm_*``, ``fbclid``, ``at_medium``, ...), remaining parameters
    sorted, no trailing slash. The fragment is kept (live blogs tell their posts apart by it).
    A URL with an empty path and no query (a home page, which some feeds give for every item)
    returns ``None``.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    host = host.removeprefix("www.")
    if not host:
        return None
    path = re.sub(r"/+$", "", parts.path)
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    )
    if not path and not query:
        return None
    try:
        port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    except ValueError:  # a port out of range
        return None
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{host}{port}{path}" + (f"?{urlencode(query)}" if query else "") + fragment


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _headline(title: str) -> str:
    """Headline without an outlet suffix, case, punctuation and spacing."""
    title = unicodedata.normalize("NFKC", title).strip()
    cut = _SUFFIX.sub("", title)
    if len(_words(cut)) >= _MIN_TITLE_WORDS:
        title = cut
    return " ".join(_words(title))


def _titles_related(a: str, b: str) -> bool:
    """True when two titles share at least a fifth of their words (or either is empty): an
    edited headline still does; a generic link shared by unrelated items does not."""
    wa, wb = set(_words(a)), set(_words(b))
    if not wa or not wb:
        return True
    return len(wa & wb) / len(wa | wb) >= 0.2


def _summaries_agree(a: str, b: str) -> bool:
    """True when one summary is (nearly) contained in the other, or either is empty."""
    wa, wb = set(_words(a)), set(_words(b))
    if not wa or not wb:
        return True
    small, large = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return len(small & large) / len(small) >= _SUMMARY_AGREEMENT


def _completeness(entry: Entry, weights: Mapping[str, float]) -> tuple[float, int, int, int]:
    return (
        weights.get(entry.source, 1.0),
        len(entry.summary_text),
        int(entry.image is not None) + int(entry.url is not None),
        int(entry.published.timestamp()) if entry.published else 0,
    )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def copy_groups(entries: Sequence[Entry]) -> list[list[int]]:
    """Positions of ``entries`` grouped into copies of one item (the rules of :func:`dedupe`),
    each group in input order, groups in order of their first member. Pure."""
    n = len(entries)
    uf = _UnionFind(n)
    by_id: dict[tuple[str, str], int] = {}
    by_url: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        j = by_id.setdefault((entry.source, entry.entry_id), i)
        if j != i:
            uf.union(i, j)
        url = canonical_url(entry.url)
        if url:
            by_url.setdefault(url, []).append(i)
    for members in by_url.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                if uf.find(a) != uf.find(b) and _titles_related(entries[a].title, entries[b].title):
                    uf.union(a, b)
    by_title: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        head = _headline(entry.title)
        if len(head.split()) >= _MIN_TITLE_WORDS:
            by_title.setdefault(head, []).append(i)
    for members in by_title.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                if uf.find(a) != uf.find(b) and _summaries_agree(
                    entries[a].summary_text, entries[b].summary_text
                ):
                    uf.union(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), []).append(i)
    return [groups[root] for root in sorted(groups)]


def dedupe(entries: Sequence[Entry], *, weights: Mapping[str, float] | None = None) -> list[Entry]:
    """Collapse copies of the same item into one entry, keeping the most complete copy.

    Two entries are copies when they share (source, entry id), or the same
    :func:`canonical_url` with related titles (a fifth of their words in common), or the same
    headline of at least four words after an outlet suffix
    is cut (``"X - Reuters"`` = ``"x"``) *and* their summaries agree (one's words at least 60 %
    inside the other's: an updated body with an added paragraph still agrees). Copies are
    grouped transitively. The kept copy is the one from the highest-weight source
    (``weights``, default 1.0), then with the longest summary, then with an image and link,
    then the latest; the dropped copies are kept in its ``also_in`` (other outlets' still
    count for the story and show in "also reported by"; the same outlet's are listed, and
    counted once). Output keeps
    the input order of each group's first member.

    Pure; never raises on odd input (missing URL, empty title).
    """
    weights = weights or {}
    kept: list[Entry] = []
    for members in copy_groups(entries):
        best = max(members, key=lambda i: _completeness(entries[i], weights))
        if len(members) > 1:
            log.debug(
                "dedupe kept=%s/%s dropped=%d",
                entries[best].source,
                entries[best].entry_id,
                len(members) - 1,
            )
        copies = [entries[i] for i in members if i != best]
        kept.append(_keep_copies(entries[best], copies))
    return kept


def _keep_copies(entry: Entry, copies: Sequence[Entry]) -> Entry:
    """``entry`` with the dropped ``copies`` (and theirs) in ``also_in``, its own outlet's
    too (a re-post under another id): every copy is then shown (``build --json``) and
    recorded as carried by the edition; one outlet still counts once. A copy with the
    entry's own ``(source, entry_id)`` is the entry itself, not listed."""
    if not copies:
        return entry
    own = (entry.source, entry.entry_id)
    found = {(c.source, c.entry_id): c for c in entry.also_in}
    for copy in copies:
        for c in (Copy(copy.source, copy.entry_id, copy.url), *copy.also_in):
            if (c.source, c.entry_id) != own:
                found.setdefault((c.source, c.entry_id), c)
    return replace(entry, also_in=tuple(found.values())) if found else entry


# ---------------------------------------------------------------------------------------------
# cluster


def _split_cjk(text: str) -> str:
    """Write runs of CJK/Thai characters as overlapping character bigrams (words for TF-IDF)."""

    def bigrams(match: re.Match[str]) -> str:
        run = match.group(0)
        if len(run) == 1:
            return f" {run}{run} "
        return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "

    return _CJK_RUN.sub(bigrams, text)


def _document(entry: Entry) -> str:
    """The text an entry is clustered by: its title twice, then the lede of its summary.

    Function words are removed by document frequency for every language (see
    :func:`_vectors`); for entries tagged English, :data:`digest.tfidf.STOP_WORDS` go too,
    since small batches are too small for the frequency rule; for any entry whose text is
    Portuguese, German, Spanish or French by its function words
    (:func:`digest.tfidf.function_words`, whatever its tag: ``digest eval`` tags every row
    English), those words go. Links in the text are dropped.
    """
    title = entry.title.strip()
    summary = entry.summary_text.strip()[:_MAX_TEXT_CHARS]
    if summary.casefold().startswith(title.casefold()):
        summary = summary[len(title) :]
    text = unicodedata.normalize("NFKC", f"{title} {title} {summary}")
    text = re.sub(r"\S*https?://\S+", " ", text)
    from digest.tfidf import STOP_WORDS, function_words

    tokens = _TOKEN.findall(text)
    drop = function_words([t.lower() for t in tokens])
    if drop is not STOP_WORDS or (entry.language or "").lower().startswith("en"):
        text = " ".join(t for t in tokens if t.lower() not in drop)
    return _split_cjk(text)


def _vectors(docs: Sequence[str], own_words: Sequence[bool] | None = None) -> Any:
    """L2-normalised TF-IDF rows (scipy CSR), or ``None`` when no term is shared by two docs.

    In batches of at least :data:`_STOPWORD_MIN_DOCS` documents, terms in more than
    :data:`_MAX_DF` of the documents written in their script are dropped (the function words
    of any language, without a word list: of a batch's few Urdu or Chinese entries too, whose
    "کے" or "表示" a quarter of the whole batch never carries) and so are terms of a single
    document (they only dilute the norm). Smaller batches
    keep every term: there, dropping them would leave some documents with function words only.
    The documents flagged in ``own_words`` keep their single-document terms in their norm
    (:func:`digest.tfidf.tfidf`): those the meaning model does not read
    (:func:`_distinct_labels`), whose pairs are judged by these rows alone.
    """
    from digest.tfidf import tfidf_rows, tokenize

    n = len(docs)
    return tfidf_rows(
        [tokenize(doc) for doc in docs],
        min_df=2 if n >= _STOPWORD_MIN_DOCS else 1,
        max_df=_MAX_DF if n >= _STOPWORD_MIN_DOCS else 1.0,
        by_script=True,
        own_words=own_words,
    )


_MAX_DF = 0.25
_STOPWORD_MIN_DOCS = 100
_BLOCK = 512  # rows of the similarity matrix computed at once


def _condensed_distances(sig: Signals, params: Params, window_seconds: float) -> np.ndarray:
    """Condensed (scipy ``pdist`` layout) distances ``1 − s`` (s from
    :func:`digest.similarity.block`), clipped to [0, 2]; pairs outside the window get 2, which
    no average under a cut can include for realistic story sizes."""
    n = sig.text.shape[0]
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    pos = 0
    everyone = np.arange(n)
    for start in range(0, n - 1, _BLOCK):
        stop = min(start + _BLOCK, n - 1)
        dist = block(sig, everyone[start:stop], everyone[start:], params, window_seconds)
        np.subtract(1.0, dist, out=dist)
        np.clip(dist, 0.0, 2.0, out=dist)
        for row in range(stop - start):
            d = dist[row, row + 1 :]
            out[pos : pos + d.size] = d
            pos += d.size
    return out


def _cut(tree: np.ndarray, n: int, params: Params) -> np.ndarray:
    """Flat cluster ids from an average-link ``tree`` (scipy ``linkage`` output), with a cut
    that depends on size: a merge of groups of *a* and *b* entries is accepted at distances up
    to ``group − (group − pair) / √(a·b)`` (``pair`` for two single entries, tending to
    ``group`` for large groups, whose average distance is naturally larger; a single entry
    joining an established story needs less than two single entries joining each other). Each
    entry goes to the largest accepted merge above it."""
    pair, group = params.pair_distance, params.group_distance
    size = np.ones(2 * n - 1, dtype=np.int64)
    accepted = np.zeros(2 * n - 1, dtype=bool)
    accepted[:n] = True
    children = tree[:, :2].astype(np.int64)
    for step, (left, right) in enumerate(children):
        node = n + step
        size[node] = size[left] + size[right]
        scale = float(np.sqrt(size[left] * size[right]))
        accepted[node] = tree[step, 2] <= group - (group - pair) / scale
    # top-down: an entry's cluster is the highest accepted node on its path to the root
    owner = np.full(2 * n - 1, -1, dtype=np.int64)
    for step in range(n - 2, -1, -1):
        node = n + step
        mine = owner[node] if owner[node] >= 0 else (node if accepted[node] else -1)
        for child in children[step]:
            owner[child] = mine
    labels = np.where(owner[:n] >= 0, owner[:n], np.arange(n))
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)


def _prune(labels: np.ndarray, sig: Signals, params: Params, window_seconds: float) -> np.ndarray:
    """In stories of at most ``core_max_size`` entries, members whose best similarity to
    another member is under ``core_similarity`` leave and stand alone (repeated until all
    pass): average link admits an item that is only moderately close to everyone, which in a
    small story is how a side story joins an event. Only members whose embeddings agree
    (cosine ≥ ``core_meaning``) count as close: a link needs both the combined similarity
    and the meaning model on its own."""
    labels = labels.copy()
    next_label = int(labels.max()) + 1
    for label in np.unique(labels):
        members = list(np.flatnonzero(labels == label))
        if not 2 <= len(members) <= params.core_max_size:
            continue
        idx = np.array(members)
        sims = block(sig, idx, idx, params, window_seconds)
        if params.core_meaning > 0 and sig.meaning is not None:
            disagree = sig.meaning[idx] @ sig.meaning[idx].T < params.core_meaning
            unread = sig.unread(idx, idx)
            if unread is not None:  # text the model does not read: the words alone
                disagree &= ~unread
            sims[disagree] = -np.inf
        np.fill_diagonal(sims, -np.inf)
        keep = list(range(len(members)))
        while len(keep) > 1:
            sub = sims[np.ix_(keep, keep)]
            best = sub.max(axis=1)
            worst = int(np.argmin(best))
            if best[worst] >= params.core_similarity:
                break
            labels[members[keep[worst]]] = next_label
            next_label += 1
            keep.pop(worst)
    return labels


def _merge_large(labels: np.ndarray, sig: Signals, params: Params, window_seconds: float) -> np.ndarray:
    """Join large groups that are halves of one broad story: groups of at least
    ``merge_min_size`` entries whose centroids (TF-IDF and meaning, weighted as in the
    similarity) have a cosine of at least ``merge_similarity``, by average link over those
    centroids. A broad event reported hundreds of times splits under any pairwise cut; the
    centroids of its halves agree. Groups whose median times are further apart than the
    window stay apart. Small groups are never touched (their centroids are noisy)."""
    from scipy.sparse import csr_matrix, hstack

    from digest.linkage import average_linkage, flat_clusters
    from digest.tfidf import normalize_rows as normalize

    ids, sizes = np.unique(labels, return_counts=True)
    large = ids[sizes >= params.merge_min_size]
    if large.size < 2:
        return labels
    n = labels.size
    position = {int(g): k for k, g in enumerate(large)}
    member = csr_matrix(
        (
            np.ones(int(sizes[sizes >= params.merge_min_size].sum())),
            (
                [position[int(g)] for g in labels if int(g) in position],
                [i for i, g in enumerate(labels) if int(g) in position],
            ),
        ),
        shape=(large.size, n),
    )
    parts = [normalize(member @ sig.text) * np.sqrt(params.text_weight)]
    if sig.meaning is not None:
        meaning = normalize(np.asarray(member @ sig.meaning))
        parts.append(csr_matrix(meaning * np.sqrt(1.0 - params.text_weight)))
    else:
        parts[0] = parts[0] / np.sqrt(params.text_weight)
    centroids = normalize(hstack(parts).tocsr())
    sims = (centroids @ centroids.T).toarray()
    times = np.full(large.size, np.nan)
    for k, g in enumerate(large.tolist()):
        dated = sig.times[(labels == g) & ~np.isnan(sig.times)]
        if dated.size:
            times[k] = np.median(dated)
    with np.errstate(invalid="ignore"):
        sims[np.abs(times[:, None] - times[None, :]) > window_seconds] = -1.0
    dist = np.clip(1.0 - sims, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    joined = flat_clusters(
        average_linkage(dist[np.triu_indices(large.size, 1)], overwrite=True),
        t=1.0 - params.merge_similarity,
    )
    out = labels.copy()
    base = int(labels.max()) + 1
    for g, j in zip(large.tolist(), joined.tolist(), strict=True):
        out[labels == g] = base + j
    _, dense = np.unique(out, return_inverse=True)
    return dense.astype(np.int64)


def _subset(sig: Signals, idx: np.ndarray) -> Signals:
    """The signals of entries ``idx`` of a batch (features computed on the whole batch, so a
    chunk sees the same TF-IDF weights, names and embeddings as the unchunked batch)."""
    return Signals(
        text=sig.text[idx],
        meaning=None if sig.meaning is None else sig.meaning[idx],
        names=None if sig.names is None else sig.names[idx],
        has_names=sig.has_names[idx],
        times=sig.times[idx],
        outlets=sig.outlets[idx],
        several_outlets=sig.several_outlets,
        event_places=None if sig.event_places is None else sig.event_places[idx],
        named_places=None if sig.named_places is None else sig.named_places[idx],
        phrases=None if sig.phrases is None else sig.phrases[idx],
        read=None if sig.read is None else sig.read[idx],
    )


def _batch_labels(sig: Signals, params: Params, window_seconds: float) -> np.ndarray:
    """Cluster ids of one batch: average link over the distances, the size-dependent cut
    (:func:`_cut`), the join of large halves (:func:`_merge_large`) and the core check of
    small stories (:func:`_prune`). Memory: the condensed distances, 8·n²/2 bytes, which
    :func:`digest.linkage.average_linkage` works in (no copy)."""
    from digest.linkage import average_linkage

    n = sig.text.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    dist = _condensed_distances(sig, params, window_seconds)
    tree = average_linkage(dist, overwrite=True)
    del dist
    labels = _cut(tree, n, params)
    labels = _merge_large(labels, sig, params, window_seconds)
    return _prune(labels, sig, params, window_seconds)


def chunks(
    times: np.ndarray, size: int, window_seconds: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Time-ordered chunks of a batch: ``(own, members)`` position arrays per chunk.

    Dated entries are sorted by time and cut into consecutive runs of ``size // 2`` (the
    chunk's *own* entries); a chunk's members are its own entries plus every dated entry
    within ``window_seconds`` before its first or after its last own entry, so a story of
    which any member is own is whole inside the chunk (members of one story are never
    further apart than the window). Undated entries (NaN) form chunks of their own of at
    most ``size`` entries, in input order. Pure; ``times`` in epoch seconds.
    """
    size = max(2, int(size))
    dated = np.flatnonzero(~np.isnan(times))
    order = dated[np.argsort(times[dated], kind="stable")]
    sorted_times = times[order]
    step = max(1, size // 2)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, order.size, step):
        stop = min(start + step, order.size)
        lo = int(np.searchsorted(sorted_times, sorted_times[start] - window_seconds, "left"))
        hi = int(np.searchsorted(sorted_times, sorted_times[stop - 1] + window_seconds, "right"))
        out.append((order[start:stop], order[lo:hi]))
    undated = np.flatnonzero(np.isnan(times))
    for start in range(0, undated.size, size):
        part = undated[start : start + size]
        out.append((part, part))
    return out


def _chunked_labels(sig: Signals, params: Params, window_seconds: float, size: int) -> np.ndarray:
    """Cluster ids of a batch clustered chunk by chunk (:func:`chunks`), memory linear in
    the number of entries for a given density of entries in time.

    Each chunk (its own entries and the window around them) is clustered as a batch; from
    it are kept the stories whose earliest member (by time, then position) is one of its own
    entries, minus entries an earlier chunk already placed. A story inside the window of a
    chunk boundary is therefore taken whole from one chunk, never split. An entry no kept
    story holds (possible only when a story spans more than the window) stands alone."""
    n = sig.text.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    times = np.where(np.isnan(sig.times), np.inf, sig.times)
    next_label = 0
    for own, members in chunks(sig.times, size, window_seconds):
        local = _batch_labels(_subset(sig, members), params, window_seconds)
        mine = np.zeros(n, dtype=bool)
        mine[own] = True
        for label in np.unique(local):
            story = members[local == label]
            first = story[np.lexsort((story, times[story]))[0]]
            if not mine[first]:
                continue
            free = story[labels[story] < 0]
            if free.size:
                labels[free] = next_label
                next_label += 1
    alone = np.flatnonzero(labels < 0)
    labels[alone] = next_label + np.arange(alone.size)
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)


def _distinct(entries: Sequence[Entry], docs: Sequence[str], window_seconds: float) -> np.ndarray:
    """For each entry, the position of the first entry with the same clustering text
    (:func:`_document`) in the same story window (epoch time // window; undated entries
    together): the one that stands for it. Copies of one text are one report however many
    outlets carry it; counted as many, they would loosen the size-dependent cut
    (:func:`_cut`) and make large groups for :func:`_merge_large` as if independent reports
    agreed (at 50 times the outlets of the demo window, 154 stories became 102)."""
    first: dict[tuple[str, float], int] = {}
    out = np.empty(len(entries), dtype=np.int64)
    for i, (entry, doc) in enumerate(zip(entries, docs, strict=True)):
        when = entry.published or entry.first_seen
        bucket = when.timestamp() // window_seconds if when and window_seconds > 0 else -1.0
        out[i] = first.setdefault((doc, bucket), i)
    return out


def _labels(
    entries: Sequence[Entry], params: Params, window_hours: float, chunk_size: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ids and centrality (mean similarity to the rest of the own story), one each.

    Entries with the same text in one story window are clustered as one (:func:`_distinct`)
    and share its story and centrality. Of the distinct texts, those that are not news
    (:func:`digest.noise.classify`: roundups, newsletters, archive items, quizzes, service
    pages) stand alone: a roundup names several stories and is none of them (the pipeline
    has removed them already; labelled files keep them). The others go to
    :func:`_distinct_labels`."""
    from digest.noise import classify

    n = len(entries)
    window = window_hours * 3600.0
    docs = [_document(e) for e in entries]
    reps, back = np.unique(_distinct(entries, docs, window), return_inverse=True)
    if reps.size < n:
        log.debug("cluster.copies entries=%d distinct=%d", n, reps.size)
    news = np.array([classify(entries[i]) is None for i in reps], dtype=bool)
    labels = np.arange(reps.size, dtype=np.int64) + reps.size  # alone unless clustered
    centrality = np.ones(reps.size)
    kept = np.flatnonzero(news)
    if kept.size:
        labels[kept], centrality[kept] = _distinct_labels(
            [entries[reps[k]] for k in kept], [docs[reps[k]] for k in kept], params, window, chunk_size
        )
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)[back], centrality[back]


def _distinct_labels(
    entries: Sequence[Entry], docs: Sequence[str], params: Params, window: float, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_labels` of entries whose texts ``docs`` all differ: signals
    (:mod:`digest.similarity`) of the batch, then :func:`_batch_labels` on the whole batch,
    or chunk by chunk (:func:`_chunked_labels`) when it has more than ``chunk_size`` entries
    (default :data:`MAX_BATCH`), then entries left alone that carry a story's own name join it
    (:func:`digest.anchors.join_by_anchor_names`), then entries still alone that share several
    rare names with another outlet's report join its story
    (:func:`digest.anchors.join_by_rare_names`), then entries still alone join the report
    whose headline shares a rare phrase (:func:`digest.phrases.join_by_title_phrases`);
    ``window`` in seconds."""
    from digest.anchors import join_by_anchor_names, join_by_rare_names
    from digest.phrases import join_by_title_phrases

    n = len(entries)
    if n == 1:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    x = _vectors(docs)
    if x is None:
        return np.arange(n), np.ones(n)
    sig = signals(entries, x)
    if sig.read is not None:  # judged by words alone: a text's own words count in its norm
        own = _vectors(docs, own_words=(~sig.read).tolist())
        if own is not None:
            sig = replace(sig, text=own.astype(np.float32).tocsr())
    del x
    size = chunk_size or MAX_BATCH
    if n <= size:
        labels = _batch_labels(sig, params, window)
    else:
        log.info("cluster.chunked entries=%d chunk=%d", n, size)
        labels = _chunked_labels(sig, params, window, size)
    labels = join_by_anchor_names(labels, sig, params, window)
    labels = join_by_rare_names(labels, sig, params, window)
    labels = join_by_title_phrases(labels, sig, params, window)
    centrality = np.ones(n)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) > 1 and len(members) <= 2000:
            sims = block(sig, members, members, params, window)
            sims[~np.isfinite(sims)] = 0.0
            centrality[members] = (sims.sum(axis=1) - np.diag(sims)) / (len(members) - 1)
    return labels, centrality


def _timestamp(entry: Entry, missing: float = 0.0) -> float:
    when = entry.published or entry.first_seen
    return when.timestamp() if when is not None else missing


def story_key(entries: Iterable[Entry]) -> str:
    """A story's stable key: a hash of the identity of its earliest entry.

    The earliest entry (by time, then source and entry id) stays the earliest while the story
    grows with later reports, so the key survives from one build to the next.
    """
    first = min(entries, key=lambda e: (_timestamp(e), e.source, e.entry_id))
    digest = hashlib.sha256(f"{first.source}\x00{first.entry_id}".encode()).hexdigest()
    return digest[:16]


def _lead_order(
    entry: Entry, weights: Mapping[str, float], centrality: float
) -> tuple[float, int, float, float, str, str]:
    """Sort key, best lead first: source weight; completeness (a summary of 80 characters or
    more, a link, an image); closeness to the story's centre (so a side story of the event
    does not lead it); earliest; identity."""
    completeness = (
        int(len(entry.summary_text) >= 80)
        + int(entry.url is not None)
        + int(entry.image is not None)
    )
    return (
        -weights.get(entry.source, 1.0),
        -completeness,
        -round(centrality, 3),
        _timestamp(entry),
        entry.source,
        entry.entry_id,
    )


def cluster(
    entries: Sequence[Entry],
    *,
    weights: Mapping[str, float],
    window_hours: float = 48.0,
    params: Params | None = None,
    chunk_size: int = 0,
) -> list[Story]:
    """Group entries about the same event into stories.

    ``entries`` should already be deduplicated (:func:`dedupe`). ``weights`` maps source
    name to its weight (missing: 1.0). Two entries further apart than ``window_hours`` (by
    published, else first-seen time) never count as close; an entry with neither date is
    not held back by the window. ``params`` are the signal weights and cuts
    (:class:`~digest.similarity.Params`; its defaults were chosen by cross-validation).

    Each story's lead is the most complete entry of the highest-weight source (among equals,
    the one closest to the story's centroid); ``others`` follow in the same order ("also
    reported by"). ``Story.key`` is :func:`story_key`. Stories
    are returned in order of their earliest input position; score and section are unset.

    Cost: the signals are linear in n; the distances O(m²) time and 8·m²/2 bytes for a
    batch of m entries (7,600: about 230 MB; linkage works in them). Batches over
    ``chunk_size`` entries (default :data:`MAX_BATCH`) are clustered in time-ordered chunks
    that overlap by ``window_hours`` (:func:`chunks`), so memory grows linearly with the
    number of entries and no story is split at a chunk boundary (logged as
    ``cluster.chunked``). Pure; never raises for odd entries (empty text, no date).
    """
    if not entries:
        return []
    labels, centrality = _labels(entries, params or Params(), window_hours, chunk_size)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(int(label), []).append(i)
    stories: list[Story] = []
    for members in sorted(groups.values(), key=lambda m: m[0]):
        members.sort(key=lambda i: _lead_order(entries[i], weights, float(centrality[i])))
        ordered = [entries[i] for i in members]
        stories.append(Story(key=story_key(ordered), lead=ordered[0], others=tuple(ordered[1:])))
    log.debug("cluster entries=%d stories=%d", len(entries), len(stories))
    return stories
