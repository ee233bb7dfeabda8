"""The editor's web app without a browser: login, CSP, preview, why-here, adjust, test send,
sources, overview, archive and the Atom feed (Starlette's TestClient, a fixed clock, the
hand-made sample edition through a fake backend)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import warnings
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from digest.store import EditionParts, SourceState
from digest.web.editor import atom_feed, email_checks, parse_at
from digest.web.headers import EMAIL_CSP, PAGE_CSP
from digest.types import Entry, Section
from tests.editor_support import TOKEN, SampleBackend, make_app
from tests.sample_edition import NOW, sample_edition

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def env(db_url: str, tmp_path: Path):
    app, store, config = make_app(tmp_path, db_url=db_url)
    client = TestClient(app, base_url="http://127.0.0.1")
    yield client, store, config
    client.close()
    store.close()


def login(client: TestClient) -> None:
    r = client.post("/editor/login", data={"token": TOKEN, "next": "/editor/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/editor/"


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def story_order(html: str) -> list[str]:
    return re.findall(r'class="story[^"]*" id="story-[0-9a-f]+" data-key="([^"]+)"', html)


# -- login and headers ------------------------------------------------------------------


def test_editor_pages_need_login_and_public_pages_do_not(env) -> None:
    client, _, _ = env
    for path in ("/editor/", "/editor/sources", "/editor/lists/world/preview", "/editor/lists/world/why",
                 "/editor/lists/world/preview/email"):  # fmt: skip
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/editor/login?next=")
    assert client.post("/editor/lists/world/adjust", data={}).status_code == 403
    assert client.get("/archive/world/").status_code == 200
    assert client.get("/archive/world/feed.atom").status_code == 200


def test_wrong_token_is_refused_and_right_token_logs_in(env) -> None:
    client, _, _ = env
    r = client.post("/editor/login", data={"token": "nope", "next": "/editor/"})
    assert r.status_code == 403 and "not right" in r.text
    assert "digest_editor" not in client.cookies
    login(client)
    cookie = client.cookies.get("digest_editor")
    assert cookie
    r = client.get("/editor/")
    assert r.status_code == 200 and "World news" in r.text


def test_session_cookie_is_httponly_and_strict(env) -> None:
    client, _, _ = env
    r = client.post("/editor/login", data={"token": TOKEN}, follow_redirects=False)
    header = r.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header


def test_login_next_cannot_leave_the_editor(env) -> None:
    client, _, _ = env
    r = client.post("/editor/login", data={"token": TOKEN, "next": "https://evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/editor/"
    r = client.get("/editor/login?next=//evil.example/x")
    assert 'value="/editor/"' in r.text


def test_without_a_token_the_editor_is_off(tmp_path) -> None:
    app, store, _ = make_app(tmp_path, token="")
    with TestClient(app) as client:
        r = client.get("/editor/login")
        assert "DIGEST_EDITOR_TOKEN" in r.text and "<form" not in r.text.split("</header>")[1]
        assert client.post("/editor/login", data={"token": ""}).status_code == 403
        assert client.get("/editor/", follow_redirects=False).status_code == 303
    store.close()


def test_a_post_without_the_csrf_token_is_refused(env) -> None:
    client, _, _ = env
    login(client)
    r = client.post("/editor/lists/world/adjust", data={"action": "drop", "story": "s-talks", "period": "2026-02-18"})
    assert r.status_code == 403 and "out of date" in r.text


def test_every_page_sends_a_strict_csp(env) -> None:
    client, _, _ = env
    login(client)
    for path in ("/editor/login", "/editor/", "/editor/sources", "/editor/lists/world/preview",
                 "/editor/lists/world/why", "/archive/world/", "/archive/world/feed.atom",
                 "/editor/lists/nope/preview", "/archive/world/1999-01-01", "/static/editor.css"):  # fmt: skip
        r = client.get(path)
        assert r.headers["content-security-policy"] == PAGE_CSP, path
        assert "script-src" not in PAGE_CSP and "default-src 'none'" in PAGE_CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        if path.startswith("/editor/"):
            assert r.headers["cache-control"] == "no-store", path
    r = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z")
    assert r.headers["content-security-policy"] == EMAIL_CSP
    assert "sandbox" in EMAIL_CSP and "allow-scripts" not in EMAIL_CSP and "allow-same-origin" not in EMAIL_CSP


def test_error_pages_escape_what_they_echo(env) -> None:
    client, _, _ = env
    login(client)
    evil = "<img src=x onerror=alert(1)>"
    for path in (f"/editor/lists/{evil}/preview", f"/archive/{evil}/", f"/archive/world/{evil}",
                 f"/editor/lists/world/preview?at={evil}"):  # fmt: skip
        r = client.get(path)
        assert r.status_code in (400, 404), path
        assert "<img" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text, path


# -- preview ------------------------------------------------------------------------------


def test_preview_shows_subject_preheader_size_checks_frame_and_text(env) -> None:
    client, _, _ = env
    login(client)
    r = client.get("/editor/lists/world/preview")
    assert r.status_code == 200
    html = r.text
    assert "World news: Trump Said He’d End the War in Ukraine in a Day" in html
    assert 'id="preheader">Also: US civil rights leader Jesse Jackson dies aged 84' in html
    assert re.search(r"\d+\.\d KB of 102\.0 KB", html)
    assert html.count('class="ok"') == 7  # all seven checks pass on the sample edition
    frame = re.search(r"<iframe[^>]*>", html).group(0)
    sandbox = re.search(r'sandbox="([^"]*)"', frame).group(1)
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    # the default time is the next send after the clock (06:00 -> 07:00 UTC)
    assert "at=2026-02-18T07%3A00%3A00Z" in frame
    assert "Plain-text part" in html and "Hello Ada Lovelace." in html
    assert "%%" not in html


def test_preview_email_is_the_rendered_html_with_dummy_values(env) -> None:
    client, _, _ = env
    login(client)
    r = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z")
    assert r.text.lstrip().lower().startswith("<!doctype html>")
    assert "%%" not in r.text
    assert "https://digest.example.org/u/preview" in r.text
    assert "Hello Ada Lovelace." in r.text


def test_preview_for_a_subscribers_topics(env) -> None:
    client, store, _ = env
    from digest.types import Subscriber

    store.add_subscriber(Subscriber("world", "mia@example.com", topics=("americas",)), now=NOW)
    login(client)
    r = client.get("/editor/lists/world/preview?subscriber=MIA@example.com")
    assert story_order(r.text) == ["s-jackson", "s-venezuela"]
    assert "Topics</dt><dd>americas" in r.text
    r = client.get("/editor/lists/world/preview?topics=ukraine&topics=nonsense")
    assert story_order(r.text) == ["s-talks", "s-drones"]
    r = client.get("/editor/lists/world/preview?subscriber=nobody@example.com")
    assert "No subscriber nobody@example.com" in r.text and len(story_order(r.text)) == 9


def test_preview_at_a_local_time_is_read_in_the_list_timezone() -> None:
    assert parse_at("2026-02-18T07:00", "Europe/Berlin").hour == 6
    assert parse_at("2026-02-18T07:00:00Z", "Europe/Berlin").hour == 7
    with pytest.raises(ValueError):
        parse_at("tomorrow", "UTC")


def test_why_here_lists_score_reasons_entries_and_sources(env, tmp_path) -> None:
    from digest.types import Reason

    edition = sample_edition()
    story = dataclasses.replace(
        edition.sections[0].stories[0],
        reasons=(Reason("outlets", 3, "3 outlets"), Reason("weight", 1.2, "nyt-world"), Reason("score", 9.4, "")),
        section_reason="keyword 'Ukraine' in the title",
    )
    edition = dataclasses.replace(
        edition,
        sections=(dataclasses.replace(edition.sections[0], stories=(story, *edition.sections[0].stories[1:])),
                  *edition.sections[1:]),
    )  # fmt: skip
    app, store, _ = make_app(tmp_path / "b", backend=SampleBackend(edition))
    with TestClient(app) as client:
        login(client)
        html = client.get("/editor/lists/world/why").text
    store.close()
    assert "<td>outlets</td><td class=\"num\">3</td><td>3 outlets</td>" in html
    assert "keyword &#39;Ukraine&#39; in the title" in html
    assert "Ukraine and Russia end Geneva talks without a deal" in html  # another entry
    assert "Al Jazeera" in html and "×1.1" in html  # its source and weight
    assert "Entries (3 from 3 outlets)" in html


# -- adjust -------------------------------------------------------------------------------


def adjust(client: TestClient, page_html: str, story: str, action: str, **extra: str):
    data = {"csrf": csrf(page_html), "at": "2026-02-18T07:00:00Z", "period": "2026-02-18",
            "story": story, "action": action, "back": "preview", **extra}  # fmt: skip
    return client.post("/editor/lists/world/adjust", data=data, follow_redirects=False)


def test_pin_drop_boost_and_summary_change_the_preview_and_survive(env) -> None:
    client, store, _ = env
    login(client)
    page = client.get("/editor/lists/world/preview").text
    r = adjust(client, page, "s-venezuela", "pin")
    assert r.status_code == 303 and "notice=pin" in r.headers["location"]
    page = client.get(r.headers["location"].split("#")[0]).text
    assert "Pinned: the story now leads its section." in page
    order = story_order(page)
    assert order.index("s-venezuela") < order.index("s-jackson")
    # the pinned story is now the subject's top story
    assert "World news: Under pressure from Trump, Venezuela" in page

    adjust(client, page, "s-talks", "drop")
    page = client.get("/editor/lists/world/preview").text
    assert "s-talks" not in story_order(page) and "<s>Trump Said" in page
    frame = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
    assert "Trump Said He" not in frame and "Overnight drone attack" in frame

    adjust(client, page, "s-rio", "summary", value="Carnival <b>never</b> ends.")
    frame = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
    assert "Carnival &lt;b&gt;never&lt;/b&gt; ends." in frame and "<b>never</b>" not in frame

    # stored: a new app on the same database shows the same adjustments
    assert {a.action for a in store.adjustments("world", "2026-02-18")} == {"pin", "drop", "summary"}

    adjust(client, page, "s-talks", "drop", clear="1")
    page = client.get("/editor/lists/world/preview").text
    assert "s-talks" in story_order(page)


def test_bad_adjustments_are_refused_with_escaped_messages(env) -> None:
    client, _, _ = env
    login(client)
    page = client.get("/editor/lists/world/preview").text
    r = adjust(client, page, "s-talks", "boost", value="<b>huge</b>")
    assert r.status_code == 400 and "&lt;b&gt;huge" in r.text
    r = adjust(client, page, "s-talks", "nuke")
    assert r.status_code == 400
    r = adjust(client, page, "s-talks", "pin", period="../../etc")
    assert r.status_code == 400


# -- test send ----------------------------------------------------------------------------


def test_send_a_test_to_a_typed_address_lands_in_the_outbox(env) -> None:
    client, _, config = env
    login(client)
    page = client.get("/editor/lists/world/preview").text
    r = client.post("/editor/lists/world/test", data={"csrf": csrf(page), "at": "2026-02-18T07:00:00Z",
                                                      "address": "editor@example.net"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "notice=test-sent" in r.headers["location"]
    files = list((config.delivery.outbox_dir / "world" / "tests").glob("*.eml"))
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] == "editor@example.net"
    assert msg["Subject"].startswith("[Test] World news: Trump Said")
    html = msg.get_body(("html",)).get_content()
    assert "%%" not in html and "/u/preview" in html
    # issue 15: the test email greets exactly as the preview does
    preview = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
    assert "Hello Ada Lovelace." in preview and "Hello Ada Lovelace." in html
    assert "Hello Ada Lovelace." in msg.get_body(("plain",)).get_content()
    page = client.get(r.headers["location"]).text
    assert "Test sent to editor@example.net." in page


def test_a_bad_test_address_is_refused(env) -> None:
    client, _, config = env
    login(client)
    page = client.get("/editor/lists/world/preview").text
    r = client.post("/editor/lists/world/test", data={"csrf": csrf(page), "at": "2026-02-18T07:00:00Z",
                                                      "address": "<img src=x>@@"})  # fmt: skip
    assert r.status_code == 400 and "&lt;img src=x&gt;" in r.text
    assert not (config.delivery.outbox_dir / "world" / "tests").exists()


# -- editor checks ------------------------------------------------------------------------


def test_checks_catch_missing_alt_relative_links_and_empty_sections() -> None:
    edition = sample_edition()
    html = '<img src="https://x/a.jpg" alt="ok"><img src="https://x/b.jpg"><a href="javascript:alert(1)">x</a><a href="/rel">y</a>'
    empty = dataclasses.replace(edition, sections=(*edition.sections, Section("void", "Void", ())))
    checks = {c.name: c for c in email_checks(html, "", empty)}
    assert not checks["Every image has alt text"].ok and "b.jpg" in checks["Every image has alt text"].detail
    assert not checks["Every link is absolute http(s)"].ok and "javascript:alert(1)" in checks["Every link is absolute http(s)"].detail
    assert not checks["No empty section"].ok
    assert not checks["Text part present"].ok
    big = "<p>" + "x" * (103 * 1024) + "</p>"
    assert not {c.name: c for c in email_checks(big, "t", edition)}["Under Gmail's clipping size"].ok


# -- overview and sources -----------------------------------------------------------------


def test_overview_shows_schedule_next_send_counts_and_failing_sources(env) -> None:
    client, store, _ = env
    from digest.types import Subscriber, SubscriberStatus

    store.add_subscriber(Subscriber("world", "a@example.com"), now=NOW)
    store.add_subscriber(Subscriber("world", "b@example.com", status=SubscriberStatus.UNSUBSCRIBED), now=NOW)
    store.save_source_state(SourceState("dawn", last_status="failed", last_http_status=503,
                                        last_error="HTTP 503 <Service Unavailable>", last_fetch_at=NOW, error_count=2))
    # NPR was fine four days ago and has had nothing new since, though it usually posts hourly
    store.save_source_state(SourceState("npr-world", last_status="ok", last_ok_at=NOW, last_new_at=NOW - timedelta(days=4)))
    store.upsert_entries(
        [Entry("npr-world", f"n{i}", f"N{i}", url=f"https://n/{i}", published=NOW - timedelta(days=4, hours=i))
         for i in range(6)],
        now=NOW - timedelta(days=4),
    )  # fmt: skip
    store.upsert_entries([Entry("bbc-world", "x1", "Fresh", url="https://b/x1", published=NOW - timedelta(hours=2))], now=NOW)
    login(client)
    html = client.get("/editor/").text
    assert "<code>0 7 * * *</code> in UTC" in html
    assert "Wed 18 Feb 2026, 07:00 UTC" in html  # next send after the clock
    assert "1 active" in html and "1 unsubscribed" in html
    assert "Dawn: failing (2 failure(s) in a row: HTTP 503 &lt;Service Unavailable&gt;" in html
    silent = re.search(r"Silent: ([^<]*)<", html).group(1)
    assert "NPR (no new entry for 4d (usually every 1h))" in silent and "BBC News" not in silent


def test_sources_page_shows_status_error_entries_per_day_and_silence(env) -> None:
    client, store, _ = env
    store.save_source_state(SourceState("dawn", last_status="failed", last_http_status=404, last_error="<b>gone</b>",
                                        last_fetch_at=NOW - timedelta(minutes=30), error_count=3))
    store.save_source_state(SourceState("bbc-world", last_status="ok", last_http_status=200,
                                        last_fetch_at=NOW - timedelta(hours=2)))
    store.upsert_entries(
        [Entry("bbc-world", f"e{i}", f"T{i}", url=f"https://b/{i}", published=NOW - timedelta(hours=1 + 24 * (i % 2)))
         for i in range(5)]
        + [Entry("dawn", "old", "Old", url="https://d/o", published=NOW - timedelta(days=5))],
        now=NOW,
    )  # fmt: skip
    login(client)
    html = client.get("/editor/sources").text
    row = re.search(r'<tr id="source-bbc-world".*?</tr>', html, re.DOTALL).group(0)
    assert re.findall(r'<td class="num[^"]*">(\d+)</td>', row)[-2:] == ["2", "3"]
    assert "1 hour ago" in row and ">200<" in row  # the clock is 06:00
    dawn = re.search(r'<tr id="source-dawn".*?</tr>', html, re.DOTALL).group(0)
    assert "&lt;b&gt;gone&lt;/b&gt;" in dawn and "3 failures in a row" in dawn
    assert "failing" in dawn  # failing, which says more than silent


# -- archive and feed ---------------------------------------------------------------------


def store_sent_edition(store, period: str = "2026-02-18", status: str = "sent", html: str | None = None) -> int:
    end = NOW + timedelta(days=int(period[-2:]) - 18)
    edition_id = store.create_edition(
        list_name="world", period=period, window_start=end - timedelta(days=1), window_end=end,
        now=NOW, subject=f"World news {period}: <Top> story", preheader="Also: more & more",
        html=html or "<!doctype html><p>Hello %%name%%. <a href=\"%%unsubscribe_url%%\">Unsubscribe</a></p>",
        text="Hello %%name%%.\nUnsubscribe: %%unsubscribe_url%%\n", carried=[],
    )  # fmt: skip
    store.set_edition_status(edition_id, status, now=NOW)
    return edition_id


def test_archive_serves_sent_editions_sandboxed_and_hides_unsent_ones(env) -> None:
    client, store, _ = env
    store_sent_edition(store)
    store_sent_edition(store, "2026-02-19", status="built")
    r = client.get("/archive/world/2026-02-18")
    assert r.status_code == 200 and r.headers["content-security-policy"] == EMAIL_CSP
    assert "Hello there." in r.text and "%%" not in r.text
    assert 'href="https://digest.example.org/archive/world/"' in r.text
    assert client.get("/archive/world/2026-02-19").status_code == 404
    index = client.get("/archive/world/").text
    assert "World news 2026-02-18: &lt;Top&gt; story" in index and "2026-02-19" not in index
    assert 'type="application/atom+xml"' in index


def test_atom_feed_is_rfc4287_with_one_entry_per_sent_edition(env) -> None:
    client, store, _ = env
    store_sent_edition(store)
    store_sent_edition(store, "2026-02-17")
    store_sent_edition(store, "2026-02-19", status="built")
    r = client.get("/archive/world/feed.atom")
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{tag}") is not None, tag
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "https://digest.example.org/archive/world/feed.atom"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    first = entries[0]
    assert first.find(f"{ATOM}id").text == "https://digest.example.org/archive/world/2026-02-18"
    assert first.find(f"{ATOM}link").get("href") == first.find(f"{ATOM}id").text
    assert first.find(f"{ATOM}title").text == "World news 2026-02-18: <Top> story"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first.find(f"{ATOM}updated").text)
    assert first.find(f"{ATOM}summary").text == "Also: more & more"
    assert "%%" not in first.find(f"{ATOM}content").text


def test_atom_feed_drops_characters_xml_cannot_hold(env) -> None:
    _, store, config = env
    edition_id = store_sent_edition(store)
    row = store.edition("world", "2026-02-18")
    parts = {edition_id: EditionParts(subject="", preheader="bell\x07 here", html="", text="x\x00y")}
    body = atom_feed(config, config.list("world"), [row], parts, now=NOW)
    feed = ET.fromstring(body)
    assert feed.find(f"{ATOM}entry/{ATOM}summary").text == "bell here"


def test_stories_left_out_for_size_are_marked_in_the_story_list(tmp_path) -> None:
    from tests.sample_edition import huge_edition

    edition = huge_edition(200)
    app, store, _ = make_app(tmp_path / "h", backend=SampleBackend(edition))
    with TestClient(app) as client:
        login(client)
        html = client.get("/editor/lists/world/preview").text
        frame = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
    store.close()
    marked = re.findall(r'class="story left-out" id="story-[0-9a-f]+" data-key="([^"]+)"', html)
    shown = len(re.findall(r'<h3 class="story-title"', frame))
    assert marked and len(marked) == 200 - shown
    assert "Every story fits" in html and f"{len(marked)} left out for size" in html


def test_a_broken_transport_is_a_notice_not_a_crash(tmp_path) -> None:
    class Broken(SampleBackend):
        def transport(self, config, store, list_config, folder):
            raise AttributeError("no from_config")

    app, store, _ = make_app(tmp_path / "x", backend=Broken())
    with TestClient(app) as client:
        login(client)
        page = client.get("/editor/lists/world/preview").text
        r = client.post("/editor/lists/world/test", data={"csrf": csrf(page), "at": "2026-02-18T07:00:00Z",
                                                          "address": "ed@example.net"})  # fmt: skip
    store.close()
    assert r.status_code == 200
    assert "The test to ed@example.net failed: AttributeError: no from_config" in r.text


def test_approval_is_recorded_and_an_adjustment_withdraws_it(tmp_path) -> None:
    app, store, config = make_app(tmp_path / "a")
    assert config.list("world").require_approval is False
    with TestClient(app) as client:
        login(client)
        page = client.get("/editor/lists/world/preview").text
        assert 'id="approval"' not in page  # this list sends without approval
        r = client.post("/editor/lists/world/approve", data={"csrf": csrf(page), "at": "2026-02-18T07:00:00Z",
                                                             "period": "2026-02-18"})  # fmt: skip
        assert r.status_code == 200 and "Approved: this edition may be sent." in r.text
        assert store.approval("world", "2026-02-18") is not None
        assert "Withdraw approval" in r.text
        adjust(client, r.text, "s-rio", "drop")
        assert store.approval("world", "2026-02-18") is None
        page = client.get("/editor/lists/world/preview").text
        r = client.post("/editor/lists/world/approve", data={"csrf": csrf(page), "period": "<x>"})
        assert r.status_code == 400 and "&lt;x&gt;" in r.text
    store.close()


def test_a_list_that_needs_approval_says_so_until_approved(tmp_path) -> None:
    app, store, _ = make_app(tmp_path / "r", require_approval=True)
    with TestClient(app) as client:
        login(client)
        assert "needs approval" in client.get("/editor/").text
        page = client.get("/editor/lists/world/preview").text
        assert "this edition will not be sent until it is approved" in page
        r = client.post("/editor/lists/world/approve", data={"csrf": csrf(page), "at": "2026-02-18T07:00:00Z",
                                                             "period": "2026-02-18"})  # fmt: skip
        assert "✓ Approved Wed 18 Feb 2026, 06:00 UTC" in r.text
        r = client.post("/editor/lists/world/approve", data={"csrf": csrf(page), "at": "2026-02-18T07:00:00Z",
                                                             "period": "2026-02-18", "revoke": "1"})  # fmt: skip
        assert "Approval withdrawn" in r.text and store.approval("world", "2026-02-18") is None
    store.close()


def story_html(page: str, key: str) -> str:
    """The markup of one story's block on the preview page (up to the next story)."""
    start = page.index(f'data-key="{key}"')
    end = page.find('data-key="', start + 1)
    return page[start : end if end > 0 else len(page)]


def split_geneva_off(client: TestClient) -> str:
    """Log in and split the BBC's Geneva entry off s-talks; the preview page after it."""
    login(client)
    page = client.get("/editor/lists/world/preview").text
    adjust(client, page, "s-talks", "split", entry="bbc-world/bbc-world:geneva")
    return client.get("/editor/lists/world/preview").text


def test_a_pin_on_a_split_off_story_does_not_show_unpin_on_the_story_it_left(env) -> None:
    # an editor split an entry off and pinned the new story: the story it came from still
    # had that entry before the split, but it is not pinned, so it offers Pin, not an Unpin
    # that clears nothing (the page said "Pin removed." and nothing changed)
    from digest.cluster import story_key

    client, _, _ = env
    page = split_geneva_off(client)
    geneva = next(e for e in sample_edition().stories[0].entries if e.entry_id == "bbc-world:geneva")
    alone = story_key([geneva])
    adjust(client, page, alone, "pin", lead_source="bbc-world", lead_entry_id="bbc-world:geneva")
    page = client.get("/editor/lists/world/preview").text
    assert 'data-action="unpin"' in story_html(page, alone)
    assert 'data-action="unpin"' not in story_html(page, "s-talks")
    assert 'data-action="pin"' in story_html(page, "s-talks")


def test_a_sent_edition_offers_no_adjustment_buttons_that_would_only_be_refused(env) -> None:
    # the pages said "This edition can no longer change" yet every Pin, Drop, Split off,
    # Move, Merge and Save summary stayed clickable, each leading to an error page
    client, store, _ = env
    login(client)
    before = client.get("/editor/lists/world/why?at=2026-02-18T07:00:00Z").text
    assert "can no longer change" not in before
    assert re.search(r'<button type="submit" class="small', before)
    store_sent_edition(store)
    for page in ("why", "preview"):
        html = client.get(f"/editor/lists/world/{page}?at=2026-02-18T07:00:00Z").text
        assert "This edition can no longer change" in html
        buttons = re.findall(r'<button type="submit"[^>]*class="small[^>]*>', html)
        assert buttons and all(" disabled" in b for b in buttons), page


def test_an_edition_without_stories_fails_a_check_instead_of_passing_them_all() -> None:
    # a window without news showed an email saying "Today: 0 stories." under six green
    # checks, though publish sends no such edition ("nothing sent")
    html = '<p>Hello. Today: 0 stories.</p><a href="https://x/u">Unsubscribe</a>'
    none = dataclasses.replace(sample_edition(), sections=())
    check = {c.name: c for c in email_checks(html, "Hello.", none)}["Has stories"]
    assert not check.ok and "not sent" in check.detail
    assert {c.name: c for c in email_checks(html, "Hello.", sample_edition())}["Has stories"].ok


def test_the_reshaped_list_names_entries_by_their_titles(env) -> None:
    # "Split entry bbc-world/bbc-world:geneva" told the editor nothing: the list of reshapes
    # (with its Undo buttons) now shows the entry's and the target story's titles
    client, _, _ = env
    split_geneva_off(client)
    why = client.get("/editor/lists/world/why?at=2026-02-18T07:00:00Z").text
    reshapes = why[why.index("Reshaped by an editor") :]
    reshapes = reshapes[: reshapes.index("</section>")]
    assert "“Ukraine and Russia end Geneva talks without a deal”" in reshapes
    assert "bbc-world/bbc-world:geneva" in reshapes  # the name the CLI takes, kept beside it
