"""Hand-labelled real-feed story sets, joined at test time with the captured feeds in ../shared.

The repository keeps only ids and labels (``tests/data/realstories_w0.labels.jsonl``: ``id``,
``story``, ``section``, ``kind``; no publisher text). ``load_labelled`` rebuilds the rows that
``digest eval stories`` reads (``../shared/datasets/realstories/README.md`` fields) from the feed
files: ``id`` is ``<feed>:<n>``, n the 0-based position of the entry in feedparser's list.

w0 is the held-out set: the 11 world feeds of the same-day capture in the windows before the demo
window, [2026-02-12T07:00Z, 2026-02-16T19:00Z) (nothing of theirs is dated after it), plus the
other same-day outlets (kottke, 404 Media) from 2026-02-12T07:00Z to the demo window's end. It is
labelled by the README's rules and is never used to choose a clustering rule or threshold.

w2 is a third window for cross-validation (``bench/cluster_cv.py``, leave one window out): the
entries of time-world, economist-asia, elpais-english, kottke-atom and 404media published in
[2026-01-14T00:00Z, 2026-02-12T07:00Z), 159 entries in 149 stories (8 of two or more entries,
mostly one outlet's pieces on one event: TIME's Davos speech, a list and its method), labelled
by the same rules. Its ``section`` labels were added later, by the README's rules, before any
section rule was looked at or tuned on it: the held-out set for sections (the section rules
of this stop were chosen on w0 and w1 errors only).

w3 is a fourth window, a guard against false merges: the entries of economist-asia and
elpais-english published before 2026-01-14 (2024-12-19 .. 2026-01-12), 278 entries, each its
own story (8 ``noise-``: The Economist's newsletters, job advertisements, an EL PAÍS service
page). Labelled by the README's rules from the titles, reading the ledes of every pair of
entries within 48 hours that the similarity signals put close (shared names, embeddings):
none reports the same news (the Myanmar earthquake pieces of 28 and 30 March 2025 are
separate developments on different days; analyses of one week on one country are separate
pieces). ``story`` and ``kind`` only.

g1 is a fifth, US-heavy set for sections: the 55 entries of the Guardian US feed
(``guardian-us-rss.xml``, 2018-01-29 to 31 and one explainer page of 2017-12-08), labelled by
the same rules (``story``, ``section``, ``kind``; the State of the Union, its reactions, videos
and columns are one story) after the section rules of this stop were written and before any
of them was run on it. Live blogs listing many matches or deals, photo round-ups, a gallery
with no news and the standing "key questions answered" explainer are noise.

h1 is the held-out set for the section rules of the second sections stop: 142 entries of w3
(every even-numbered economist-asia entry of w3 and its 7 elpais-english entries,
2021-11-15 and 2024-12-27 .. 2026-01-12), their ``story`` and ``kind`` as in w3, their
``section`` labelled by the README's rules (Economist pieces on an economy, a trade fight,
an industry or companies are ``business``, as in w0 and w2) and committed before any section
rule was run on them or changed. Mostly Asia: 115 asia, 19 business, 3 americas, 3 more,
2 noise.

h2 is a second held-out set for sections: the other 136 entries of w3 (every odd-numbered
economist-asia entry, 2024-12-19 .. 2026-01-08), their ``story`` and ``kind`` as in w3, their
``section`` labelled on 2026-12-01 from each entry's title and lede by the README's rules and
h1's conventions (a piece whose subject is an economy, a market, a trade fight such as Trump's
tariffs on India, an industry or companies is ``business``; defence deals, politics
and diplomacy stay with their region), before any digest section rule was run on them. Its ids
are disjoint from h1's. 101 asia, 28 business, 7 more (6 noise: The War Room and Essential
India newsletters, a job advertisement; and the Bandung anniversary, "global south"). Held out
for sections only: the noise stop chose its rules on these entries (w3 without h1).

n1 is a new held-out set for precision, sections and noise, labelled BLIND on 2026-12-02 (before
any digest noise, clustering or section code was run on these entries) from each entry's title
and summary, by the README's rules, from the feeds nobody had labelled: daringfireball-atom (48,
2017-06; the JSON Feed copy holds the same posts and feedparser reads none of it),
heise-online-rdf (60, German, undated: digest dates them all by first sighting, so they are one
window), heise-developer-atom (15, German, 2016-01/02), jn-pt-ultimas (40, Portuguese, one day of
2018-01-03), qq-news-gb2312 (20, Chinese, 2018-09-17/18), uol-noticias (15, Portuguese, undated,
2018-09-24), bbc-urdu (26, US-Pakistan relations, 2017-08 .. 2018-01), lecerclepsy-fr (10), and
as ``noise-`` podcast entries every atp-podcast episode (100) and every 12th giantbomb-podcast
episode (n = 0, 12, .., 708: 60). 394 entries, 371 stories. Conventions: technology news whose
subject is a company, its products (launches, reviews, tests), services, deals, results or
market is ``business`` (Apple, Uber, Amazon, Google, heise's product tests); programming
practice, open-source projects, design, research, science and culture are ``more``; a
government's act, politics or a court ruling goes to its region (Seehofer's 5G rules and the EU
clock change ``europe``, the US Copyright Office ``americas``); Portuguese domestic news is
``europe``, Brazilian ``americas``, Chinese domestic ``asia`` (its economy and companies
``business``), Pakistan ``asia``. Stories: an event's story holds its reports, reactions and
explainers of the next day or two (Dastgir's answers to Trump's "lies and deceit" tweet; a
preview of a scheduled talk with the talk's video), a new official act is a story of its own
(the aid suspension, the intelligence-sharing stop, a parliament's resolution), and pieces on a
theme are apart (Daring Fireball's app-size posts, BBC Urdu's histories of the relationship and
its columns, the Qiushi 9.18 pieces). Noise: podcasts, sponsor posts and ticket notices,
"60 segundos" and weekly news round-ups, photo round-ups, games-of-the-month lists, heise's own
offers, a promotional video with no news, an untitled entry, and UOL's duplicated voting-tool
promotion (one noise story for its two copies). Non-noise sections: business 78, asia 47, more
39, europe 28, americas 18, middle-east 3. Kinds: news 190, podcast 163, opinion 21, other 10,
roundup 7, video 3. 181 noise entries (180 noise stories). Stories of two or more entries: the
Trump tweet and Pakistan's answers (6), Kalanick's resignation (4), Tillerson's Islamabad visit
(3), Pakistan's answer to Trump's Afghanistan strategy (3), and two each: the aid suspension,
Amazon/Whole Foods, Lattner leaving Tesla, the Markoff-Forstall iPhone talk, the iPad Pro
reviews, the iPhone XR going on sale, the Raríssimas board, the China Development Forum
seminar, the Chinese tourists and the Swedish police, the Ibope poll of 24 September.
n1 is no longer held out: it is a TUNING set for the rules that judge Portuguese, German,
Spanish and French text by its words (multiling) and for the non-English round-up and
newsletter titles of digest.noise (noise3 read its "… em 60 segundos" and "Die Bilder der
Woche" items); its figures after those changes are tuning figures, not held-out ones.
"""

from __future__ import annotations

import calendar
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from .conftest import REAL_FEEDS

DATA = Path(__file__).resolve().parent / "data"
W0_LABELS = DATA / "realstories_w0.labels.jsonl"
W2_LABELS = DATA / "realstories_w2.labels.jsonl"
W3_LABELS = DATA / "realstories_w3.labels.jsonl"
G1_LABELS = DATA / "realstories_g1.labels.jsonl"
H1_LABELS = DATA / "realstories_h1.labels.jsonl"
H2_LABELS = DATA / "realstories_h2.labels.jsonl"
N1_LABELS = DATA / "realstories_n1.labels.jsonl"

_BLOCK = re.compile(
    r"</?(p|li|br|div|ul|ol|h\d|tr|td|blockquote|figure|figcaption|img)\b[^>]*>", re.I
)
_TAG = re.compile(r"<[^>]*>")


def _plain(markup: str) -> str:
    """Summary as plain text: block tags become spaces, other tags go, entities decoded once."""
    text = _TAG.sub("", _BLOCK.sub(" ", markup or ""))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _feed_rows(path: Path) -> dict[str, dict]:
    parsed = feedparser.parse(path.read_bytes())
    source = path.name.split(".")[0].removesuffix("-rss")
    rows: dict[str, dict] = {}
    for n, entry in enumerate(parsed.entries):
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = (
            datetime.fromtimestamp(calendar.timegm(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if stamp
            else None
        )
        rows[f"{source}:{n}"] = {
            "id": f"{source}:{n}",
            "source": source,
            "feed": path.name,
            "guid": entry.get("id"),
            "url": entry.get("link"),
            "title": entry.get("title"),
            "text": _plain(entry.get("summary")),
            "published": published,
        }
    return rows


def load_labelled(labels: Path = W0_LABELS, feeds: Path = REAL_FEEDS) -> list[dict]:
    """Rows of a labels file joined with their feed entries, in the labels file's order.

    Raises KeyError if a labelled id is not in the feeds (a changed capture).
    """
    wanted = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    by_feed: dict[str, dict[str, dict]] = {}
    out = []
    for label in wanted:
        feed = label["id"].rsplit(":", 1)[0]
        if feed not in by_feed:
            names = {p.name.split(".")[0].removesuffix("-rss"): p for p in feeds.iterdir()}
            path = names[feed]
            by_feed[feed] = _feed_rows(path)
        out.append({**by_feed[feed][label["id"]], **label})
    return out


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """Write rows as JSON lines (UTF-8) for ``digest eval`` commands; returns ``path``."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path
