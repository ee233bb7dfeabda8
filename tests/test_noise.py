"""Noise rules (digest.noise): each rule on a made-up entry, and news that must stay news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest.noise import NoiseVerdict, classify, split_noise
from digest.types import Entry

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


def entry(title: str, *, url: str = "https://news.example/2026/02/17/item", categories=(), published=None) -> Entry:
    return Entry(
        source="s",
        entry_id=title,
        title=title,
        url=url,
        categories=tuple(categories),
        published=published or NOW - timedelta(hours=3),
        first_seen=NOW,
    )


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (entry("Old podcast episode", published=NOW - timedelta(days=3000)), "archive"),
        (entry("An old column", url="https://news.example/1998/05/02/column.html"), "archive"),
        (entry("Jane Doe, 74; Wrote About the Resistance"), "archive"),
        (entry("John Roe, Leading Painter, Is Dead"), "archive"),
        (entry("Up First: the news you need to start your day"), "roundup"),
        (entry("World Brief: talks in Geneva"), "roundup"),
        (entry("Russia-Ukraine war: List of key events, day 1,455"), "roundup"),
        (entry("A singer has died. And, talks resume in Geneva"), "roundup"),
        (entry("Talks, storms and an election", url="https://news.example/newsletter/2026-02-17"), "roundup"),
        (entry("A Hectic Day for U.S. Negotiators",
               categories=["World Brief", "Iran", "Russia", "Ukraine", "United States"]), "programme"),
        (entry("The Economist is hiring an Asia correspondent"), "service"),
        (entry("heise-Angebot: c't Fotografie: Spiegeloses Vollformat im Test"), "service"),
        (entry("[Sponsor] A faster way to ship apps"), "service"),
        (entry("#TGIQF - das c't-Retroquiz: 8 Bit & mehr"), "quiz"),
        (entry("We're hiring: a data reporter for the investigations desk"), "service"),
        (entry("Earth's ultimate yogis – in pictures",
               url="https://www.theguardian.com/artanddesign/gallery/2018/jan/31/yogis"), "service"),
        (entry("Who should control our digital world?", categories=["TV Shows"]), "programme"),
        (entry("The week's news quiz"), "quiz"),
        (entry("Subscribe to our daily email"), "service"),
        (entry("Comments Are Back On"), "service"),
        (entry("Some Site Goings-On"), "service"),
        (entry("Programming note: no posts on Monday"), "service"),
        # Guardian US (g1): a photo round-up, a live blog of many deals, a standing explainer
        (entry("Snake school and May in China: Wednesday's top photos"), "roundup"),
        (entry("Moura joins Spurs; Giroud, Batshuayi deals go through: deadline – live!"), "roundup"),
        (entry("Trump-Russia investigation: the key questions answered"), "service"),
    ],
)
def test_each_rule_recognises_its_kind(item: Entry, kind: str) -> None:
    verdict = classify(item)
    assert verdict is not None and verdict.kind == kind and verdict.reason


@pytest.mark.parametrize(
    "item",
    [
        entry("Civil rights leader dies aged 84"),
        entry("A Generation grows up uncertain. And social media is their source of news"),
        entry("Iran says 'guiding principles' agreed at nuclear talks", categories=["Iran", "Nuclear Weapons"]),
        entry("Briefing room: minister resigns"),
        entry("Hurricane season starts", published=NOW - timedelta(days=2), url="https://x.example/2026/02/16/h"),
        entry("", url=""),
        # a live blog of one match, a gallery of one event: that event's story
        entry("Tottenham Hotspur v Manchester United: Premier League – live!"),
        entry("Lunar New Year in Photos and Video: Revelers Welcome Year of the Horse"),
        entry("Super blue blood moon - in pictures",
              url="https://www.theguardian.com/science/gallery/2018/jan/31/blood-moon"),
        # a newsletter edition on one story is that story's news (FP's World Brief, w0)
        entry("A New Chapter for Bangladesh", categories=["World Brief", "Bangladesh", "Elections"]),
        entry("Late-night hosts on State of the Union", categories=["Late-night TV roundup"]),
        # a company's hiring is news; only the outlet's own advertisement is not
        entry("Amazon is hiring 100,000 workers for the holidays"),
        entry("Sponsor of the Paris summit pulls out"),
        entry("Tesla-Angebote in China: Preise fallen"),
    ],
)
def test_news_stays_news(item: Entry) -> None:
    assert classify(item) is None


def test_split_keeps_order() -> None:
    items = [entry("News one"), entry("Up First: today"), entry("News two"), entry("Weekly quiz")]
    news, noise = split_noise(items)
    assert [e.title for e in news] == ["News one", "News two"]
    assert [(e.title, v.kind) for e, v in noise] == [("Up First: today", "roundup"), ("Weekly quiz", "quiz")]


def test_a_teaser_that_lists_several_stories_is_a_roundup_an_article_is_not() -> None:
    listing = Entry(
        source="s", entry_id="t", title="Good morning", published=NOW, first_seen=NOW,
        summary_text="A civil rights leader dies at 84. And, the U.S. and Iran are set for talks.",
    )  # fmt: skip
    verdict = classify(listing)
    assert verdict is not None and verdict.kind == "roundup" and "summary" in verdict.reason
    article = Entry(
        source="s", entry_id="a", title="Delegates march in", published=NOW, first_seen=NOW,
        summary_text="The parade began at dusk. " * 20 + "And, since the last Games, rules changed.",
    )  # fmt: skip
    assert classify(article) is None


def test_eval_stories_sees_the_feed_categories_a_build_sees(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The JSONL has no categories; the row's own feed file has them (``World Brief``), so
    ``digest eval stories`` leaves the newsletter out as a build would, and ``--no-feeds``
    shows what the JSONL alone gives."""
    import json
    import subprocess
    import sys

    import yaml

    from .conftest import REPO

    items = [
        ("https://fp.example/brief", "A Hectic Day for Negotiators", "World Brief",
         "Washington is trying to tackle Iran's nuclear talks and Russia's war in Ukraine."),
        ("https://fp.example/peru", "Peru's Congress removes interim President Jeri", "Peru",
         "Lawmakers in Lima voted on Tuesday to remove the president."),
    ]  # fmt: skip
    body = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid><category>{c}</category>"
        f"<description>{d}</description><pubDate>Tue, 17 Feb 2026 08:00:00 +0000</pubDate></item>"
        for u, t, c, d in items
    )
    (tmp_path / "fp-rss.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>FP</title>'
        f"<link>https://fp.example/</link><description>x</description>{body}</channel></rss>",
        encoding="utf-8",
    )
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["sources"] = [{"name": "fp", "title": "FP", "path": str(tmp_path / "fp-rss.xml")}]
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    rows = [
        {"id": f"foreignpolicy:{i}", "source": "foreignpolicy", "feed": "fp-rss.xml", "guid": u,
         "url": u, "title": t, "text": d, "published": "2026-02-17T08:00:00Z",
         "story": "noise-1" if i == 0 else "peru", "section": "more" if i == 0 else "americas",
         "kind": "roundup" if i == 0 else "news"}
        for i, (u, t, _c, d) in enumerate(items)
    ]  # fmt: skip
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def noise_line(*extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "digest", "-c", str(tmp_path / "config.yaml"), "eval",
             "stories", str(tmp_path / "set.jsonl"), "--list", "world", *extra],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return next(line for line in result.stdout.splitlines() if line.startswith("noise"))

    assert noise_line().startswith("noise P 1.0000 R 1.0000")
    assert "R 0.0000" in noise_line("--no-feeds")


def test_an_obituary_in_a_burst_with_an_archive_item_of_its_feed_is_archive_too() -> None:
    """The NYT republished Anna Akhmatova's 1966 obituary, then within minutes Millvina Dean's
    (died 2009) under a modern headline: the burst, not the headline, shows it is archive."""
    at = NOW - timedelta(hours=9)
    old = entry("Anna Akhmatova, Leading Soviet Poet, Is Dead", published=at)
    modern = entry("Millvina Dean, Titanic's Last Survivor, Dies at 97",
                   published=at - timedelta(minutes=2))
    later = entry("Frederick Vreeland, Diplomat, Dies at 98", published=at - timedelta(hours=4))
    other_feed = Entry(**{**modern.__dict__, "source": "other", "entry_id": "o"})
    news_beside = entry("Peru votes to impeach its president", published=at)
    assert classify(modern) is None  # alone, its headline is a modern obituary's
    kept, noise = split_noise([old, modern, later, other_feed, news_beside])
    assert [e.title for e, _ in noise] == [old.title, modern.title]
    assert "2 min" in noise[1][1].reason and noise[1][1].kind == "archive"
    assert later in kept and other_feed in kept and news_beside in kept


def test_a_weekly_roundup_teaser_is_a_roundup_a_story_about_this_week_is_not() -> None:
    def teaser(text: str) -> Entry:
        return Entry(source="s", entry_id=text, title="Behind the scenes", summary_text=text,
                     published=NOW, first_seen=NOW)  # fmt: skip

    verdict = classify(teaser("This week, we discuss support and saying goodbye to a database."))
    assert verdict is not None and verdict.kind == "roundup"
    assert classify(teaser("This week, the administration seeks deals on three fronts.")) is None


def test_a_newsletter_edition_is_known_by_the_name_of_its_image() -> None:
    """The NYT's The World newsletter reads like an article ("Labubu Diplomacy": one line on
    China's soft power); only the outlet's name for its promo image says what it is. An
    edition given over to one interview is one story and stays news."""
    from dataclasses import replace

    from digest.types import Image

    base = "https://static01.nyt.com/images/2026/02/18/multimedia/"
    teaser = replace(
        entry("Labubu Diplomacy", url="https://www.nytimes.com/2026/02/17/world/labubu-diplomacy.html"),
        image=Image(url=base + "18int-theworld-china-cool-promo/18int-theworld-china-cool-promo-mediumSquareAt3X.jpg"),
    )  # fmt: skip
    verdict = classify(teaser)
    assert verdict is not None and verdict.kind == "roundup" and "theworld" in verdict.reason
    interview = replace(teaser, image=Image(url=base + "16int-theworld-interview-pelicot-promo/x.jpg"))
    assert classify(interview) is None
    assert classify(replace(teaser, image=Image(url=base + "17-int-peru-impeachment/x.jpg"))) is None
    assert classify(replace(teaser, image=Image(url=base + "worldwide-floods/x.jpg"))) is None


def test_an_edition_of_a_series_the_feed_calls_a_newsletter_is_a_roundup() -> None:
    """The Economist titles most editions "The War Room newsletter: …" but some "The War
    Room: …" (w3); the feed's own name for the series tells. Another feed's or another
    series' "X: …" headline stays news."""
    named = entry("The War Room newsletter: Three factors may decide the conflict")
    edition = entry("The War Room: Is an India-Pakistan war coming?")
    elsewhere = Entry(**{**edition.__dict__, "source": "other", "entry_id": "o"})
    news = entry("Myanmar: an earthquake kills hundreds")
    assert classify(edition) is None  # alone, it reads as a headline
    kept, noise = split_noise([named, edition, elsewhere, news])
    assert [e.title for e, _ in noise] == [named.title, edition.title]
    assert "The War Room" in noise[1][1].reason and noise[1][1].kind == "roundup"
    assert kept == [elsewhere, news]


def test_an_item_a_year_older_than_the_rest_of_its_feed_is_archive() -> None:
    """EL PAÍS keeps a 2021 offer of Spanish lessons among items of 2025: pinned, not news.
    An old item alone in its feed, or with another item that old, is not judged so."""
    recent = [entry(f"Story {n}", published=NOW - timedelta(days=n)) for n in range(3)]
    old = NOW - timedelta(days=4 * 365)  # first seen then too: rule 1 cannot tell
    offer = entry("Free lessons for our readers", published=old)
    pinned = Entry(**{**offer.__dict__, "first_seen": old})
    alone = Entry(**{**pinned.__dict__, "source": "other", "entry_id": "o"})
    kept, noise = split_noise([*recent, pinned, alone])
    assert [(e.title, v.kind) for e, v in noise] == [(pinned.title, "archive")]
    assert "over a year before" in noise[0][1].reason
    assert kept == [*recent, alone]
    near = entry("Last year's story", published=NOW - timedelta(days=300))
    assert split_noise([*recent, near])[1] == []


def test_a_podcast_episode_is_left_out_by_its_audio_file_title_or_teaser() -> None:
    """An item carrying an audio file (the parser's ``audio`` flag) is a podcast episode,
    whatever its title says ("311: Mutually Assured Destruction"); so is an item whose title
    names a podcast or an episode, or whose teaser opens with the show's name. A news item
    with an image, a story about a show, and a teaser that only mentions a show stay news."""
    from dataclasses import replace

    from digest.types import AUDIO_FLAG

    def teaser(title: str, text: str) -> Entry:
        return replace(entry(title), summary_text=text)

    episode = replace(entry("311: Mutually Assured Destruction"), flags=(AUDIO_FLAG,))
    for item in (
        episode,
        replace(episode, flags=("date-missing", AUDIO_FLAG)),
        entry("Podcast: Ring Is Back and Scarier Than Ever"),
        entry("Folge 12: Wie sicher sind Passwort-Manager?"),
        teaser("c't uplink 24.6: Linux mit UEFI / OLED-Defekte",
               "Die c't-uplink Show: Dieses Mal mit eingebrannten Logos bei OLED-TVs."),
    ):  # fmt: skip
        verdict = classify(item)
        assert verdict is not None and verdict.kind == "podcast" and verdict.reason, item.title
    assert "audio file" in (classify(episode) or NoiseVerdict("", "")).reason
    for item in (
        replace(entry("Mi Mix 3: Xiaomi-Flaggschiff mit Kamera-Slider"), flags=("date-missing",)),
        teaser("Late-night hosts on the State of the Union",
               "Late-night show: hosts mocked the president's speech."),
        teaser("Minister quits", "The minister said the show must go on: he resigned today."),
        entry("Rust 1.30 will mehr Klarheit schaffen"),
    ):  # fmt: skip
        assert classify(item) is None, item.title


def test_every_episode_of_the_real_podcast_feeds_is_left_out() -> None:
    """The two captured podcast feeds (ATP whole, the Giant Bombcast's first 60 episodes, to
    keep the test fast): every episode is noise by its audio file, read the day after its
    own publication so that the archive-by-date rule does not decide it (10 ATP items give
    no MIME type, only ``medium="audio"``)."""
    from digest.parse import parse_feed

    from .conftest import REAL_FEEDS

    for name, items in (("atp-podcast-rss.xml", None), ("giantbomb-podcast-rss.xml", 60)):
        body = (REAL_FEEDS / name).read_bytes()
        if items is not None:  # the channel head and the first episodes
            body = b"</item>".join(body.split(b"</item>")[:items]) + b"</item></channel></rss>"
        entries = parse_feed(body, source="p", now=NOW).entries
        assert len(entries) == (items or 100)
        news, noise = split_noise([polled_on_time(e) for e in entries])
        assert news == [] and {v.reason for _, v in noise} == {
            "podcast episode: the item carries an audio file"
        }, name


def polled_on_time(item: Entry) -> Entry:
    """``item`` first seen a day after it was published (a feed polled as it appears)."""
    from dataclasses import replace

    published = item.published or NOW
    return replace(item, published=published, first_seen=published + timedelta(days=1))


def test_eval_stories_sees_the_audio_file_a_build_sees(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A labelled row has no enclosure; its feed file has one, so ``digest eval stories``
    scores the episode with the parser's ``audio`` flag, as a build stores it."""
    from types import SimpleNamespace

    from digest.evaluate import _with_feed_details, rows_to_entries
    from digest.types import AUDIO_FLAG

    (tmp_path / "show-rss.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Show</title>'
        "<link>https://show.example/</link><description>x</description>"
        "<item><title>311: Mutually Assured Destruction</title><guid>ep311</guid>"
        '<enclosure url="https://cdn.example/311.mp3" type="audio/mpeg" length="1"/>'
        "<pubDate>Tue, 17 Feb 2026 08:00:00 +0000</pubDate></item></channel></rss>",
        encoding="utf-8",
    )
    row = {"id": "show:0", "source": "show", "guid": "ep311", "title": "311: Mutually Assured Destruction",
           "text": "", "published": "2026-02-17T08:00:00Z"}  # fmt: skip
    source = SimpleNamespace(name="show", path=tmp_path / "show-rss.xml", language=None)
    [episode] = _with_feed_details(rows_to_entries([row]), [row], [source])
    assert AUDIO_FLAG in episode.flags
    verdict = classify(episode)
    assert verdict is not None and verdict.kind == "podcast"


# Round-ups and newsletters in other languages, one family a test: the round-up's name
# (made-up titles shaped like the real ones) and news that uses the same words.
@pytest.mark.parametrize(
    ("roundup", "news"),
    [
        (  # a round-up "in 60 seconds", named by the series opening the title (JN's)
            ["Despertar em 60 segundos: clássico na Luz", "Primeira página em 60 segundos: tarifas",
             "El día en 60 segundos: huelga de metro", "Le monde en 60 secondes : grève",
             "Der Tag in 60 Sekunden: Streik"],
            ["Bilhetes para o concerto esgotados em 60 segundos", "Entradas agotadas en 60 segundos",
             "Incêndio: 60 segundos para sair do prédio"],
        ),
        (  # Portuguese and Spanish summaries of the day or the week
            ["Resumo do dia: greve, orçamento e futebol", "Resumen de la semana en Madrid",
             "Resumo: as notícias desta manhã", "Las noticias del día", "Fotos do dia",
             "La semana en imágenes"],
            ["Governo apresenta resumo do orçamento ao Parlamento", "Fiscal pide resumir el juicio"],
        ),
        (  # German weekly reviews, "Die Woche: …", picture round-ups
            ["Wochenrückblick: Streik, Wahl und Wetter", "Die Woche im Rückblick",
             "Die Woche: Koalition, Bahn und Bundesliga", "Die Bilder der Woche (KW 43): Porträts",
             "Nachrichten in Kürze", "Heise-Newsletter: Neues aus der IT"],
            ["Die Woche der Entscheidung für die Koalition", "Bahn streikt die ganze Woche"],
        ),
        (  # French: "L'essentiel", press reviews, the week in pictures
            ["L'essentiel du jour : grève et budget", "L'essentiel : ce qu'il faut retenir",
             "Revue de presse du 3 janvier", "La semaine en images", "Photo du jour"],
            ["L'essentiel des députés vote contre la réforme", "Le ministre présente son budget"],
        ),
    ],
)
def test_a_roundup_in_another_language_is_a_roundup_its_news_is_not(
    roundup: list[str], news: list[str]
) -> None:
    assert [(t, getattr(classify(entry(t)), "kind", None)) for t in roundup] == [
        (t, "roundup") for t in roundup
    ]
    assert [t for t in news if classify(entry(t)) is not None] == []
