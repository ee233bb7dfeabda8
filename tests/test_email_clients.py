"""Issue 15, the email: dark mode, client limits, local time, counts, text direction, and
``digest lint`` (the email-client rules) on every golden email."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.config import Config, ListConfig, ScheduleConfig
from digest.lint import MAX_HTML_BYTES, MAX_STYLE_BYTES, lint_bytes, lint_html
from digest.message import build_message
from digest.render import render_edition
from digest.types import Edition, Entry, RenderedEdition, Section, Story
from tests.sample_edition import (
    NOW,
    huge_edition,
    sample_config,
    sample_edition,
    sample_list,
    sample_subscriber,
)

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"


def _config(timezone: str = "UTC", subject: str | None = None) -> tuple[Config, ListConfig]:
    config = sample_config()
    changes: dict[str, object] = {"schedule": ScheduleConfig(cron="0 7 * * *", timezone=timezone)}
    if subject is not None:
        changes["subject"] = subject
    return config, sample_list(config).model_copy(update=changes)


def _render(edition: Edition | None = None, **kwargs: object) -> RenderedEdition:
    config, lst = _config(**kwargs)  # type: ignore[arg-type]
    return render_edition(edition or sample_edition(), config=config, list_config=lst, now=NOW)


def _styles(html: str) -> str:
    return "".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL))


# --- dark mode and client limits --------------------------------------------------------


def test_dark_mode_meta_and_styles_and_outlook_conditionals() -> None:
    html = _render().html
    head = html[: html.index("</head>")]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    styles = _styles(html)
    dark = styles[styles.index("@media (prefers-color-scheme: dark)") :]
    # the page, the cards, body text, titles and links all get a dark colour
    for selector in (".page-body", ".card", "td.pad div", "h3.story-title a", "a,"):
        assert selector in dark
    assert "[data-ogsc]" in styles  # Outlook.com's dark mode
    assert "<!--[if mso" in html  # Outlook for Windows keeps its conditionals
    assert len(html.encode()) < MAX_HTML_BYTES and len(_styles(html).encode()) < MAX_STYLE_BYTES


def test_full_edition_stays_under_gmail_limits_and_passes_lint() -> None:
    rendered = _render(huge_edition(60))
    html = rendered.html
    assert rendered.omitted > 0  # the budget had to leave stories out
    assert len(html.encode()) < MAX_HTML_BYTES
    assert len(_styles(html).encode()) < MAX_STYLE_BYTES
    assert lint_html(html) == []


# --- local time -------------------------------------------------------------------------


def _tokyo_edition() -> Edition:
    # 07:00 in Tokyo on 19 February is 22:00 UTC on the 18th
    end = datetime(2026, 2, 18, 22, 0, tzinfo=UTC)
    lead = Entry(source="bbc-world", entry_id="t1", title="Tokyo markets open higher",
                 url="https://news.example.org/t1", published=datetime(2026, 2, 18, 20, 5, tzinfo=UTC))  # fmt: skip
    return dataclasses.replace(
        sample_edition(), window_end=end, period="2026-02-19",
        sections=(Section("more", "More", (Story("t1", lead, score=1.0),)),),
    )  # fmt: skip


def test_tokyo_edition_dates_and_times_are_local() -> None:
    rendered = _render(
        _tokyo_edition(), timezone="Asia/Tokyo", subject="{{ list.title }} – {{ date_label }}"
    )
    assert "Thursday 19 February 2026" in rendered.html
    assert "Wednesday 18 February" not in rendered.html
    assert "19 Feb, 05:05 JST" in rendered.html and "19 Feb, 05:05 JST" in rendered.text
    assert rendered.text.startswith("WORLD NEWS -- Thursday 19 February 2026")
    assert rendered.subject == "World news – Thursday 19 February 2026"


def test_a_subscribers_own_timezone_can_be_passed_in() -> None:
    config, lst = _config("Asia/Tokyo")
    rendered = render_edition(
        _tokyo_edition(), config=config, list_config=lst, now=NOW, timezone="America/New_York",
        delivered_at=datetime(2026, 2, 19, 12, 0, tzinfo=UTC),  # 07:00 in New York
    )  # fmt: skip
    assert "Thursday 19 February 2026" in rendered.html
    assert "18 Feb, 15:05 EST" in rendered.html


# --- counts and greeting ----------------------------------------------------------------


def test_today_counts_the_stories_shown_and_mentions_the_rest() -> None:
    rendered = _render(huge_edition(60))
    shown = 60 - rendered.omitted
    assert 0 < shown < 60
    intro = re.search(r"Today: [^.]*\.", re.sub(r"<[^>]+>", "", rendered.html)).group(0)  # type: ignore[union-attr]
    assert intro == f"Today: {shown} stories, and {rendered.omitted} more on the web."
    assert f"Today: {shown} stories, and {rendered.omitted} more on the web." in rendered.text


# --- text direction ---------------------------------------------------------------------


def _entry(title: str, language: str | None = None, summary: str = "") -> Entry:
    return Entry(source="bbc-world", entry_id=title[:8], title=title, url="https://news.example.org/x",
                 summary_text=summary, language=language, published=NOW)  # fmt: skip


@pytest.mark.parametrize(
    "title",
    [
        "שר החוץ נפגש עם iPhone מנהלי",  # Hebrew with a Latin word first... inside
        "iPhone 17: שר החוץ נפגש עם מנהלי החברה",  # Hebrew starting with Latin
        "الأمم المتحدة تدعو إلى وقف إطلاق النار",  # Arabic
        "پاکستان میں بارش سے سیلاب",  # Urdu
        "مذاکرات هسته‌ای ایران از سر گرفته شد",  # Persian, with a ZWNJ
    ],
)
def test_right_to_left_text_without_a_language_is_rtl(title: str) -> None:
    assert _entry(title).direction == "rtl"
    rendered = _render(one_story(title))
    assert re.search(r'<div dir="rtl"[^>]*style="text-align:right"', rendered.html)
    # the text part starts each line of the story with a RIGHT-TO-LEFT MARK
    line = next(x for x in rendered.text.splitlines() if title[:5] in x)
    assert line.startswith("\u200f")


def one_story(title: str) -> Edition:
    story = Story("x", _entry(title), score=1.0)
    return dataclasses.replace(sample_edition(), sections=(Section("more", "More", (story,)),))


# --- digest lint -----------------------------------------------------------------------


def _golden_emails() -> list[Path]:
    return sorted(p for p in GOLDEN.rglob("*") if p.suffix in (".eml", ".html"))


def test_there_are_golden_emails_to_lint() -> None:
    names = {p.name for p in _golden_emails()}
    assert {"sample-edition.html", "sample-message.eml"} <= names


@pytest.mark.parametrize("path", _golden_emails(), ids=lambda p: p.name)
def test_every_golden_email_passes_lint(path: Path) -> None:
    assert lint_bytes(path.read_bytes()) == []


def test_lint_reports_each_rule() -> None:
    html = (
        "<html><head><style>" + "a{}" * 6000 + "</style></head><body>"
        '<img src="https://i.example.org/a.jpg" width="300">'
        '<img src="https://i.example.org/b.jpg" alt="" width="auto">'
        '<img src="https://i.example.org/c.jpg" alt="">'
        '<a href="http://example.org/">x</a><a href="https://example.org/">ok</a>'
        '<a href="mailto:a@example.org">ok</a><a href="%%unsubscribe_url%%">ok</a>'
        + "x" * MAX_HTML_BYTES
        + "</body></html>"
    )
    codes = [p.code for p in lint_html(html)]
    assert codes == [
        "size",
        "style-size",
        "doctype",
        "img-alt",
        "img-width",
        "img-width",
        "link-scheme",
    ]


def test_lint_of_a_message_checks_one_click_unsubscribe() -> None:
    config = sample_config()
    lst = sample_list(config)
    rendered = render_edition(sample_edition(), config=config, list_config=lst, now=NOW)
    good = build_message(
        rendered, sample_subscriber(), list_config=lst, site=config.site,
        unsubscribe_url="https://digest.example.org/u/T", unsubscribe_mailto="mailto:u@digest.example.org",
        preferences_url=None, now=NOW,
    )  # fmt: skip
    assert lint_bytes(good.as_bytes()) == []
    plain = build_message(
        rendered, sample_subscriber(), list_config=lst, site=config.site,
        unsubscribe_url="http://digest.example.org/u/T", unsubscribe_mailto=None,
        preferences_url=None, now=NOW,
    )  # fmt: skip
    assert [p.code for p in lint_bytes(plain.as_bytes())][:1] == ["unsubscribe"]
    del good["List-Unsubscribe-Post"]
    assert [str(p) for p in lint_bytes(good.as_bytes())] == [
        "unsubscribe: List-Unsubscribe-Post: List-Unsubscribe=One-Click is missing (RFC 8058)"
    ]


def test_digest_lint_command_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="https://x.example/a.png"></body></html>')
    good = GOLDEN / "render" / "sample-message.eml"
    run = [sys.executable, "-m", "digest", "lint"]
    ok = subprocess.run([*run, str(good)], check=False, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "sample-message.eml: ok" in ok.stdout
    failed = subprocess.run(
        [*run, str(good), str(bad)], check=False, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 1
    assert "bad.html: doctype: no <!doctype html>" in failed.stdout
    assert "bad.html: img-alt: image without alt" in failed.stdout


# --- screenshots --------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
def test_screenshot_script_writes_light_and_dark_at_both_widths(tmp_path: Path) -> None:
    html = tmp_path / "edition.html"
    html.write_text(_render().html, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "screenshot.py"), str(html), "--height", "300"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shots = {p.name: p for p in tmp_path.glob("*.png")}
    assert set(shots) == {f"edition-{w}-{s}.png" for w in (600, 375) for s in ("light", "dark")}
    # the emulated dark scheme changes the picture (the theme has dark styles)
    for width in (600, 375):
        assert (
            shots[f"edition-{width}-dark.png"].read_bytes()
            != shots[f"edition-{width}-light.png"].read_bytes()
        )
