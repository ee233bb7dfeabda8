"""Allowlist sanitising (nh3) and HTML-to-text (digest.sanitize), including property tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.sanitize import (
    html_to_text,
    remove_controls,
    sanitize_html,
    text_from_html_fragment,
    unwrap_cdata,
)

BASE = "https://news.example.org/2025/03/story.html"

HOSTILE = (
    '<p>Intro</p><script type="text/javascript">document.write("<h1>gone</h1>")</script>'
    '<iframe src="https://tracker.example.net/frame" width="1" height="1"></iframe>'
    '<img src="https://news.example.org/x.png" onerror="alert(1)" alt="x">'
    '<a href="javascript:alert(1)">click</a> '
    '<a href="https://news.example.org/ok" onclick="steal()">ok</a>'
    '<style>body{display:none}</style><svg onload="alert(1)"></svg>'
    '<meta http-equiv="refresh" content="0;url=https://evil.example.net/">'
    '<form action="https://evil.example.net/"><input name="p"></form>'
    '<object data="https://evil.example.net/x.swf"></object>'
    '<embed src="https://evil.example.net/y"><base href="https://evil.example.net/">'
    '<link rel="stylesheet" href="https://evil.example.net/s.css">'
    '<p style="background:url(javascript:alert(1))">styled</p><p>Outro</p>'
)

_BANNED = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "form",
    "input",
    "meta",
    "base",
    "link",
    "svg",
    "math",
}


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def unsafe_parts(out: str) -> list[str]:
    """Every banned tag, handler/style attribute or non-http(s)/mailto URL in ``out``."""
    c = _TagCollector()
    c.feed(out)
    c.close()
    bad = []
    for tag, attrs in c.tags:
        if tag in _BANNED:
            bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                bad.append(f"{tag}@{name}")
            if name in ("href", "src", "cite") and not re.match(
                r"^(https?://|mailto:)", value or "", re.IGNORECASE
            ):
                bad.append(f"{tag}@{name}={value}")
    return bad


def test_hostile_markup_is_removed() -> None:
    assert len(unsafe_parts(HOSTILE)) >= 12  # the checker itself sees the danger
    out = sanitize_html(HOSTILE, BASE)
    assert unsafe_parts(out) == [], out
    assert "gone" not in out and "display:none" not in out and "evil" not in out
    assert "<p>Intro</p>" in out and "<p>Outro</p>" in out and "styled" in out
    assert '<img src="https://news.example.org/x.png" alt="x">' in out
    assert 'href="https://news.example.org/ok" rel="noopener noreferrer"' in out


def test_relative_urls_made_absolute_or_dropped() -> None:
    frag = '<a href="/a">a</a><img src="i.png">'
    out = sanitize_html(frag, BASE)
    assert 'href="https://news.example.org/a"' in out
    assert 'src="https://news.example.org/2025/03/i.png"' in out
    no_base = sanitize_html(frag, None)
    assert "href=" not in no_base and "src=" not in no_base


def test_mailto_kept_data_dropped() -> None:
    out = sanitize_html(
        '<a href="mailto:x@example.org">m</a><img src="data:image/png;base64,AAAA">'
    )
    assert 'href="mailto:x@example.org"' in out
    assert "data:" not in out


def test_sanitize_is_idempotent_on_hostile_sample() -> None:
    once = sanitize_html(HOSTILE, BASE)
    assert sanitize_html(once, BASE) == once


def test_html_to_text_blocks_entities_and_scripts() -> None:
    text = html_to_text(
        "<p>One&nbsp;&amp; two</p><script>x()</script><ul><li>a</li><li>b</li></ul>"
    )
    assert text == "One & two\na\nb"  # nbsp collapses to a space in plain text


def test_title_text_strips_markup_and_decodes_once() -> None:
    assert text_from_html_fragment("<b>Bold?</b> <script>alert(1)</script> Title") == (
        "Bold? Title"
    )
    assert text_from_html_fragment("AT&amp;T &amp;amp; co") == "AT&T &amp; co"
    assert text_from_html_fragment("  many\n\t spaces  ") == "many spaces"
    assert text_from_html_fragment("a\x0bb\x00c\x9d") == "abc"


def test_cdata_unwrap_and_controls() -> None:
    assert unwrap_cdata("<![CDATA[Council approves]]>") == "Council approves"
    assert unwrap_cdata("x <![CDATA[<b>y</b>]]> z ]]>") == "x <b>y</b> z "
    assert remove_controls("a\x01b\x1fc\td\n") == "abc\td\n"


_html_pieces = st.lists(
    st.sampled_from(
        [
            "<script>",
            "</script>",
            '<a href="',
            "javascript:",
            '">',
            "</a>",
            "<img src=",
            "x onerror=alert(1)",
            "<svg onload=alert(1)>",
            "<style>",
            "<p>",
            "</p>",
            "&lt;",
            "&amp;",
            "&#106;avascript:",
            "<iframe>",
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "\x00",
            "\x0b",
            "<a href='data:text/html,x'>",
            '<div style="x:url(javascript:1)">',
            "jav&#x09;ascript:",
            "<IMG SRC=JaVaScRiPt:alert(1)>",
            "<b",
            '"',
            "'",
            " ",
            "text",
            '<math><mi xlink:href="javascript:1">',
            "<form><input>",
            "<base href=x>",
        ]
    ),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_html_pieces, st.text(max_size=300)))
def test_property_sanitize_idempotent_and_safe(fragment: str) -> None:
    once = sanitize_html(fragment, BASE)
    assert sanitize_html(once, BASE) == once
    assert unsafe_parts(once) == [], once


@settings(max_examples=200, deadline=None)
@given(st.one_of(_html_pieces, st.text(max_size=300)))
def test_property_title_text_has_no_markup_or_controls(fragment: str) -> None:
    out = text_from_html_fragment(fragment)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", out)
    assert "\n" not in out and out == out.strip()


def test_drop_leading_text_keeps_tags_and_images_and_refuses_a_mismatch() -> None:
    from digest.sanitize import drop_leading_text

    html = '<p>Hello <b>big</b> world. <a href="https://e.org/">More</a></p>'
    assert drop_leading_text(html, "Hello big world.") == (
        '<p><b></b><a href="https://e.org/" rel="noopener noreferrer">More</a></p>'
    )
    assert drop_leading_text(html, "Goodbye") == html
    img = '<p>Only this.</p><img src="https://e.org/a.jpg" alt="x">'
    assert drop_leading_text(img, "Only this.") == '<p></p><img src="https://e.org/a.jpg" alt="x">'
    assert drop_leading_text("<p>Only this.</p>", "Only this.") == ""


def test_broken_comment_ends_at_its_first_gt_and_bogus_declarations_are_text() -> None:
    from digest.sanitize import drop_comments

    assert drop_comments("sa<!-- -- nonwhitespace >fe") == "safe"
    assert drop_comments("a<!-- ok -->b") == "ab"
    assert drop_comments("&lt;x <!' y") == "&lt;x &lt;!' y"
    assert drop_comments("<!DOCTYPE html><p>x</p>") == "<!DOCTYPE html><p>x</p>"


# every character str.isspace() or the expression \s calls a space
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace() or re.match(r"\s", c))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab\u200b" + _SPACES), max_size=40))
def test_lines_of_a_text_are_what_line_by_line_collapsing_gives(text: str) -> None:
    """``_lines`` (``str.split``, issue 14) gives what collapsing (``\\s+``) and
    stripping every line on its own gave, for every kind of Unicode space."""
    from digest.sanitize import _lines

    per_line = (re.sub(r"\s+", " ", line).strip() for line in text.split("\n"))
    assert _lines(text) == "\n".join(line for line in per_line if line)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(
            alphabet=st.sampled_from("aé e\u0301  \xa0\t\n\x00\x85\ufffe\u2028\ud800Ω"),
            max_size=30,
        ),
    )
)
def test_clean_text_and_remove_controls_keep_their_definitions(text: str) -> None:
    """The shortcuts for printable text (issue 14) give what the expressions give."""
    import unicodedata

    from digest.sanitize import _CONTROLS, clean_text

    stripped = _CONTROLS.sub("", text)
    assert remove_controls(text) == stripped
    assert clean_text(text) == unicodedata.normalize("NFC", re.sub(r"\s+", " ", stripped).strip())


@settings(max_examples=300, deadline=None)
@given(st.one_of(_html_pieces, st.text(max_size=300)))
def test_sanitized_html_to_text_is_html_to_text_of_sanitised_html(fragment: str) -> None:
    """The split at tags (issue 14) reads sanitised HTML as ``html.parser`` does; a fragment
    with an element dropped with its content (never sanitised HTML) goes to the parser."""
    from digest.sanitize import sanitized_html_to_text

    clean = sanitize_html(fragment, BASE)
    assert sanitized_html_to_text(clean) == html_to_text(clean)
    assert sanitized_html_to_text(fragment + "<script>x</script>") == html_to_text(
        fragment + "<script>x</script>"
    )


_link_pieces = st.lists(
    st.sampled_from(
        ['<a href="/rel">', '<a HREF="x.html">', "</a>", '<img src="i.png" alt="a">', "<p>",
         '<blockquote cite="../c">', "</blockquote>", '<q cite="https://q.example/x">', "</q>",
         '<a href="https://abs.example/y">', "text", " src ", "&amp;", "<", ">", "\xa0",
         '<a href="../../../up?q=1&amp;r=2#f">', '<img src="//cdn.example/i.png">', "<a href='",
         '<a href="sp ace/é\\back">', '<a href="?only">', '<a href="#frag">', "'>", '">',
         '<a href="&quot;q&quot;">', '<img src="javascript:x">', '<a href="mailto:a@b.c">',
         '<a href="http://[::1">', '<a href=" lead">', '<a href="%zz">']
    ),
    max_size=12,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_html_pieces, _link_pieces, st.text(max_size=200)))
def test_reused_cleaners_give_what_one_nh3_clean_call_gives(fragment: str) -> None:
    # the configuration built once (issue 14) is the one nh3.clean is given at each call
    import nh3

    from digest import sanitize

    bases = [("rewrite_with_base", b) for b in (BASE, "http://h.example", "https://h.example/a b/?x#y")]
    for relative in ("deny", *bases):
        expected = nh3.clean(fragment, url_relative=relative, **sanitize._OPTIONS).strip()
        assert sanitize._clean(fragment, relative) == expected  # type: ignore[arg-type]


def test_a_summary_without_a_url_attribute_builds_no_nh3_configuration(monkeypatch) -> None:
    # nh3.clean and a new Cleaner build ammonia's whole allowlist: two thirds of the time of a
    # short summary (issue 14); a fragment no base can change reuses the one built at import
    import nh3

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nh3 configuration built for a fragment without a URL")

    monkeypatch.setattr(nh3, "clean", refuse)
    monkeypatch.setattr(nh3, "Cleaner", refuse)
    assert sanitize_html("Plain summary &amp; more", BASE) == "Plain summary &amp; more"
    assert sanitize_html("<p>A <b>bold</b> <script>x</script>move</p>", BASE) == "<p>A <b>bold</b> move</p>"


def test_a_base_nh3_cannot_parse_drops_relative_urls_as_before() -> None:
    base = "http://exa mple.com/"  # urllib reads a host; ammonia's URL parser refuses it
    out = sanitize_html('<a href="/x">x</a> <a href="https://a.example/">y</a>', base)
    assert out == sanitize_html('<a href="/x">x</a> <a href="https://a.example/">y</a>')
    assert 'href="https://a.example/"' in out and "/x" not in out
