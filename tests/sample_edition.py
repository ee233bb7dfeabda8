"""A realistic ``Edition`` built by hand, for render/message/outbox tests and screenshots.

The values imitate the captured world-news feeds of 2026-02-17/18 (titles typed by hand, not
copied), so rendering can be tested without the parser, clustering or ranking stages.

- :func:`sample_edition` -- four sections, nine stories: one merged story with three outlets,
  an update, an Urdu (right-to-left) story, stories with and without images, links and dates.
- :func:`huge_edition` -- ``n`` stories with long summaries, for the size budget.
- :func:`sample_config` / :func:`sample_list` -- a ``Config`` and its ``ListConfig``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.config import Config, ListConfig, parse_config
from digest.types import Edition, Entry, Image, Section, SourceInfo, Story, Subscriber

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)

SOURCES = {
    "bbc-world": SourceInfo("bbc-world", "BBC News", "https://www.bbc.co.uk/news/world", 1.2),
    "nyt-world": SourceInfo("nyt-world", "The New York Times", "https://www.nytimes.com/", 1.2),
    "aljazeera": SourceInfo("aljazeera", "Al Jazeera", "https://www.aljazeera.com/", 1.1),
    "npr-world": SourceInfo("npr-world", "NPR", "https://www.npr.org/sections/world/", 1.0),
    "dawn": SourceInfo("dawn", "Dawn", "https://www.dawn.com/world", 0.9),
    "bbc-urdu": SourceInfo("bbc-urdu", "BBC اردو", "https://www.bbc.com/urdu", 1.0),
    "elpais": SourceInfo("elpais", "EL PAÍS English", "https://english.elpais.com/", 0.9),
}

LOREM = (
    "Officials said the talks would resume next week after a day of meetings that ended "
    "without agreement on the most contested points, including the sequencing of any "
    "ceasefire and the monitoring arrangements that both sides have said they need before "
    "committing troops to a withdrawal. Diplomats described the mood as businesslike. "
    "Analysts cautioned that similar rounds had produced little in the past year."
)


def _entry(
    source: str,
    slug: str,
    title: str,
    hours_ago: float,
    summary: str = LOREM,
    *,
    image: bool = False,
    language: str = "en",
    url: str | None = "",
    image_base: str = "https://ichef.example.org/images",
) -> Entry:
    when = NOW - timedelta(hours=hours_ago)
    link = f"https://news.example.org/{source}/{slug}" if url == "" else url
    return Entry(
        source=source,
        entry_id=f"{source}:{slug}",
        title=title,
        url=link,
        summary_html=f"<p>{summary}</p>",
        summary_text=summary,
        image=Image(f"{image_base}/{slug}.jpg", alt=f"Photo: {title[:40]}", width=976, height=549)
        if image
        else None,
        published=when,
        first_seen=when + timedelta(minutes=5),
        language=language,
    )


def sample_edition(*, image_base: str = "https://ichef.example.org/images") -> Edition:
    """Four sections, nine stories, realistic titles; images under ``image_base``."""
    ib = {"image_base": image_base}
    ukraine = Section(
        "ukraine",
        "Russia–Ukraine war and diplomacy",
        (
            Story(
                "s-talks",
                _entry(
                    "nyt-world",
                    "ukraine-talks",
                    "Trump Said He’d End the War in Ukraine in a Day. It’s Harder Than He Thought.",
                    9,
                    image=True,
                    **ib,
                ),
                others=(
                    _entry(
                        "bbc-world",
                        "geneva",
                        "Ukraine and Russia end Geneva talks without a deal",
                        8,
                    ),
                    _entry(
                        "aljazeera",
                        "key-events",
                        "Russia-Ukraine war: List of key events, day 1,455",
                        6,
                    ),
                ),
                score=9.4,
            ),
            Story(
                "s-drones",
                _entry(
                    "npr-world",
                    "drones",
                    "Overnight drone attack hits Odesa port, officials say",
                    5,
                    "A short summary of the attack and its aftermath.",
                ),
                score=5.1,
                update=True,
            ),
        ),
    )
    middle_east = Section(
        "middle-east",
        "Middle East",
        (
            Story(
                "s-iran",
                _entry(
                    "nyt-world",
                    "iran-mourn",
                    "Iranians Mourn Slain Protesters With ‘Revolutionary Rage’",
                    12,
                    image=True,
                    **ib,
                ),
                others=(
                    _entry(
                        "bbc-world",
                        "iran",
                        "Crowds gather in Tehran for funerals of protesters",
                        11,
                    ),
                ),
                score=7.8,
            ),
            Story(
                "s-alawite",
                _entry(
                    "bbc-world",
                    "alawite",
                    "“I would scream in my sleep”: Women from Syria’s Alawite "
                    "minority tell of kidnap and rape",
                    14,
                ),
                score=4.2,
            ),
        ),
    )
    americas = Section(
        "americas",
        "Americas",
        (
            Story(
                "s-jackson",
                _entry(
                    "bbc-world",
                    "jackson",
                    "US civil rights leader Jesse Jackson dies aged 84",
                    20,
                    image=True,
                    **ib,
                ),
                others=(
                    _entry(
                        "aljazeera",
                        "jackson-arabs",
                        "How Jesse Jackson helped empower US Arabs and lift up the Palestinian cause",
                        16,
                    ),
                    _entry(
                        "npr-world", "jackson", "Jesse Jackson, civil rights leader, dies at 84", 19
                    ),
                    _entry(
                        "nyt-world",
                        "jackson",
                        "Jesse Jackson, Civil Rights Leader and Candidate, Dies",
                        19,
                        url=None,
                    ),
                ),
                score=8.6,
            ),
            Story(
                "s-venezuela",
                _entry(
                    "bbc-world",
                    "venezuela",
                    "Under pressure from Trump, Venezuela’s new president has aces up her sleeve",
                    22,
                    url=None,
                ),
                score=3.3,
            ),
        ),
    )
    elsewhere = Section(
        "more",
        "Elsewhere in the world",
        (
            Story(
                "s-urdu",
                _entry(
                    "bbc-urdu",
                    "aid",
                    "امریکی عسکری امداد کی بندش کی وجوہات: انڈیا سے جنگ، جوہری پروگرام",
                    10,
                    "امریکہ کے ساتھ خفیہ معلومات کا تبادلہ اور فوجی تعاون معطل کر دیا گیا ہے۔",
                    language="ur",
                ),
                score=3.9,
            ),
            Story(
                "s-spain",
                dataclasses.replace(
                    _entry(
                        "elpais",
                        "spain-tech",
                        "Spain to investigate social media giants, escalating "
                        "trans-Atlantic tech dispute",
                        7,
                    ),
                    image=Image(
                        f"{image_base}/spain-thumb.jpg",
                        alt="Spain's prime minister",
                        width=240,
                        height=134,
                    ),
                ),
                score=3.1,
            ),
            Story(
                "s-rio",
                _entry("dawn", "rio", "A Rio Carnival party that goes on and on", 30, ""),
                score=1.2,
            ),
        ),
    )
    return Edition(
        list_name="world",
        list_title="World news",
        period="2026-02-18",
        window_start=NOW - timedelta(hours=36),
        window_end=NOW,
        sections=(ukraine, middle_east, americas, elsewhere),
        sources=dict(SOURCES),
    )


def huge_edition(n: int = 200) -> Edition:
    """``n`` stories in four sections with long summaries and images; scores fall with index."""
    sections = []
    per = max(1, n // 4)
    for s in range(4):
        stories = tuple(
            Story(
                f"h-{s}-{i}",
                _entry(
                    "bbc-world",
                    f"h{s}-{i}",
                    f"Story {s}-{i}: a long headline about events in a faraway place number {i}",
                    3 + i / 10,
                    LOREM * 2,
                    image=True,
                ),
                others=(_entry("npr-world", f"h{s}-{i}", f"Other take on {s}-{i}", 4),),
                score=1000.0 - (s + 4 * i),
            )
            for i in range(per if s < 3 else n - 3 * per)
        )
        sections.append(Section(f"sec{s}", f"Section {s}", stories))
    return Edition(
        list_name="world",
        list_title="World news",
        period="2026-02-18",
        window_start=NOW - timedelta(hours=36),
        window_end=NOW,
        sections=tuple(sections),
        sources=dict(SOURCES),
    )


def sample_config(root: Path | None = None, *, templates: Path | None = None) -> Config:
    """A valid ``Config`` with one list, ``world``; ``templates`` is its override folder."""
    lst: dict[str, object] = {
        "name": "world",
        "title": "World news",
        "description": "The day's main world stories, merged across outlets and grouped by region.",
        "sender": "World news from digest <world@digest.example.org>",
        "reply_to": "editors@digest.example.org",
        "subject": "{{ list.title }}: {{ top_story.lead.title }}"
        "{% if story_count > 1 %} (+{{ story_count - 1 }} more){% endif %}",
    }
    if templates is not None:
        lst["templates"] = str(templates)
    data = {
        "site": {
            "name": "digest",
            "base_url": "https://digest.example.org",
            "postal_address": "Digest Example Ltd, 1 Example Street, London EC1A 1AA, United Kingdom",
        },
        "sources": [
            {
                "name": info.name,
                "title": info.title,
                "url": f"https://feeds.example.org/{info.name}.xml",
            }
            for info in SOURCES.values()
        ],
        "lists": [lst],
    }
    return parse_config(data, root or Path("/tmp"))


def sample_list(config: Config) -> ListConfig:
    """The ``world`` list of ``config``."""
    return config.list("world")


def sample_subscriber(**changes: object) -> Subscriber:
    """Ada, subscriber 1 of ``world``; keyword arguments replace fields."""
    values: dict[str, object] = {
        "list_name": "world",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "id": 1,
    }
    values.update(changes)
    return Subscriber(**values)  # type: ignore[arg-type]
