"""parse_feed rules on small hand-written feeds: identity, links, titles, summaries, dates,
language, caps, JSON Feed, and the ParseError contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from digest.exceptions import ParseError
from digest.parse import MAX_ENTRIES, MAX_SUMMARY_HTML, MAX_TITLE, parse_feed

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)


def rss(items: str, channel: str = "", declaration: str = 'encoding="UTF-8"') -> bytes:
    return (
        f'<?xml version="1.0" {declaration}?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://news.example.org/</link>{channel}{items}</channel></rss>"
    ).encode()


def item(
    title: str = "A",
    link: str = "https://news.example.org/a",
    guid: str | None = None,
    date: str | None = "Mon, 10 Feb 2025 08:00:00 +0000",
    extra: str = "",
) -> str:
    parts = [f"<title>{title}</title>", f"<link>{link}</link>" if link else ""]
    if guid is not None:
        parts.append(f"<guid>{guid}</guid>")
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    return "<item>" + "".join(parts) + extra + "</item>"


def one(content: bytes, **kw: object):  # type: ignore[no-untyped-def]
    feed = parse_feed(content, source="s", now=NOW, **kw)  # type: ignore[arg-type]
    assert len(feed.entries) == 1
    return feed.entries[0]


# ---- identity ------------------------------------------------------------------------------


def test_guid_is_the_identity() -> None:
    assert one(rss(item(guid="  abc-123 "))).entry_id == "abc-123"


def test_link_identity_drops_tracking_and_fragment() -> None:
    a = one(rss(item(link="https://News.Example.org/x?utm_source=rss&amp;id=2#top"))).entry_id
    b = one(rss(item(link="https://news.example.org/x?id=2&amp;fbclid=zz"))).entry_id
    assert a == b == "https://news.example.org/x?id=2"


def test_hash_identity_when_no_guid_and_no_link() -> None:
    e1 = one(rss(item(title="Only a title", link="")))
    e2 = one(rss(item(title="Only a title", link="", extra="<description>edited</description>")))
    e3 = one(rss(item(title="Only a title", link="", date="Tue, 11 Feb 2025 08:00:00 +0000")))
    assert e1.entry_id.startswith("sha256:")
    assert e1.entry_id == e2.entry_id != e3.entry_id
    assert e1.url is None


def test_duplicate_guids_for_different_items_are_kept_apart_deterministically() -> None:
    a = item(title="First", link="https://e.org/1", guid="same")
    b = item(title="Second", link="https://e.org/2", guid="same")
    f1 = parse_feed(rss(a + b), source="s", now=NOW)
    f2 = parse_feed(rss(b + a), source="s", now=NOW)
    assert len(f1.entries) == 2 and len({e.entry_id for e in f1.entries}) == 2
    ids1 = {e.title: e.entry_id for e in f1.entries}
    ids2 = {e.title: e.entry_id for e in f2.entries}
    assert ids1 == ids2  # order in the document does not matter
    assert all(i.startswith("same#") for i in ids1.values())
    assert any("share the id" in w for w in f1.warnings)


def test_duplicate_guid_same_link_different_titles() -> None:
    a = item(title="First", link="https://e.org/1", guid="g")
    b = item(title="Second", link="https://e.org/1", guid="g")
    feed = parse_feed(rss(a + b), source="s", now=NOW)
    assert len({e.entry_id for e in feed.entries}) == 2


def test_exact_repeat_is_kept_once() -> None:
    a = item(title="First", link="https://e.org/1", guid="g")
    feed = parse_feed(rss(a + a), source="s", now=NOW)
    assert [e.entry_id for e in feed.entries] == ["g"]
    assert any("repeated" in w for w in feed.warnings)


def test_long_guid_is_hashed() -> None:
    e = one(rss(item(guid="x" * 2000)))
    assert e.entry_id.startswith("sha256:") and len(e.entry_id) < 100


# ---- links ---------------------------------------------------------------------------------


def test_relative_link_resolved_against_feed_url() -> None:
    e = one(rss(item(link="/2025/story.html")), url="https://news.example.org/feed.xml")
    assert e.url == "https://news.example.org/2025/story.html"


def test_relative_link_resolved_against_channel_link_without_feed_url() -> None:
    e = one(rss(item(link="story.html")))
    assert e.url == "https://news.example.org/story.html"


def test_xml_base_is_honoured_in_atom() -> None:
    atom = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        b'xml:base="https://blog.example.org/posts/"><title>B</title><id>urn:x</id>'
        b"<updated>2025-02-10T08:00:00Z</updated><entry><title>P</title><id>urn:p</id>"
        b'<link rel="alternate" href="p1.html"/><updated>2025-02-10T08:00:00Z</updated>'
        b'<content type="html">&lt;a href="img/x.html"&gt;x&lt;/a&gt;</content></entry></feed>'
    )
    e = one(atom, url="https://other.example.net/feed.atom")
    assert e.url == "https://blog.example.org/posts/p1.html"
    assert 'href="https://blog.example.org/posts/' in e.summary_html


def test_relative_urls_inside_summary_made_absolute() -> None:
    desc = '<description>&lt;a href="/x"&gt;x&lt;/a&gt;&lt;img src="i.png"&gt;</description>'
    e = one(rss(item(link="https://news.example.org/2025/a/story", extra=desc)))
    assert 'href="https://news.example.org/x"' in e.summary_html
    assert 'src="https://news.example.org/2025/a/i.png"' in e.summary_html


# ---- titles and summaries --------------------------------------------------------------------


def test_title_plain_text_entities_decoded_once() -> None:
    e = one(rss(item(title="AT&amp;amp;T &amp;lt;b&amp;gt; &lt;i&gt;x&lt;/i&gt;  \n  y")))
    assert e.title == "AT&T <b> x y"


def test_atom_text_title_keeps_angle_brackets() -> None:
    atom = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>B</title>'
        b"<id>urn:x</id><updated>2025-02-10T08:00:00Z</updated><entry>"
        b'<title type="text">Use &lt;div&gt; &amp; friends</title><id>urn:p</id>'
        b'<link href="https://e.org/p"/><updated>2025-02-10T08:00:00Z</updated></entry></feed>'
    )
    assert one(atom).title == "Use <div> & friends"


def test_content_encoded_preferred_over_description() -> None:
    extra = (
        "<description>short</description><content:encoded><![CDATA[<p>Full "
        "<b>text</b></p>]]></content:encoded>"
    )
    doc = rss(item(extra=extra)).replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
    )
    e = one(doc)
    assert e.summary_html == "<p>Full <b>text</b></p>" and e.summary_text == "Full text"


def test_missing_title_falls_back_to_summary_text() -> None:
    e = one(
        rss(
            "<item><link>https://e.org/1</link><description>Just a note about "
            "something that happened today</description></item>"
        )
    )
    assert e.title.startswith("Just a note about")


def test_item_without_title_text_or_link_is_skipped() -> None:
    feed = parse_feed(
        rss("<item><title></title><link></link></item>" + item()), source="s", now=NOW
    )
    assert len(feed.entries) == 1 and any("skipped" in w for w in feed.warnings)


def test_caps() -> None:
    long_title = "word " * 1000
    big = "&lt;p&gt;" + "y" * (MAX_SUMMARY_HTML + 50_000) + "&lt;/p&gt;"
    e = one(rss(item(title=long_title, extra=f"<description>{big}</description>")))
    assert len(e.title) <= MAX_TITLE
    assert len(e.summary_html) <= MAX_SUMMARY_HTML


def test_entry_cap() -> None:
    items = "".join(item(title=f"t{i}", link=f"https://e.org/{i}") for i in range(1100))
    feed = parse_feed(rss(items), source="s", now=NOW)
    assert len(feed.entries) == MAX_ENTRIES
    assert any(str(MAX_ENTRIES) in w for w in feed.warnings)


def test_content_hash_tracks_title_and_text() -> None:
    a = one(rss(item(extra="<description>one</description>")))
    b = one(rss(item(extra="<description>one</description>", guid="other")))
    c = one(rss(item(extra="<description>two</description>")))
    assert a.content_hash == b.content_hash != c.content_hash


# ---- dates ----------------------------------------------------------------------------------


def test_future_date_clamped_and_flagged() -> None:
    future = (NOW + timedelta(days=3)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    e = one(rss(item(date=future)))
    assert e.published == NOW and e.flags == ("date-future",)


def test_updated_used_when_published_missing() -> None:
    dc = "<dc:date>2025-02-10T08:00:00+01:00</dc:date>"
    doc = rss(item(date=None, extra=dc)).replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">',
    )
    assert one(doc).published == datetime(2025, 2, 10, 7, tzinfo=UTC)


def test_naive_now_is_taken_as_utc() -> None:
    feed = parse_feed(rss(item()), source="s", now=datetime(2026, 2, 18, 12))
    assert feed.entries[0].first_seen == NOW


# ---- language and categories -------------------------------------------------------------


def test_language_feed_then_argument() -> None:
    assert one(rss(item(), channel="<language>EN_gb</language>")).language == "en-gb"
    assert one(rss(item()), language="de-DE").language == "de-de"
    assert one(rss(item())).language is None


def test_categories_deduplicated() -> None:
    cats = "<category>World</category><category>Europe</category><category>World</category>"
    assert one(rss(item(extra=cats))).categories == ("World", "Europe")


# ---- JSON Feed --------------------------------------------------------------------------------


def jsonfeed(items: list[dict[str, object]], **top: object) -> bytes:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", **top, "items": items}
    return json.dumps(doc).encode()


def test_json_feed_basic_fields() -> None:
    e = one(
        jsonfeed(
            [
                {
                    "id": 42,
                    "url": "https://e.org/p?utm_medium=x",
                    "title": "Tom &amp; Jerry &#8217;s",
                    "content_html": "<p>Hi <script>x</script></p>",
                    "date_published": "2025-02-10T08:00:00Z",
                    "authors": [{"name": "Ann"}],
                    "tags": ["a", "b"],
                    "language": "en-GB",
                    "image": "https://e.org/i.jpg",
                }
            ],
            language="fr",
        )
    )
    assert e.entry_id == "42" and e.url == "https://e.org/p"
    assert e.title == "Tom & Jerry ’s"
    assert e.summary_html == "<p>Hi </p>" and e.summary_text == "Hi"
    assert e.published == datetime(2025, 2, 10, 8, tzinfo=UTC)
    assert e.author == "Ann" and e.categories == ("a", "b") and e.language == "en-gb"
    assert e.image is not None and e.image.url == "https://e.org/i.jpg"


def test_json_feed_content_text_and_raw_control_characters() -> None:
    raw = (
        b'{"version":"https://jsonfeed.org/version/1","title":"J","items":[{"id":"1",'
        b'"title":"line\tone\x01","content_text":"para one\n\npara <two>\x0b"}]}'
    )
    e = one(raw)
    assert e.title == "line one"
    assert e.summary_html == "<p>para one</p><p>para &lt;two&gt;</p>"


def test_json_feed_attachment_image_and_audio() -> None:
    e = one(
        jsonfeed(
            [
                {
                    "id": "1",
                    "title": "t",
                    "attachments": [
                        {"url": "https://e.org/a.mp3", "mime_type": "audio/mpeg"},
                        {"url": "https://e.org/c.png", "mime_type": "image/png"},
                    ],
                }
            ]
        )
    )
    assert e.image is not None and e.image.url == "https://e.org/c.png"


def test_json_detected_by_content_not_name_and_bad_json_is_parse_error() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [', source="s", now=NOW
        )
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(b'{"hello": "world"}', source="s", now=NOW)


def test_json_feed_utf16() -> None:
    e = one(jsonfeed([{"id": "1", "title": "Grüße"}]).decode().encode("utf-16"))
    assert e.title == "Grüße"


# ---- encodings --------------------------------------------------------------------------------


def test_declared_latin1_with_cp1252_bytes() -> None:
    doc = rss(item(title="x")).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    doc = doc.replace(b"<title>x</title>", b"<title>\x93quoted\x94 caf\xe9 \x80</title>")
    assert one(doc).title == "“quoted” café €"


def test_header_charset_honoured() -> None:
    doc = rss(item(title="x"), declaration="").replace(
        b"<title>x</title>", "<title>Привет</title>".encode("koi8-r")
    )
    e = one(doc, headers={"content-type": "application/rss+xml; charset=koi8-r"})
    assert e.title == "Привет"


def test_utf16_xml() -> None:
    doc = rss(item(title="Grüße &mdash; ok")).decode().replace("UTF-8", "UTF-16").encode("utf-16")
    assert one(doc).title == "Grüße — ok"


# ---- the error contract -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \n",
        b"<html><head><title>Just a moment...</title></head><body></body></html>",
        b"plain text, not a feed",
        b"\x00\x01\x02",
        b"<?xml version='1.0'?><foo/>",
        b"{}",
        b"[1,2]",
        b"<!DOCTYPE html><p>hi",
    ],
)
def test_not_a_feed(content: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(content, source="src", now=NOW)
    assert info.value.reason.startswith("not a feed")
    assert info.value.source == "src"


def test_empty_but_valid_feed_gives_no_entries() -> None:
    feed = parse_feed(rss(""), source="s", now=NOW)
    assert feed.entries == () and feed.kind == "rss20" and feed.title == "T"
    assert feed.link == "https://news.example.org/"


def test_relative_urls_in_rss_summary_resolve_against_item_link() -> None:
    desc = '<description>&lt;img src="pics/i.png"&gt;</description>'
    e = one(
        rss(item(link="https://news.example.org/2025/a/story", extra=desc)),
        url="https://feeds.example.org/rss/main.xml",
    )
    assert 'src="https://news.example.org/2025/a/pics/i.png"' in e.summary_html


def test_author_name_not_email() -> None:
    e = one(rss(item(extra="<author>jane@example.org (Jane Doe)</author>")))
    assert e.author == "Jane Doe"


def test_undeclared_cyrillic_and_chinese() -> None:
    title = "Новости дня: правительство утвердило новый бюджет на следующий год"
    doc = rss(item(title=title), declaration="").replace(title.encode(), title.encode("cp1251"))
    assert one(doc).title == title
    zh = "习近平为何如此强调崇尚英雄？编者按：历史是人民书写的，而英雄是人民的优秀代表。"
    doc = rss(item(title=zh), declaration="").replace(zh.encode(), zh.encode("gb2312"))
    assert one(doc).title == zh


def test_declared_ascii_with_high_bytes() -> None:
    doc = rss(item(title="x"), declaration='encoding="us-ascii"').replace(
        b"<title>x</title>", b"<title>caf\xe9 cr\xe8me</title>"
    )
    assert one(doc).title == "café crème"


def test_media_title_and_description_before_item_fields_do_not_replace_them() -> None:
    media = (
        '<media:content url="https://e.org/a.jpg" medium="image">'
        '<media:title type="plain">Photo title</media:title>'
        '<media:description type="html">Caption &lt;b&gt;here&lt;/b&gt;</media:description>'
        "</media:content>"
    )
    doc = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>T</title><item>{media}<title>Real title</title>"
        "<link>https://e.org/1</link><description>Real desc</description></item></channel></rss>"
    ).encode()
    e = one(doc)
    assert (e.title, e.summary_text) == ("Real title", "Real desc")
    assert e.image is not None and e.image.alt == "Caption here"


def test_json_feed_in_latin1_bytes() -> None:
    raw = (
        '{"version":"https://jsonfeed.org/version/1","title":"J","items":[{"id":"1","title":"%s"}]}'
    )
    assert one((raw % "Café").encode("latin-1")).title == "Café"
    e = one(
        (raw % "Кафе").encode("koi8-r"),
        headers={"content-type": "application/feed+json; charset=koi8-r"},
    )
    assert e.title == "Кафе"


def test_feed_whose_every_item_is_unusable_keeps_its_title_and_does_not_fail() -> None:
    feed = parse_feed(
        rss("<item><title> </title><link>javascript:x</link></item>"),
        source="s",
        now=NOW,
    )
    assert feed.entries == ()
    assert feed.title == "T"
    assert any("no usable entries" in w for w in feed.warnings)


_RICH_ITEMS = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>T</title><link>https://ex.org/</link>""" + b"".join(
    b"""<item><title>Item %d</title><link>https://ex.org/%d</link><guid>g%d</guid>
<description>Some &lt;b&gt;text&lt;/b&gt;</description><category>News</category><category>World</category>
<author>a@ex.org (A)</author><pubDate>Tue, 17 Feb 2026 10:00:00 GMT</pubDate>
<enclosure url="https://ex.org/%d.mp3" type="audio/mpeg" length="1"/>
<media:thumbnail url="https://ex.org/%d.jpg" width="100" height="80"/></item>""" % ((i,) * 5)
    for i in range(10)
) + b"</channel></rss>"


def test_reading_feedparsers_entries_skips_its_key_map(monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 14: FeedParserDict.get runs its key map and special cases in Python at every read
    # (about 17 reads an item of links, details, tags, media); dict.get reads the same keys
    from feedparser.util import FeedParserDict

    from digest import parse

    reads = [0]
    inside = [False]
    real_getitem, real_items = FeedParserDict.__getitem__, parse._fp_items

    def counting(self: FeedParserDict, key: str) -> object:
        reads[0] += inside[0]
        return real_getitem(self, key)

    def items(*args: object) -> object:
        inside[0] = True
        try:
            return real_items(*args)  # type: ignore[arg-type]
        finally:
            inside[0] = False

    monkeypatch.setattr(FeedParserDict, "__getitem__", counting)
    monkeypatch.setattr(parse, "_fp_items", items)
    feed = parse_feed(_RICH_ITEMS, source="s", now=NOW)
    assert len(feed.entries) == 10
    e = feed.entries[3]
    assert (e.categories, e.author, e.image and e.image.url) == (("News", "World"), "A", "https://ex.org/3.jpg")
    # what is left: d.entries, and each thumbnail's "url" (mapped to "href" by feedparser)
    assert reads[0] <= 1 + 2 * len(feed.entries), reads[0]


def test_enclosures_are_feedparsers() -> None:
    from feedparser.util import FeedParserDict

    from digest.parse import _enclosures

    def entry(*links: dict[str, str]) -> FeedParserDict:
        return FeedParserDict(links=[FeedParserDict(ln) for ln in links])

    cases = [
        FeedParserDict(),
        entry(),
        entry({"rel": "alternate", "href": "a"}, {"rel": "enclosure", "href": "b", "type": "audio/mpeg"}),
        entry({"rel": "enclosure", "href": "b"}, {"href": "no rel"}),  # feedparser's KeyError: none
    ]
    for e in cases:
        theirs = [dict(x) for x in e.get("enclosures") or []]
        ours = [{k: v for k, v in x.items() if k != "rel"} for x in _enclosures(e)]
        assert ours == theirs
