"""Near-duplicate removal and same-story grouping across sources.

Two steps, in the order the pipeline calls them:

1. :func:`dedupe` collapses *the same item* reached twice: the same (source, entry id), the
   same canonical URL (scheme, ``www.``, tracking parameters, fragment and a trailing slash
   ignored), or the same wire story republished by several outlets (equal headline once an
   outlet suffix such as `` - Reuters`` is cut, and summaries that agree). It is deliberately
   strict: two different stories must never merge.
2. :func:`cluster` groups entries *about the same event* into a :class:`~digest.types.Story`:
   TF-IDF over headline and summary (headline counted twice, sub-linear term frequency, terms
   of a single entry dropped, CJK text split into character bigrams so no language needs a
   word list; terms in more than 25 % of a large batch dropped as function words), cosine
   distance (documents of eight terms or more sharing a single term count as unrelated),
   average-link agglomerative clustering cut at a distance threshold, then a second
   average-link pass over the normalised centroids of those groups. Entries further apart in
   time than ``window_hours`` are kept apart.

Figures on ``../shared/datasets/clustering`` (see ``digest eval clusters`` and
``bench/cluster.py``) justify the defaults.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

from digest.types import Copy, Entry, Story

__all__ = [
    "DEFAULT_MERGE_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "MAX_BATCH",
    "canonical_url",
    "cluster",
    "dedupe",
    "story_key",
]

log = logging.getLogger("digest.cluster")

#: Average-link cut: two groups merge while their mean cosine distance stays below this.
DEFAULT_THRESHOLD = 0.92
#: Second step: groups merge while the cosine distance of their (normalised) centroids,
#: averaged over their sub-groups, stays below this.
DEFAULT_MERGE_THRESHOLD = 0.70
#: Largest batch clustered at once (the distance matrix grows with its square: ~400 MB here).
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
# Links in a story must each be this similar to another member of a small story (cosine)...
_CORE_SIMILARITY = 0.30
# ... in stories of at most this many entries (large stories are robust under average link)
_CORE_MAX_SIZE = 20
# A small story whose members fall into two or more tight groups at this cut is split: one
# bridging item ("three crises: Iran, Ukraine and Gaza") must not join two events.
_SPLIT_THRESHOLD = 0.88


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


def dedupe(entries: Sequence[Entry], *, weights: Mapping[str, float] | None = None) -> list[Entry]:
    """Collapse copies of the same item into one entry, keeping the most complete copy.

    Two entries are copies when they share (source, entry id), or the same
    :func:`canonical_url` with related titles (a fifth of their words in common), or the same
    headline of at least four words after an outlet suffix
    is cut (``"X - Reuters"`` = ``"x"``) *and* their summaries agree (one's words at least 60 %
    inside the other's: an updated body with an added paragraph still agrees). Copies are
    grouped transitively. The kept copy is the one from the highest-weight source
    (``weights``, default 1.0), then with the longest summary, then with an image and link,
    then the latest; the dropped copies from other sources are kept in its ``also_in``
    (their outlets still count for the story and show in "also reported by"). Output keeps
    the input order of each group's first member.

    Pure; never raises on odd input (missing URL, empty title).
    """
    weights = weights or {}
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
    kept: list[Entry] = []
    for root in sorted(groups):
        members = groups[root]
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
    """``entry`` with the dropped ``copies`` from other sources (and theirs) in ``also_in``."""
    if not copies:
        return entry
    found = {(c.source, c.entry_id): c for c in entry.also_in}
    for copy in copies:
        for c in (Copy(copy.source, copy.entry_id, copy.url), *copy.also_in):
            if c.source != entry.source:
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
    :func:`_vectors`); for entries tagged English, scikit-learn's English stop words go too,
    since small batches are too small for the frequency rule. Links in the text are dropped.
    """
    title = entry.title.strip()
    summary = entry.summary_text.strip()[:_MAX_TEXT_CHARS]
    if summary.casefold().startswith(title.casefold()):
        summary = summary[len(title) :]
    text = unicodedata.normalize("NFKC", f"{title} {title} {summary}")
    text = re.sub(r"\S*https?://\S+", " ", text)
    if (entry.language or "").lower().startswith("en"):
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        text = " ".join(t for t in _TOKEN.findall(text) if t.lower() not in ENGLISH_STOP_WORDS)
    return _split_cjk(text)


def _title_pairs(entry: Entry) -> set[tuple[str, str]]:
    """Consecutive word pairs of a title (lower case, words of three or more letters; no
    numbers, which many unrelated headlines share: "kill 11"), for the weak-member check."""
    words = [w.casefold() for w in _TOKEN.findall(entry.title)]
    return {(a, b) for a, b in zip(words, words[1:], strict=False) if _name_like(a) and _name_like(b)}


def _name_like(word: str) -> bool:
    return len(word) >= 3 and word.isalpha()


def _prune_weak_members(entries: Sequence[Entry], labels: np.ndarray, x: Any) -> np.ndarray:
    """Split off members of small stories that no other member is close to.

    Average link admits a member whose similarity to the group is low on average; in a story
    of a few entries that is how two unrelated items sharing one rare word end up together.
    In stories of at most :data:`_CORE_MAX_SIZE` entries, a member stays only if its cosine
    similarity to some other member is at least :data:`_CORE_SIMILARITY`, or its title shares
    a word pair with another member's title; members that fail become stories of their own
    (repeated until every member passes).
    """
    labels = labels.copy()
    next_label = int(labels.max()) + 1
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if not 2 <= len(members) <= _CORE_MAX_SIZE:
            continue
        sims = (x[members] @ x[members].T).toarray()
        np.fill_diagonal(sims, 0.0)
        pairs = [_title_pairs(entries[int(i)]) for i in members]
        keep = list(range(len(members)))
        changed = True
        while changed and len(keep) > 1:
            changed = False
            for k in list(keep):
                others = [o for o in keep if o != k]
                if not others:
                    break
                if sims[k, others].max() >= _CORE_SIMILARITY:
                    continue
                if any(pairs[k] & pairs[o] for o in others):
                    continue
                keep.remove(k)
                labels[members[k]] = next_label
                next_label += 1
                changed = True
    return labels


def _split_bridged(labels: np.ndarray, x: Any) -> np.ndarray:
    """Split small stories that hold two events joined by a bridging item.

    Each story of 4 to :data:`_CORE_MAX_SIZE` entries is clustered again (average link) at
    the stricter cut :data:`_SPLIT_THRESHOLD`; when that yields two or more groups of at
    least two entries, the largest group keeps the story (with the single items) and each
    other group becomes a story of its own.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    labels = labels.copy()
    next_label = int(labels.max()) + 1
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if not 4 <= len(members) <= _CORE_MAX_SIZE:
            continue
        dist = 1.0 - (x[members] @ x[members].T).toarray()
        np.clip(dist, 0.0, 1.0, out=dist)
        np.fill_diagonal(dist, 0.0)
        sub = fcluster(
            linkage(squareform(dist, checks=False), method="average"),
            t=_SPLIT_THRESHOLD,
            criterion="distance",
        )
        groups: dict[int, list[int]] = {}
        for i, group in enumerate(sub.tolist()):
            groups.setdefault(group, []).append(i)
        pairs_or_more = sorted((g for g in groups.values() if len(g) >= 2), key=len, reverse=True)
        for group in pairs_or_more[1:]:
            labels[members[group]] = next_label
            next_label += 1
    return labels


def _vectors(docs: Sequence[str]) -> Any:
    """L2-normalised TF-IDF rows (scipy CSR), or ``None`` when no term is shared by two docs.

    In batches of at least :data:`_STOPWORD_MIN_DOCS` documents, terms in more than
    :data:`_MAX_DF` of them are dropped (the function words of any language, without a word
    list) and so are terms of a single document (they only dilute the norm). Smaller batches
    keep every term: there, dropping them would leave some documents with function words only.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(docs)
    vectorizer = TfidfVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b\w\w+\b",
        sublinear_tf=True,
        min_df=2 if n >= _STOPWORD_MIN_DOCS else 1,
        max_df=_MAX_DF if n >= _STOPWORD_MIN_DOCS else 1.0,
        dtype=np.float64,
    )
    try:
        return vectorizer.fit_transform(docs)
    except ValueError:  # empty vocabulary: nothing in common, every entry stands alone
        return None


# Distance given to pairs outside the time window: large enough that no average under the
# threshold can include such a pair for realistic story sizes.
_FAR = 1e6
_MAX_DF = 0.25
_MIN_SHARED_TERMS = 2  # two documents with enough words must share at least this many
_LONG_DOC_TERMS = 8  # ... when both have at least this many distinct terms (not bare titles)
_STOPWORD_MIN_DOCS = 100


def _condensed_distances(
    x: Any, times: np.ndarray, window_seconds: float, *, min_shared: int = 1, block: int = 512
) -> np.ndarray:
    """Condensed (scipy ``pdist`` layout) cosine distances between the rows of ``x``.

    Pairs too far apart in time get :data:`_FAR`; ``times`` is one number per row (seconds)
    or an (n, 2) array of time spans. With ``min_shared`` > 1, two rows that both have at
    least :data:`_LONG_DOC_TERMS` terms but share fewer than ``min_shared`` get distance 1: one
    rare word in common ("search" in a rescue story and in a purge story) is not a story.
    """
    n = x.shape[0]
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    x = x.astype(np.float32)  # products in single precision: 3x faster, ample for a cut at 0.9
    xt = x.T.tocsc()
    if min_shared > 1:
        xb = x.copy()
        xb.data[:] = 1.0
        xbt = xb.T.tocsc()
        long_doc = np.diff(x.indptr) >= _LONG_DOC_TERMS
    spans = times.reshape(n, -1)
    lo, hi = spans[:, 0], spans[:, -1]
    known = hi[~np.isnan(hi)]
    check_time = known.size > 1 and float(known.max() - lo[~np.isnan(lo)].min()) > window_seconds
    pos = 0
    for start in range(0, n - 1, block):
        stop = min(start + block, n - 1)
        dists = (x[start:stop] @ xt).toarray()
        np.subtract(1.0, dists, out=dists)
        np.clip(dists, 0.0, 1.0, out=dists)
        if min_shared > 1:
            weak = (xb[start:stop] @ xbt).toarray() < min_shared
            weak &= long_doc[start:stop, None] & long_doc[None, :]
            dists[weak] = 1.0
            del weak
        for row in range(start, stop):
            d = dists[row - start, row + 1 :]
            if check_time:
                span = np.maximum(hi[row + 1 :], hi[row]) - np.minimum(lo[row + 1 :], lo[row])
                d[span > window_seconds] = _FAR
            out[pos : pos + d.size] = d
            pos += d.size
    return out


def _labels(
    entries: Sequence[Entry], threshold: float, merge_threshold: float, window_hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ids and centrality (cosine to the own cluster's centroid), one per entry.

    Average link on entries, then average link on the groups' normalised centroids (so that a
    broad story split in two by the first cut is rejoined when the two halves are about the
    same thing, while tight distinct stories stay apart); then small stories are checked:
    two events joined by a bridging item are split (:func:`_split_bridged`) and members no
    other member is close to leave (:func:`_prune_weak_members`)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.sparse import csr_matrix
    from sklearn.preprocessing import normalize

    n = len(entries)
    if n == 1:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    x = _vectors([_document(e) for e in entries])
    if x is None:
        return np.arange(n), np.ones(n)
    window = window_hours * 3600.0
    # an entry without any date has no place in time: the window does not apply to it (NaN)
    times = np.array([_timestamp(e, missing=math.nan) for e in entries], dtype=np.float64)
    dist = _condensed_distances(x, times, window, min_shared=_MIN_SHARED_TERMS)
    first = fcluster(linkage(dist, method="average"), t=threshold, criterion="distance") - 1
    del dist
    k = int(first.max()) + 1
    final = np.asarray(first)
    if k >= 2 and merge_threshold > 0:
        member = csr_matrix((np.ones(n), (first, np.arange(n))), shape=(k, n))
        centroids = normalize(member @ x)
        spans = np.full((k, 2), [np.inf, -np.inf])
        with np.errstate(invalid="ignore"):  # NaN (undated) spans stay NaN: no window check
            np.minimum.at(spans[:, 0], first, times)
            np.maximum.at(spans[:, 1], first, times)
        dist = _condensed_distances(centroids, spans, window)
        second = (
            fcluster(linkage(dist, method="average"), t=merge_threshold, criterion="distance") - 1
        )
        final = np.asarray(second)[first]
    final = _prune_weak_members(entries, _split_bridged(final, x), x)
    k = int(final.max()) + 1
    member = csr_matrix((np.ones(n), (final, np.arange(n))), shape=(k, n))
    centroids = normalize(member @ x)
    centrality = np.asarray(x.multiply(centroids[final]).sum(axis=1)).ravel()
    return final, centrality


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
    threshold: float = DEFAULT_THRESHOLD,
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD,
) -> list[Story]:
    """Group entries about the same event into stories.

    ``entries`` should already be deduplicated (:func:`dedupe`). ``weights`` maps source
    name to its weight (missing: 1.0). Two entries further apart than ``window_hours`` (by
    published, else first-seen time) never count as close; an entry with neither date is
    not held back by the window. ``threshold`` is the average-link
    cut on cosine distance (0..1) between entries; ``merge_threshold`` the cut between the
    normalised centroids of the groups found so (0 turns the second step off). Lower values
    make tighter stories.

    Each story's lead is the most complete entry of the highest-weight source (among equals,
    the one closest to the story's centroid); ``others`` follow in the same order ("also
    reported by"). ``Story.key`` is :func:`story_key`. Stories
    are returned in order of their earliest input position; score and section are unset.

    Cost: O(n²) time and 8·n²/2 bytes for the distance matrix (7,600 entries: about 230 MB).
    Batches over :data:`MAX_BATCH` entries are cut, in time order, into chunks of that size
    clustered one by one (a story across a cut is split; logged as ``cluster.chunked``).
    Pure; never raises for odd entries (empty text, no date).
    """
    if not entries:
        return []
    if len(entries) > MAX_BATCH:
        order = sorted(range(len(entries)), key=lambda i: _timestamp(entries[i]))
        log.warning("cluster.chunked entries=%d chunk=%d", len(entries), MAX_BATCH)
        chunked: list[Story] = []
        for start in range(0, len(order), MAX_BATCH):
            chunk = [entries[i] for i in order[start : start + MAX_BATCH]]
            chunked.extend(
                cluster(
                    chunk,
                    weights=weights,
                    window_hours=window_hours,
                    threshold=threshold,
                    merge_threshold=merge_threshold,
                )
            )
        return chunked
    labels, centrality = _labels(entries, threshold, merge_threshold, window_hours)
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
