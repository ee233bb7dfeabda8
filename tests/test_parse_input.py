"""Issue 15, feed input: feeds read faithfully. Every feed here is written inline.

Encoding from the bytes, entities, RFC 2047 lookalikes, untitled and image-only items,
podcasts, right-to-left text, ``inspect --json`` times, and the cases where digest's reading
was worse than feedparser alone (Atom text titles, escaped markup, object/embed/iframe,
broken comments, media:title/description, a feed of unusable items).
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.parse import parse_feed
from digest.types import Entry, ParsedFeed

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


def feed(doc: str | bytes, **kw: object) -> ParsedFeed:
    data = doc.encode("utf-8") if isinstance(doc, str) else doc
    return parse_feed(data, source="s", now=NOW, **kw)  # type: ignore[arg-type]


def rss_item(inner: str, channel: str = "", ns: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{ns}><channel><title>Feed</title>'
        f"<link>https://news.example.org/</link>{channel}<item>{inner}</item></channel></rss>"
    )


def atom_entry(inner: str, feed_title: str = "<title>Feed</title>") -> str:
    return (
        f'<feed xmlns="http://www.w3.org/2005/Atom">{feed_title}'
        f"<entry><id>urn:x:1</id>{inner}</entry></feed>"
    )


def only(doc: str | bytes, **kw: object) -> Entry:
    entries = feed(doc, **kw).entries
    assert len(entries) == 1, entries
    return entries[0]


# -------------------------------------------------------------------------------- encoding

CAFE = "Café opens in Zürich"


@pytest.mark.parametrize("label", ["us-ascii", "ascii", "iso-8859-1", "latin-1", "windows-1252"])
def test_utf8_bytes_under_a_wrong_declaration_are_read_as_utf8(label: str) -> None:
    doc = rss_item(f"<title>{CAFE}</title><link>https://e.org/1</link>").replace(
        'encoding="utf-8"', f'encoding="{label}"'
    )
    parsed = feed(doc.encode("utf-8"))
    assert parsed.entries[0].title == CAFE  # not "CafÃ© opens in ZÃ¼rich"
    assert any(f"declared {label} but the bytes are UTF-8" in w for w in parsed.warnings)


def test_utf8_bytes_under_a_wrong_http_charset_are_read_as_utf8() -> None:
    doc = rss_item(f"<title>{CAFE}</title><link>https://e.org/1</link>").replace(
        ' encoding="utf-8"', ""
    )
    parsed = feed(doc.encode("utf-8"), headers={"content-type": "text/xml; charset=iso-8859-1"})
    assert parsed.entries[0].title == CAFE
    assert any("declared iso-8859-1 but the bytes are UTF-8" in w for w in parsed.warnings)


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("iso-8859-1", "Café in Zürich"),
        ("iso-8859-1", "“Quoted” — dash"),  # windows-1252 bytes under a latin-1 label
        ("windows-1252", "“Quoted” — dash €"),
        ("gb2312", "习近平为何如此强调崇尚英雄"),
        ("windows-1251", "Новости дня: Москва и Санкт-Петербург"),
        ("shift_jis", "東京の天気は晴れです"),
        ("koi8-r", "Новости дня"),
    ],
)
def test_legacy_encodings_that_are_declared_still_decode(label: str, text: str) -> None:
    codec = "cp1252" if label == "iso-8859-1" and "“" in text else label
    doc = rss_item(f"<title>{text}</title><link>https://e.org/1</link>").replace(
        'encoding="utf-8"', f'encoding="{label}"'
    )
    parsed = feed(doc.encode(codec))
    assert parsed.entries[0].title == text
    assert not any("UTF-8" in w for w in parsed.warnings)


def test_undeclared_cyrillic_is_detected_and_undeclared_western_is_windows_1252() -> None:
    ru = "Новости дня: Москва, Санкт-Петербург и другие города России сегодня. " * 4
    doc = rss_item(f"<title>{ru.strip()}</title><link>https://e.org/1</link>").replace(
        ' encoding="utf-8"', ""
    )
    assert only(doc.encode("cp1251")).title == ru.strip()
    fr = "Où est la bibliothèque ? Déjà fermée, hélas."
    doc = rss_item(f"<title>{fr}</title><link>https://e.org/1</link>").replace(
        ' encoding="utf-8"', ""
    )
    parsed = feed(doc.encode("cp1252"))
    assert parsed.entries[0].title == fr
    assert any("read as windows-1252" in w for w in parsed.warnings)


def test_real_feeds_in_legacy_encodings_still_decode() -> None:
    real = REPO.parent / "shared" / "feeds" / "real"
    gb = real / "qq-news-gb2312-rss.xml"
    if not gb.exists():
        pytest.skip("../shared/feeds/real not present")
    assert "英雄" in feed(gb.read_bytes()).entries[0].title
    for name in ("lecerclepsy-fr-rss.xml", "uol-noticias-rss.xml", "heise-online-rdf.xml"):
        titles = " ".join(e.title for e in feed((real / name).read_bytes()).entries)
        assert "Ã" not in titles and "\ufffd" not in titles, name


def test_decision_order_bom_then_utf8_then_label_then_detector() -> None:
    from digest.encoding import decide_encoding

    assert decide_encoding(codecs.BOM_UTF8 + b"<a>\xc3\xa9</a>", declared="latin-1",
                           http_charset=None).source == "bom"  # fmt: skip
    d = decide_encoding("<a>é</a>".encode("utf-16"), declared=None, http_charset="latin-1")
    assert d.encoding == "utf-16" and d.source == "bom"
    d = decide_encoding("<a>é</a>".encode(), declared="us-ascii", http_charset=None)
    assert (d.encoding, d.source) == ("utf-8", "utf-8") and d.warning
    d = decide_encoding("<a>é</a>".encode("latin-1"), declared="utf-8", http_charset="latin-1")
    assert (d.encoding, d.source, d.warning) == ("cp1252", "http", None)
    d = decide_encoding("<a>é</a>".encode("latin-1"), declared="utf-8", http_charset=None)
    assert d.encoding == "cp1252" and d.warning and "declared utf-8" in d.warning
    # 7-bit ISO-2022-JP is all ASCII bytes: its label is followed
    jp = "東京".encode("iso2022_jp")
    d = decide_encoding(b"<a>" + jp + b"</a>", declared="iso-2022-jp", http_charset=None)
    assert d.encoding == "iso2022_jp"


def test_mostly_utf8_with_a_stray_latin1_byte_keeps_the_utf8() -> None:
    from digest.encoding import MIXED, decide_encoding

    raw = "Zürich — ".encode() + "España".encode("latin-1")
    d = decide_encoding(b"<a>" + raw + b"</a>", declared=None, http_charset=None)
    assert d.encoding == MIXED
    doc = (
        rss_item("<title>X</title><link>https://e.org/1</link>")
        .encode()
        .replace(b"<title>X", b"<title>" + raw)
    )
    assert only(doc).title == "Zürich — España"


def test_ebcdic_document_is_read_by_its_declaration() -> None:
    doc = '<?xml version="1.0" encoding="cp037"?><rss version="2.0"><channel><title>Ø Feed</title>'
    doc += "<item><title>Ærø</title><link>https://e.org/1</link></item></channel></rss>"
    parsed = feed(doc.encode("cp037"))
    assert parsed.title == "Ø Feed" and parsed.entries[0].title == "Ærø"


# -------------------------------------------------------------------------------- entities


def test_undefined_and_external_entities_do_not_stay_in_the_text(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    doc = rss_item(
        "<title>Acme &ext; ships &nosuchthing; today</title>"
        "<description>Body &ext; text</description><link>https://e.org/1</link>"
    ).replace("<rss", f'<!DOCTYPE rss [<!ENTITY ext SYSTEM "file://{secret}">]><rss')
    parsed = feed(doc)
    e = parsed.entries[0]
    assert e.title == "Acme ships today"
    assert "&" not in e.summary_text and "TOPSECRET" not in e.summary_text
    assert any("ext" in w and "removed" in w for w in parsed.warnings)


def test_a_short_plain_internal_entity_is_expanded_and_html_entities_still_read() -> None:
    doc = rss_item(
        "<title>&brand; &mdash; news&nbsp;today</title><link>https://e.org/1</link>"
    ).replace("<rss", '<!DOCTYPE rss [<!ENTITY brand "Acme Corp">]><rss')
    assert only(doc).title == "Acme Corp — news\u00a0today".replace("\u00a0", " ")


# -------------------------------------------------------------------------------- RFC 2047

WORD = "=?utf-8?b?QUNDT1VOVCBTVVNQRU5ERUQ=?="  # "ACCOUNT SUSPENDED"


def test_an_encoded_word_in_a_title_reads_the_same_in_the_body_and_the_subject() -> None:
    from digest.message import POLICY

    e = only(rss_item(f"<title>News {WORD} today</title><link>https://e.org/1</link>"))
    visible = e.title.replace("\u2060", "")
    assert visible == f"News {WORD} today"  # shown literally in the body
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = e.title
    msg.set_content(e.title)
    back = message_from_bytes(msg.as_bytes(), policy=email_policy.default)
    assert "ACCOUNT SUSPENDED" not in str(back["Subject"])
    assert str(back["Subject"]).replace("\u2060", "") == visible  # literal in the Subject too


def test_an_encoded_word_in_the_feed_title_is_neutralised_too() -> None:
    parsed = feed(rss_item("<title>a</title><link>https://e.org/1</link>").replace(
        "<title>Feed</title>", f"<title>{WORD}</title>"))  # fmt: skip
    assert "=?" not in parsed.title and parsed.title.replace("\u2060", "") == WORD


# -------------------------------------------------------------------------------- untitled


def test_untitled_item_gets_its_first_sentence_as_title_and_no_repeat() -> None:
    e = only(
        rss_item(
            "<description>Shipped the new release today. It has dark mode and faster sync."
            "</description><link>https://m.example/1</link>"
        )
    )
    assert e.title == "Shipped the new release today."
    assert e.summary_text == "It has dark mode and faster sync."


def test_untitled_chinese_post_is_cut_at_its_first_full_stop() -> None:
    e = only(
        rss_item(
            "<description>今天发布了新版本。它支持深色模式。</description>"
            "<link>https://m.example/zh</link>"
        )
    )
    assert (e.title, e.summary_text) == ("今天发布了新版本。", "它支持深色模式。")


def test_untitled_one_sentence_post_is_title_only() -> None:
    e = only(
        rss_item("<description>Just landed in Lisbon</description><link>https://m.example/2</link>")
    )
    assert (e.title, e.summary_html, e.summary_text) == ("Just landed in Lisbon", "", "")


def test_untitled_long_run_on_text_is_cut_and_kept_whole_in_the_summary() -> None:
    text = " ".join(["word"] * 80)
    e = only(rss_item(f"<description>{text}</description><link>https://m.example/3</link>"))
    assert e.title.endswith("…") and len(e.title) <= 121
    assert e.summary_text == text


def test_image_only_post_is_titled_by_its_alt_text() -> None:
    e = only(
        rss_item(
            '<description>&lt;p&gt;&lt;img src="https://m.example/heron.jpg" '
            'alt="A grey heron on the pier"&gt;&lt;/p&gt;</description>'
            "<link>https://m.example/4</link>"
        )
    )
    assert e.title == "A grey heron on the pier"
    assert e.image is not None and e.image.url == "https://m.example/heron.jpg"


# -------------------------------------------------------------------------------- podcasts

ITUNES = ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'


def test_podcast_item_with_summary_enclosure_and_itunes_image_gets_link_and_image() -> None:
    e = only(
        rss_item(
            "<title>Episode 1</title><guid isPermaLink='false'>ep1</guid>"
            "<itunes:summary>We talk about things.</itunes:summary>"
            '<enclosure url="https://cdn.example/ep1.mp3" type="audio/mpeg" length="1"/>'
            '<itunes:image href="https://cdn.example/ep1.jpg"/>',
            ns=ITUNES,
        )
    )
    assert e.url == "https://cdn.example/ep1.mp3"
    assert e.image is not None and e.image.url == "https://cdn.example/ep1.jpg"
    assert e.summary_text == "We talk about things."


def test_podcast_item_without_enclosure_links_to_the_show() -> None:
    e = only(
        rss_item(
            "<title>Episode 2</title><guid isPermaLink='false'>ep2</guid>"
            "<itunes:summary>More.</itunes:summary>"
            '<itunes:image href="https://cdn.example/ep2.jpg"/>',
            ns=ITUNES,
        )
    )
    assert e.url == "https://news.example.org/" and e.entry_id == "ep2"


@pytest.mark.parametrize(
    ("media", "audio"),
    [
        ('<enclosure url="https://cdn.example/ep.mp3" type="audio/mpeg" length="1"/>', True),
        ('<media:content url="https://cdn.example/ep" medium="audio"/>', True),
        ('<enclosure url="https://cdn.example/photo.jpg" type="image/jpeg" length="1"/>', False),
        ('<media:content url="https://cdn.example/clip.mp4" type="video/mp4"/>', False),
        # an episode's iTunes tags, the file not (yet) given
        ("<itunes:duration>01:02:03</itunes:duration>", True),
        ("<itunes:episode>311</itunes:episode>", True),
        ("<itunes:author>Marco Arment</itunes:author>", False),
    ],
)
def test_an_item_carrying_an_audio_file_is_flagged_audio(media: str, audio: bool) -> None:
    """A podcast episode is known by its audio enclosure or its iTunes episode tags
    (digest.noise leaves it out); an image or a video attached to a news item is no such
    sign, nor is an iTunes tag any item may carry (the author)."""
    from digest.types import AUDIO_FLAG

    e = only(
        rss_item(
            f"<title>311: Mutually Assured Destruction</title><guid>ep311</guid>{media}",
            ns=' xmlns:media="http://search.yahoo.com/mrss/"' + ITUNES,
        )
    )
    assert (AUDIO_FLAG in e.flags) is audio


def test_a_json_feed_audio_attachment_is_flagged_audio() -> None:
    from digest.types import AUDIO_FLAG

    doc = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Show",
            "items": [
                {"id": "1", "title": "Episode one", "content_text": "We talk.",
                 "attachments": [{"url": "https://cdn.example/1.m4a", "mime_type": "audio/x-m4a"}]},
                {"id": "2", "title": "A post", "content_text": "Words.",
                 "attachments": [{"url": "https://cdn.example/2.pdf", "mime_type": "application/pdf"}]},
            ],
        }
    )  # fmt: skip
    flagged = [AUDIO_FLAG in e.flags for e in feed(doc).entries]
    assert flagged == [True, False]


# -------------------------------------------------------------------------------- direction


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("חדשות היום בירושלים", "ראש הממשלה נפגש עם השרים."),  # Hebrew
        ("أخبار اليوم من القاهرة", "التقى الرئيس بالوزراء اليوم."),  # Arabic
        ("امریکی عسکری امداد کی بندش", "انڈیا سے جنگ کے بعد"),  # Urdu
        ("اخبار امروز از تهران", "رئیس جمهور با وزیران دیدار کرد."),  # Persian
    ],
)
def test_right_to_left_text_without_a_language_is_rtl(title: str, text: str) -> None:
    e = only(rss_item(f"<title>{title}</title><description>{text} (BBC)</description>"
                      "<link>https://e.org/1</link>"))  # fmt: skip
    assert e.language is None
    assert e.direction == "rtl"


def test_left_to_right_text_and_rtl_language_tags() -> None:
    e = only(rss_item("<title>News of the day</title><link>https://e.org/1</link>"))
    assert e.direction == "ltr"
    e = only(rss_item("<title>123</title><link>https://e.org/1</link>", "<language>he</language>"))
    assert e.direction == "rtl"


# -------------------------------------------------------------------------------- inspect --json


def test_inspect_json_prints_rfc3339_times(tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    path.write_text(
        rss_item(
            "<title>T</title><link>https://e.org/1</link>"
            "<pubDate>Wed, 18 Feb 2026 07:00:00 +0000</pubDate>"
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "-c", str(tmp_path / "none.yaml"), "inspect", "--json",
         str(path)],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)["entries"][0]
    assert entry["published"] == "2026-02-18T07:00:00Z"
    assert entry["first_seen"].endswith("Z") and "T" in entry["first_seen"]
    assert entry["direction"] == "ltr"


# -------------------------------------------------------------------------------- vs feedparser


def test_atom_text_titles_are_text() -> None:
    parsed = feed(atom_entry('<title type="text">Example &lt;b&gt;Atom&lt;/b&gt;</title>',
                             '<title type="text">Feed &lt;i&gt;x&lt;/i&gt;</title>'))  # fmt: skip
    assert parsed.entries[0].title == "Example <b>Atom</b>"
    assert parsed.title == "Feed <i>x</i>"
    html = feed(atom_entry('<title type="html">Example &lt;b&gt;Atom&lt;/b&gt;</title>'))
    assert html.entries[0].title == "Example Atom"


@pytest.mark.parametrize(
    "title",
    [
        '<title type="html">History of the &amp;lt;blink&amp;gt; tag</title>',
        (
            '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">History of the '
            "&lt;blink&gt; tag</div></title>"
        ),
        '<title type="text">History of the &lt;blink&gt; tag</title>',
    ],
)
def test_escaped_markup_in_a_title_is_kept_as_text(title: str) -> None:
    assert only(atom_entry(title)).title == "History of the <blink> tag"


def test_escaped_markup_in_an_atom_text_feed_title_or_an_untitled_body_is_kept() -> None:
    parsed = feed(atom_entry("<content type='text'>History of the &lt;blink&gt; tag</content>",
                             "<title type='text'>History of the &lt;blink&gt; tag</title>"))  # fmt: skip
    assert parsed.title == "History of the <blink> tag"
    assert parsed.entries[0].title == "History of the <blink> tag"  # taken from its text


def test_escaped_markup_in_typed_atom_bodies_is_kept_as_text() -> None:
    for content in (
        '<content type="text">History of the &lt;blink&gt; tag</content>',
        (
            '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">History of the '
            "&lt;blink&gt; tag</div></content>"
        ),
    ):
        e = only(atom_entry("<title>t</title>" + content))
        assert e.summary_text == "History of the <blink> tag", content


@pytest.mark.parametrize(
    "markup",
    [
        'safe&lt;object data="http://e.org/x.swf"&gt; description',
        'safe&lt;embed src="http://e.org/x.swf"&gt; description',
        'safe&lt;iframe src="http://e.org/"&gt; description',
        'safe&lt;object&gt;&lt;param name="x"&gt; description&lt;/object&gt;',
        'safe&lt;iframe src="http://e.org/"&gt;&lt;p&gt;description&lt;/p&gt;&lt;/iframe&gt;',
    ],
)
def test_text_inside_or_after_object_embed_iframe_is_kept(markup: str) -> None:
    e = only(rss_item(f"<title>{markup}</title><description>{markup}</description>"
                      "<link>https://e.org/1</link>"))  # fmt: skip
    assert e.title == "safe description"
    assert " ".join(e.summary_text.split()) == "safe description"
    assert "<object" not in e.summary_html and "<embed" not in e.summary_html
    assert "<iframe" not in e.summary_html


def test_a_broken_comment_does_not_leak_into_a_title() -> None:
    parsed = feed(
        atom_entry(
            '<title type="html">a&lt;!-- x --&gt;b</title>',
            '<title type="html">sa&lt;!-- -- nonwhitespace &gt;fe&lt;script&gt;alert(1);'
            "&lt;/script&gt;</title>",
        )
    )
    assert parsed.title == "safe"
    assert parsed.entries[0].title == "ab"


def test_media_title_and_description_when_they_are_all_an_item_has() -> None:
    ns = ' xmlns:media="http://search.yahoo.com/mrss/"'
    e = only(rss_item("<media:title>bar</media:title><link>https://e.org/1</link>", ns=ns))
    assert e.title == "bar"
    e = only(
        rss_item(
            "<title>Clip</title><media:group><media:description type='plain'>Test Description"
            "</media:description></media:group><link>https://e.org/1</link>",
            ns=ns,
        )
    )
    assert e.summary_text == "Test Description"
    # an item's own title still wins over media:title
    e = only(rss_item("<media:title>m</media:title><title>own</title><link>https://e.org/1</link>",
                      ns=ns))  # fmt: skip
    assert e.title == "own"


def test_a_channel_with_only_a_title_is_a_feed() -> None:
    parsed = feed("<CHANNEL><TITLE>Example feed</TITLE></CHANNEL>")
    assert parsed.title == "Example feed" and parsed.entries == ()


def test_a_truncated_feed_of_unusable_items_keeps_its_title() -> None:
    doc = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Can we read this</title>'
        "<link>https://e.org/</link><item><title><![CD"
    )
    parsed = feed(doc)
    assert parsed.title == "Can we read this" and parsed.entries == ()


def test_encoded_word_title_through_render_and_message_reads_the_same_everywhere() -> None:
    """End to end: a feed title with an encoded word, as the lead story of an edition."""
    import dataclasses

    from digest.message import build_message
    from digest.render import render_edition
    from tests.sample_edition import sample_config, sample_edition, sample_list, sample_subscriber

    e = only(rss_item(f"<title>Update {WORD}</title><link>https://e.org/1</link>"))
    edition = sample_edition()
    first = edition.sections[0]
    lead_story = dataclasses.replace(
        first.stories[0], lead=dataclasses.replace(first.stories[0].lead, title=e.title)
    )
    first = dataclasses.replace(first, stories=(lead_story, *first.stories[1:]))
    edition = dataclasses.replace(edition, sections=(first, *edition.sections[1:]))
    config = sample_config()
    rendered = render_edition(edition, config=config, list_config=sample_list(config), now=NOW)
    msg = build_message(
        rendered,
        sample_subscriber(),
        list_config=sample_list(config),
        site=config.site,
        unsubscribe_url="https://digest.example.org/u/tok",
        unsubscribe_mailto=None,
        preferences_url=None,
        now=NOW,
    )
    back = message_from_bytes(msg.as_bytes(), policy=email_policy.default)
    subject = str(back["Subject"]).replace("\u2060", "")
    assert "ACCOUNT SUSPENDED" not in subject and WORD in subject
    text = next(p for p in back.walk() if p.get_content_type() == "text/plain").get_content()
    assert "ACCOUNT SUSPENDED" not in text and WORD in text.replace("\u2060", "")


def _inspect(tmp_path: Path, path: Path):  # type: ignore[no-untyped-def]
    """``digest inspect PATH`` in-process (the subprocess form is tested above)."""
    from click.testing import CliRunner

    from digest.cli import cli

    return CliRunner().invoke(
        cli, ["-c", str(tmp_path / "none.yaml"), "inspect", str(path)], terminal_width=200
    )


def test_json_feed_microblog_item_gets_a_title_from_its_first_sentence() -> None:
    doc = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Micro",
            "items": [
                {
                    "id": "1",
                    "url": "https://m.example/1",
                    "content_text": "Coffee with Ada this morning. We talked about engines.",
                }
            ],
        }
    )
    e = only(doc)
    assert e.title == "Coffee with Ada this morning."
    assert e.summary_text == "We talked about engines."


def test_inspect_shows_the_utf8_reading_and_the_wrong_declaration_warning(tmp_path: Path) -> None:
    path = tmp_path / "wrong.xml"
    doc = rss_item(f"<title>{CAFE}</title><link>https://e.org/1</link>")
    path.write_bytes(doc.replace('encoding="utf-8"', 'encoding="us-ascii"').encode("utf-8"))
    result = _inspect(tmp_path, path)
    out = result.output
    assert result.exit_code == 0, out
    assert CAFE in out and "CafÃ" not in out
    assert "declared us-ascii but the bytes are UTF-8" in out


def test_inspect_a_feed_of_unusable_items_succeeds_with_its_title(tmp_path: Path) -> None:
    path = tmp_path / "truncated.xml"
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Can we read this</title>'
        "<link>https://e.org/</link><item><title><![CD",
        encoding="utf-8",
    )
    result = _inspect(tmp_path, path)
    out = result.output
    assert result.exit_code == 0, out
    assert "Can we read this" in out and "no usable entries" in out


def test_direction_follows_the_text_over_the_feed_language() -> None:
    e = only(
        rss_item("<title>English item in an Arabic feed</title><link>https://e.org/1</link>",
                 "<language>ar</language>")
    )  # fmt: skip
    assert e.language == "ar" and e.direction == "ltr"
    e = only(rss_item("<title>iPhone חדש הושק היום בישראל</title><link>https://e.org/1</link>"))
    assert e.direction == "rtl"


def test_entry_direction_agrees_with_the_renderers_dir() -> None:
    from digest import render

    if not hasattr(render, "entry_direction"):
        pytest.skip("render decides dir elsewhere")
    for doc in (
        rss_item("<title>חדשות היום</title><link>https://e.org/1</link>"),
        rss_item("<title>News</title><link>https://e.org/1</link>", "<language>ur</language>"),
        rss_item("<title>2026</title><link>https://e.org/1</link>", "<language>fa</language>"),
        rss_item("<title>2026</title><link>https://e.org/1</link>"),
    ):
        e = only(doc)
        assert e.direction == render.entry_direction(e)
