"""URL normalisation: safe absolute http(s) links and identity form (digest.urls)."""

from __future__ import annotations

import pytest

from digest.urls import identity_url, is_http_url, safe_http_url, strip_tracking

BASE = "https://news.example.org/feeds/main.xml"


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(document.domain)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "mailto:someone@example.org",
        "",
        "   ",
        "http://",
        "https://exa\x00mple.org/",
        "https://example.org/\x01x",
    ],
)
def test_unsafe_or_non_http_links_are_rejected(raw: str) -> None:
    assert safe_http_url(raw, BASE) is None
    assert identity_url(raw, BASE) is None


def test_relative_links_resolve_against_base() -> None:
    assert safe_http_url("/2024/a.html", BASE) == "https://news.example.org/2024/a.html"
    assert safe_http_url("b.html", BASE) == "https://news.example.org/feeds/b.html"
    assert safe_http_url("//cdn.example.org/i.jpg", "http://x.example.org/") == (
        "http://cdn.example.org/i.jpg"
    )


def test_relative_link_without_base_is_none() -> None:
    assert safe_http_url("/2024/a.html") is None
    assert safe_http_url("/2024/a.html", "javascript:alert(1)") is None


def test_host_case_default_port_userinfo_and_tracking() -> None:
    url = "HTTPS://user:pw@News.Example.ORG:443/a?utm_source=x&id=3&fbclid=y&gclid=z#top"
    assert safe_http_url(url) == "https://news.example.org/a?id=3#top"
    assert identity_url(url) == "https://news.example.org/a?id=3"
    assert safe_http_url("http://example.org:8080") == "http://example.org:8080/"


@pytest.mark.parametrize(
    "variant",
    [
        "https://news.example.org/story?utm_source=rss&utm_medium=feed",
        "https://NEWS.example.org/story#comments",
        "https://news.example.org:443/story?mc_cid=1&mc_eid=2",
        "  https://news.example.org/story?fbclid=abc  ",
    ],
)
def test_identity_ignores_tracking_fragment_case(variant: str) -> None:
    assert identity_url(variant) == "https://news.example.org/story"


def test_identity_keeps_meaningful_query() -> None:
    assert identity_url("https://e.org/item?id=1&utm_campaign=x") == "https://e.org/item?id=1"
    assert identity_url("https://e.org/item?id=1") != identity_url("https://e.org/item?id=2")


def test_attribute_breakout_is_percent_encoded() -> None:
    out = safe_http_url('https://news.example.org/a" onmouseover="alert(1)')
    assert out is not None
    assert '"' not in out and " " not in out and "<" not in out
    assert out.startswith("https://news.example.org/a%22")


def test_strip_tracking_and_is_http_url() -> None:
    assert strip_tracking("https://e.org/?utm_term=1&a=2") == "https://e.org/?a=2"
    assert is_http_url("https://e.org/x")
    assert not is_http_url("/x")
    assert not is_http_url("javascript:x")
    assert not is_http_url(None)
