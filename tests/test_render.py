"""Rendering: HTML shape and safety, text part, subject, preheader, size budget, overrides."""

from __future__ import annotations

import dataclasses
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.exceptions import RenderError
from digest.message import personalise
from digest.render import format_time, inline_css, render_edition, truncate
from digest.textdir import text_direction
from digest.types import Edition, Entry, Image, RenderedEdition, Section, Story
from tests.sample_edition import NOW, huge_edition, sample_config, sample_edition, sample_list


class _Tags(HTMLParser):
    """Collects (tag, attrs) of every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def render(
    edition: Edition | None = None, *, budget: int = 100_000, templates: Path | None = None
) -> RenderedEdition:
    config = sample_config(templates=templates)
    return render_edition(
        edition or sample_edition(),
        config=config,
        list_config=sample_list(config),
        now=NOW,
        budget_bytes=budget,
    )


def story(key: str, title: str, *, score: float = 1.0, **entry: object) -> Story:
    values: dict[str, object] = {"source": "bbc-world", "entry_id": key, "title": title,
                                 "url": f"https://news.example.org/{key}", "published": NOW}  # fmt: skip
    values.update(entry)
    return Story(key, Entry(**values), score=score)  # type: ignore[arg-type]


def one_story_edition(*stories: Story) -> Edition:
    return dataclasses.replace(
        sample_edition(), sections=(Section("more", "More", tuple(stories)),)
    )


@pytest.fixture(scope="module")
def rendered() -> RenderedEdition:
    return render()


# --- HTML shape -------------------------------------------------------------------------


def test_html_starts_with_doctype_and_has_no_mjml_or_script(rendered: RenderedEdition) -> None:
    assert rendered.html.lstrip().lower().startswith("<!doctype html>")
    assert "<mj-" not in rendered.html
    assert "<script" not in rendered.html.lower()
    assert "fonts.googleapis" not in rendered.html and "<link" not in rendered.html


def test_css_is_inlined_and_media_rules_kept(rendered: RenderedEdition) -> None:
    found = tags(rendered.html)
    for tag in ("h1", "h2", "h3", "p", "a", "td", "img"):
        elements = [attrs for name, attrs in found if name == tag]
        assert elements, tag
        assert all(attrs.get("style") for attrs in elements), f"<{tag}> without inline style"
    styles = re.findall(r"<style[^>]*>(.*?)</style>", rendered.html, re.DOTALL)
    media = [s for s in styles if "@media" in s and "max-width: 480px" in s]
    assert media and "!important" in media[0]
    # class-based rules reached the elements: the story title size is inline
    assert re.search(r'<h3 class="story-title" style="[^"]*font-size:\s*20px', rendered.html)


def test_every_image_has_alt_and_width(rendered: RenderedEdition) -> None:
    images = [attrs for name, attrs in tags(rendered.html) if name == "img"]
    assert len(images) == 4  # four stories with http(s) images
    for attrs in images:
        assert attrs.get("alt")
        assert attrs["width"] in ("552", "240")
        assert attrs["src"].startswith("https://")  # type: ignore[union-attr]


def test_under_budget_and_nothing_omitted(rendered: RenderedEdition) -> None:
    assert len(rendered.html.encode()) < 100_000
    assert rendered.omitted == 0
    assert "more stories on the web" not in rendered.html


def test_no_cssutils_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        render()
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, [r.getMessage() for r in noisy]


def test_inline_css_puts_doctype_back() -> None:
    out = inline_css(
        "<!doctype html><html><head><style>p{color:red}</style></head><body><p>x</p></body></html>"
    )
    assert out.startswith("<!doctype html>")
    assert '<p style="color:red">' in out


# --- content ----------------------------------------------------------------------------


def test_story_card_contents(rendered: RenderedEdition) -> None:
    html = rendered.html
    # title linked to the entry, source and readable UTC time
    assert '<a href="https://news.example.org/nyt-world/ukraine-talks"' in html
    assert "The New York Times" in html and "17 Feb, 22:00 UTC" in html
    # "also reported by" links, same-source duplicates skipped, link-less outlet as text
    assert re.search(
        r'Also reported by: <a href="https://news.example.org/bbc-world/geneva"[^>]*>BBC News</a>',
        html,
    )
    assert "The New York Times</p>" in html  # Jesse Jackson story: NYT entry had no url
    assert ">Update</span>" in html
    # section titles in order
    positions = [
        html.index(t)
        for t in ("Russia–Ukraine war", "Middle East", "Americas", "Elsewhere in the world")
    ]
    assert positions == sorted(positions)
    # header and footer
    assert 'href="https://digest.example.org/archive/world/2026-02-18"' in html
    assert "Wednesday 18 February 2026" in html
    assert "You receive this because you subscribed to World news at digest." in html
    assert 'href="%%unsubscribe_url%%"' in html and 'href="%%preferences_url%%"' in html
    assert "Digest Example Ltd, 1 Example Street" in html
    assert "Hello %%name%%." in html


def test_plain_title_when_url_is_not_http() -> None:
    html = render(one_story_edition(story("s1", "No link here", url="javascript:alert(1)"))).html
    assert "javascript:" not in html
    assert re.search(r'<h3 class="story-title"[^>]*>No link here</h3>', html)


def test_summary_is_text_only_and_truncated() -> None:
    long = "word " * 200
    s = story(
        "s1",
        "T",
        summary_html="<p><b>bold</b><img src=x></p>",
        summary_text="Plain <b>text</b> " + long,
    )
    out = render(one_story_edition(s))
    summary = re.search(r'<p class="summary"[^>]*>(.*?)</p>', out.html, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "&lt;b&gt;text&lt;/b&gt;" in summary  # feed text is data, escaped
    assert "<img src=x" not in out.html and "<b>bold</b>" not in out.html
    assert summary.endswith("…") and len(summary) < 360


def test_non_http_image_dropped_and_at_most_one_image() -> None:
    bad = story("s1", "A", image=Image("data:image/png;base64,AAAA", alt="x"))
    lead = dataclasses.replace(
        bad.lead, entry_id="s2", image=Image("https://i.example.org/a.jpg", "A")
    )
    other = dataclasses.replace(
        bad.lead, entry_id="s3", source="npr-world", image=Image("https://i.example.org/b.jpg", "B")
    )
    two = Story("s2", lead, others=(other,))
    html = render(one_story_edition(bad, two)).html
    imgs = [a for t, a in tags(html) if t == "img"]
    assert [a["src"] for a in imgs] == ["https://i.example.org/a.jpg"]
    assert "data:image" not in html


def test_hostile_title_is_escaped_and_literal() -> None:
    title = '<script>alert("x")</script> {{ 7*7 }} {% if 1 %}yes{% endif %} "quoted" & \'single\' </mj-text><mj-raw>'
    s = story(
        "s1",
        title,
        url='https://news.example.org/a?b=1&c="2"',
        image=Image("https://i.example.org/a.jpg", alt='Say "cheese" <b>'),
    )
    out = render(one_story_edition(s))
    assert "<script" not in out.html.lower()
    assert "&lt;script&gt;" in out.html and "&lt;/mj-text&gt;&lt;mj-raw&gt;" in out.html
    assert "{{ 7*7 }}" in out.html and "49" not in out.html.replace("2026", "")
    assert "{% if 1 %}yes{% endif %}" in out.html
    img = next(a for t, a in tags(out.html) if t == "img")
    assert img["alt"] == 'Say "cheese" <b>'  # parsed back: the quotes stayed inside the attribute
    link = next(
        a for t, a in tags(out.html) if t == "a" and a.get("href", "").startswith("https://news")
    )  # type: ignore[union-attr]
    assert link["href"] == 'https://news.example.org/a?b=1&c="2"'
    # text part and subject: literal, unescaped
    assert '<script>alert("x")</script> {{ 7*7 }}' in out.text
    assert "{{ 7*7 }}" in out.subject and "49" not in out.subject


def test_placeholders_in_feed_text_are_not_filled() -> None:
    s = story("s1", "Click %%unsubscribe_url%% now")
    out = render(one_story_edition(s))
    personal = personalise(out.html, {"unsubscribe_url": "https://u.example.org/SECRET"}, html=True)
    # the footer link is filled, the title is not
    assert personal.count("https://u.example.org/SECRET") == out.html.count("%%unsubscribe_url%%")
    assert "Click %\u200b%unsubscribe_url%% now" in personal


def test_placeholder_survives_in_href_and_personalises_escaped(rendered: RenderedEdition) -> None:
    url = 'https://digest.example.org/u?t=a&b="c"'
    html = personalise(rendered.html, {"unsubscribe_url": url, "name": "<Ada>"}, html=True)
    hrefs = [a["href"] for t, a in tags(html) if t == "a"]
    assert url in hrefs
    assert "Hello &lt;Ada&gt;." in html
    assert "%%" not in html.replace("%\u200b%", "")  # every field replaced (missing -> "")


def test_rtl_story_gets_dir_rtl(rendered: RenderedEdition) -> None:
    assert re.search(r'<div dir="rtl" lang="ur"', rendered.html)
    assert (
        text_direction(language="ar-EG") == "rtl"
        and text_direction(language="he") == "rtl"
        and text_direction(language="en-GB") == "ltr"
    )


def test_text_part(rendered: RenderedEdition) -> None:
    text = rendered.text
    assert text.startswith("WORLD NEWS -- Wednesday 18 February 2026")
    assert "View in your browser: https://digest.example.org/archive/world/2026-02-18" in text
    # URL on the line after the title
    lines = text.splitlines()
    i = lines.index("US civil rights leader Jesse Jackson dies aged 84")
    assert lines[i + 1] == "https://news.example.org/bbc-world/jackson"
    assert "[UPDATE] Overnight drone attack hits Odesa port, officials say" in text
    assert "  - Al Jazeera: https://news.example.org/aljazeera/jackson-arabs" in text
    assert "Unsubscribe: %%unsubscribe_url%%" in text
    assert "Digest Example Ltd, 1 Example Street" in text
    assert "<a " not in text and "<p" not in text and "<div" not in text  # no HTML in the text part
    assert "&amp;" not in text and "&#" not in text
    assert max(len(line) for line in lines if "://" not in line) <= 72


def test_subject_and_preheader(rendered: RenderedEdition) -> None:
    # the list subject template, top story by score, total count
    assert rendered.subject == (
        "World news: Trump Said He’d End the War in Ukraine in a Day. It’s Harder Than He Thought. (+8 more)"
    )
    assert "\n" not in rendered.subject
    # preheader names the next stories, not the top one, and is in the hidden preview div
    assert "Jesse Jackson" in rendered.preheader and "Trump Said" not in rendered.preheader
    assert len(rendered.preheader) <= 140
    assert rendered.preheader.split(" · ")[0].replace("Also: ", "") in rendered.html[:6000]


def test_helpers() -> None:
    assert truncate("a " * 10, 300) == "a " * 10
    cut = truncate("alpha beta gamma delta", 12)
    assert cut == "alpha beta…"
    from datetime import UTC, datetime

    assert format_time(datetime(2026, 2, 17, 14, 5, tzinfo=UTC)) == "17 Feb, 14:05 UTC"
    assert format_time(None) == ""


# --- budget -----------------------------------------------------------------------------


def test_budget_drops_lowest_ranked_stories() -> None:
    edition = huge_edition(120)
    out = render(edition, budget=100_000)
    size = len(out.html.encode())
    assert size < 100_000
    assert out.omitted > 0
    kept = len(edition.stories) - out.omitted
    assert f"{out.omitted} more stories on the web" in out.html
    assert (
        f"{out.omitted} more stories on the web: https://digest.example.org/archive/world/2026-02-18"
        in out.text
    )
    # the kept stories are exactly the top-scored ones
    by_score = sorted(edition.stories, key=lambda s: -s.score)
    for s in by_score[:kept]:
        assert s.lead.url in out.html
    for s in by_score[kept:]:
        assert f'href="{s.lead.url}"' not in out.html
    # near the budget: one more story would not have fitted
    assert size > 100_000 - 2_000 - 6_000


def test_budget_tiny_keeps_header_and_footer() -> None:
    out = render(budget=10_000)
    assert out.omitted == 9  # nothing fits; the email still has its frame and the web link
    assert "9 more stories on the web" in out.html
    assert "%%unsubscribe_url%%" in out.html


def test_pinned_story_is_dropped_last() -> None:
    low = dataclasses.replace(story("pinned", "Pinned but low", score=0.1), pinned=True)
    others = [
        story(f"s{i}", f"Story {i}", score=10 + i, summary_text="x " * 140) for i in range(40)
    ]
    out = render(one_story_edition(*others, low), budget=40_000)
    assert out.omitted > 0
    assert "Pinned but low" in out.html


# --- template overrides -----------------------------------------------------------------


def test_override_extends_default_with_prefix(tmp_path: Path) -> None:
    (tmp_path / "edition.mjml.j2").write_text(
        '{% extends "default:edition.mjml.j2" %}\n'
        "{% block footer %}<mj-section><mj-column><mj-text>Custom footer for {{ list_title }} "
        '<a href="{{ unsubscribe_url }}">leave</a></mj-text></mj-column></mj-section>{% endblock %}\n'
    )
    (tmp_path / "subject.txt.j2").write_text("[{{ list.name }}] {{ subject }}\n")
    out = render(templates=tmp_path)
    assert "Custom footer for World news" in out.html
    assert "You receive this because" not in out.html  # default footer replaced
    assert "Russia–Ukraine war" in out.html  # the rest of the default edition is kept
    assert out.subject.startswith("[world] World news: Trump")
    assert "You receive this because" in out.text  # text template not overridden


def test_override_of_a_partial_is_used_by_the_default_edition(tmp_path: Path) -> None:
    (tmp_path / "_story.mjml.j2").write_text("<mj-text>CARD {{ card.title }}</mj-text>\n")
    out = render(templates=tmp_path)
    assert "CARD US civil rights leader Jesse Jackson dies aged 84" in out.html


def test_broken_override_raises_render_error(tmp_path: Path) -> None:
    (tmp_path / "edition.mjml.j2").write_text(
        "{% extends 'default:edition.mjml.j2' %}{% block content %}{{ nope }}{% endblock %}"
    )
    with pytest.raises(RenderError) as info:
        render(templates=tmp_path)
    assert info.value.list_name == "world" and "nope" in str(info.value)


def test_invalid_mjml_raises_render_error(tmp_path: Path) -> None:
    (tmp_path / "_section.mjml.j2").write_text("<mj-nonsense>")
    with pytest.raises(RenderError, match="MJML"):
        render(templates=tmp_path)


def test_empty_edition_renders() -> None:
    out = render(dataclasses.replace(sample_edition(), sections=()))
    assert out.subject == "World news"
    assert out.omitted == 0 and "<!doctype html>" in out.html


def test_clean_text_keeps_joiners_and_drops_controls() -> None:
    from digest.render import clean_text, is_http_url

    assert clean_text("می\u200cخواهم") == "می\u200cخواهم"  # ZWNJ matters in Persian
    assert clean_text("👩\u200d💻") == "👩\u200d💻"
    assert clean_text("a\x00b\u2028c\u202ed\r\ne") == "a b c d e"
    assert not is_http_url("https://") and not is_http_url("javascript:alert(1)")
    assert not is_http_url("https://a.example/ b") and is_http_url("HTTPS://a.example/x")


def test_image_sizes() -> None:
    """Issue 15: one thumbnail size and alignment (no 240 px images beside 360 px squares)."""
    from digest.render import story_card

    edition = sample_edition()

    def width(image: Image) -> int | None:
        card = story_card(story("s", "T", image=image), edition)
        return card.image.width if card.image else None

    assert width(Image("https://i.example.org/a.jpg", width=976, height=549)) == 552
    assert width(Image("https://i.example.org/a.jpg")) == 552  # size unknown: full width
    assert width(Image("https://i.example.org/a.jpg", width=240, height=148)) == 552
    assert width(Image("https://i.example.org/a.jpg", width=1000, height=1000)) == 552  # square
    assert width(Image("https://i.example.org/a.jpg", width=1000, height=1500)) == 552  # portrait
    assert width(Image("https://i.example.org/a.jpg", width=1, height=1)) is None  # tracking pixel


def test_images_one_size_centred_alt_text_in_body_font() -> None:
    """Issue 15: every card image has the same width and alignment; with images blocked the
    alt text is in the body's sans-serif font and grey, not the link's blue serif."""
    html = render(sample_edition()).html
    images = [a for t, a in tags(html) if t == "img"]
    assert len(images) >= 3
    assert {a.get("width") for a in images} == {"552"}
    for a in images:
        style = a.get("style") or ""
        style = style.replace(": ", ":")
        assert "sans-serif" in style and "color:#616e7c" in style
    cells = re.findall(r'<td align="(\w+)" class="pad thumb"', html)
    assert cells and set(cells) == {"center"}
    # the link around the image does not underline the alt text
    links = re.findall(r'<a href="[^"]*" target="_blank" style="([^"]*)"><img', html)
    assert links and all("text-decoration:none" in x for x in links)


def test_image_without_alt_text_gets_empty_alt() -> None:
    html = render(one_story_edition(story("s1", "T", image=Image("https://i.example.org/a.jpg")))).html
    images = [a for t, a in tags(html) if t == "img"]
    assert len(images) == 1 and images[0].get("alt") == ""
