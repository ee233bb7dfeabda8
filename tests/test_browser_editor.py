"""The editor's web app in a real browser: Playwright for Python driving Debian's chromium.

Each test serves the app with uvicorn on 127.0.0.1 (a free port), logs in through the form,
does what an editor does, checks what the page shows, and saves a screenshot under its
temporary folder. Skipped (with the reason) only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright
from starlette.responses import HTMLResponse
from starlette.routing import Route

from digest.render import render_edition
from digest.web import serve_in_thread as serve
from tests.editor_support import TOKEN, SampleBackend, make_app
from tests.sample_edition import NOW, sample_edition

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.slow  # a real browser: a few seconds per test


def click_and_wait(page: Page, selector: str) -> None:
    """Click what submits a form and wait for the page that answers it."""
    with page.expect_navigation(wait_until="load"):
        page.locator(selector).click()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@dataclasses.dataclass
class Site:
    base: str
    page: Page
    store: object
    config: object
    shots: Path
    requests: list[str]

    def shot(self, name: str, *, full: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        assert path.stat().st_size > 5_000
        return path


def open_site(browser: Browser, tmp_path: Path, *, backend=None, extra_routes=(), login: bool = True):
    app, store, config = make_app(tmp_path / "site", backend=backend)
    for route in extra_routes:
        app.router.routes.append(route)
    return app, store, config


@pytest.fixture
def site(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    params = getattr(request, "param", {}) or {}
    app, store, config = open_site(browser, tmp_path, **params)
    with serve(app) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        # no test reaches the internet: anything not served by the app is refused at once
        context.route(
            lambda url: not url.startswith(base),
            lambda route: route.abort("blockedbyclient"),
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(base + "/editor/login")
        page.fill("#token", TOKEN)
        page.click("form.login button[type=submit]")
        page.wait_for_url(base + "/editor/")
        yield Site(base, page, store, config, tmp_path, requests)
        context.close()
    store.close()


def story_keys(page: Page) -> list[str]:
    return page.locator("#stories ol.story-list li.story").evaluate_all("els => els.map(e => e.dataset.key)")


def frame_titles(page: Page) -> list[str]:
    return page.frame_locator("#email-frame").locator("h3.story-title").all_inner_texts()


def test_open_a_preview_and_switch_to_mobile_width(site: Site) -> None:
    page = site.page
    click_and_wait(page, "text=Preview next edition")
    frame = page.frame_locator("#email-frame")
    frame.locator("text=Hello Ada Lovelace.").wait_for()
    assert page.locator("#email-frame").bounding_box()["width"] == 600
    assert "World news: Trump Said" in page.locator("#subject").inner_text()
    assert page.locator("#checks li.ok").count() == 7
    site.shot("preview-desktop")

    page.click("#label-mobile")
    assert page.locator("#email-frame").bounding_box()["width"] == 375
    # the email's own @media rules took over: its content is no wider than the frame
    title = frame.locator("h3.story-title").first.bounding_box()
    frame_box = page.locator("#email-frame").bounding_box()
    assert title["x"] + title["width"] <= frame_box["x"] + 375
    site.shot("preview-mobile")

    page.click("#label-desktop")
    assert page.locator("#email-frame").bounding_box()["width"] == 600


def test_read_the_text_part(site: Site) -> None:
    page = site.page
    page.goto(site.base + "/editor/lists/world/preview")
    text = page.locator("#text-part pre").inner_text()
    assert text.startswith("World news") or "Hello Ada Lovelace." in text
    assert "Overnight drone attack hits Odesa port" in text
    assert "Unsubscribe: https://digest.example.org/u/preview" in text
    page.locator("#text-part").scroll_into_view_if_needed()
    site.shot("text-part")


def test_pin_a_story_and_see_it_move_to_the_top(site: Site) -> None:
    page = site.page
    page.goto(site.base + "/editor/lists/world/preview")
    keys = story_keys(page)
    assert keys.index("s-jackson") < keys.index("s-venezuela")
    click_and_wait(page, "li[data-key='s-venezuela'] button[data-action='pin']")
    assert "Pinned" in page.locator(".notice").inner_text()
    keys = story_keys(page)
    assert keys.index("s-venezuela") < keys.index("s-jackson")
    assert page.locator("li[data-key='s-venezuela'] .pill.pin").is_visible()
    # in the email itself: the Venezuela story leads its section and the subject
    titles = frame_titles(page)
    venezuela = next(i for i, t in enumerate(titles) if "Venezuela" in t)
    jackson = next(i for i, t in enumerate(titles) if "Jesse Jackson dies" in t)
    assert venezuela < jackson
    assert "Venezuela" in page.locator("#subject").inner_text()
    site.shot("pinned")
    # it survives: a fresh load shows the same
    page.goto(site.base + "/editor/lists/world/preview")
    assert story_keys(page).index("s-venezuela") < story_keys(page).index("s-jackson")


def test_drop_a_story_and_see_it_gone(site: Site) -> None:
    page = site.page
    page.goto(site.base + "/editor/lists/world/preview")
    assert any("Trump Said" in t for t in frame_titles(page))
    click_and_wait(page, "li[data-key='s-talks'] button[data-action='drop']")
    assert "s-talks" not in story_keys(page)
    page.frame_locator("#email-frame").locator("h3.story-title", has_text="Overnight drone attack").wait_for()
    assert not any("Trump Said" in t for t in frame_titles(page))
    assert page.locator("#stories .dropped").inner_text().count("Trump Said") == 1
    site.shot("dropped")
    click_and_wait(page, "#stories .dropped button[data-action='undrop']")
    assert "s-talks" in story_keys(page)


def test_send_a_test_and_find_it_in_the_outbox(site: Site) -> None:
    page = site.page
    page.goto(site.base + "/editor/lists/world/preview")
    page.fill("#address", "grace@example.net")
    click_and_wait(page, "#send-test button[type=submit]")
    assert page.locator(".notice").inner_text() == "Test sent to grace@example.net."
    files = list((site.config.delivery.outbox_dir / "world" / "tests").glob("*-grace_at_example.net.eml"))
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] == "grace@example.net" and msg["Subject"].startswith("[Test] World news")
    site.shot("test-sent")


def test_why_here_shows_scores_and_entries(site: Site) -> None:
    page = site.page
    page.goto(site.base + "/editor/lists/world/why")
    first = page.locator("article.why-story").first
    assert "9.40" in first.locator(".score").inner_text()
    assert first.locator("table.entries tbody tr").count() == 3
    site.shot("why-here", full=False)


def test_split_an_entry_off_then_merge_it_back_on_the_why_page(site: Site) -> None:
    page = site.page
    page.goto(site.base + "/editor/lists/world/why")
    stories = page.locator("article.why-story").count()
    talks = page.locator("article.why-story[data-key='s-talks']")
    titles = talks.locator("table.entries tbody tr td:nth-child(2)")
    click_and_wait(page, "article.why-story[data-key='s-talks'] tr:has-text('end Geneva talks') button[name='split']")
    assert "Split off" in page.locator(".notice").inner_text()
    assert page.locator("article.why-story").count() == stories + 1
    alone = page.locator("article.why-story", has=page.locator("h3", has_text="end Geneva talks"))
    assert alone.locator("table.entries tbody tr").count() == 1
    assert talks.locator("table.entries tbody tr").count() == 2
    assert not any("end Geneva talks" in t for t in titles.all_inner_texts())
    assert "Reshaped by an editor" in page.locator("section.reshapes").inner_text()
    site.shot("split", full=False)
    # the email shows it as a story of its own
    page.goto(site.base + "/editor/lists/world/preview")
    assert any("end Geneva talks" in t for t in frame_titles(page))
    # merge it back into the talks story
    page.goto(site.base + "/editor/lists/world/why")
    form = alone.locator("form.merge")
    options = form.locator("select[name='into'] option").all_inner_texts()
    form.locator("select[name='into']").select_option(index=next(i for i, t in enumerate(options) if t.startswith("Trump Said")))
    with page.expect_navigation(wait_until="load"):
        form.locator("button[type=submit]").click()
    assert "Merged" in page.locator(".notice").inner_text()
    assert page.locator("article.why-story").count() == stories
    assert talks.locator("table.entries tbody tr").count() == 3
    assert any("end Geneva talks" in t for t in titles.all_inner_texts())


def test_archive_page_and_its_feed(site: Site) -> None:
    config, store = site.config, site.store
    lst = config.list("world")
    rendered = render_edition(sample_edition(image_base=site.base + "/missing"), config=config, list_config=lst, now=NOW)
    edition_id = store.create_edition(
        list_name="world", period="2026-02-18", window_start=NOW, window_end=NOW, now=NOW,
        subject=rendered.subject, preheader=rendered.preheader, html=rendered.html, text=rendered.text,
        carried=[],
    )  # fmt: skip
    store.set_edition_status(edition_id, "sent", now=NOW)
    page = site.page
    page.goto(site.base + "/archive/world/")
    site.shot("archive-index")
    page.click(f"text={rendered.subject}")
    page.wait_for_url(site.base + "/archive/world/2026-02-18")
    assert page.locator("text=Hello there.").is_visible()
    assert "%%" not in page.content()
    site.shot("archive-edition", full=False)
    page.goto(site.base + "/archive/world/")
    href = page.locator("a[href$='feed.atom']").get_attribute("href")
    response = page.request.get(site.base + href)
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.body())
    ns = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{ns}entry")
    assert [e.find(f"{ns}title").text for e in entries] == [rendered.subject]
    page.goto(site.base + href)
    site.shot("archive-feed", full=False)


# -- hostile content: nothing from a feed runs ------------------------------------------

EVIL_TITLE = "<script>fetch('/pwned-title')</script>Totally normal headline"
EVIL_SCRIPT = (
    "<script>fetch('/pwned-script');try{parent.document.title='pwned'}catch(e){}</script>"
    "<img src=\"/pwned-missing\" alt=\"\" onerror=\"fetch('/pwned-onerror')\">"
)


def evil_backend() -> SampleBackend:
    """The sample edition with a stored entry whose title and summary carry script, as if
    the sanitiser had been bypassed."""
    edition = sample_edition()
    story = edition.sections[0].stories[0]
    lead = dataclasses.replace(
        story.lead,
        title=EVIL_TITLE,
        summary_html=EVIL_SCRIPT,
        summary_text=EVIL_SCRIPT,
        url="javascript:fetch('/pwned-link')",
    )
    section = dataclasses.replace(edition.sections[0], stories=(dataclasses.replace(story, lead=lead), *edition.sections[0].stories[1:]))
    return SampleBackend(dataclasses.replace(edition, sections=(section, *edition.sections[1:])))


def _inject_into_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bypass the renderer's own guard too: put raw script into the rendered email HTML
    (the preview shows the pipeline's one build, so the script goes in where it renders)."""
    from digest import pipeline

    real = pipeline.render_edition

    def render_with_script(*args, **kwargs):
        rendered = real(*args, **kwargs)
        return dataclasses.replace(rendered, html=rendered.html.replace("<body", EVIL_SCRIPT + "<body", 1)
                                   .replace("</body>", EVIL_SCRIPT + "</body>"))  # fmt: skip

    monkeypatch.setattr(pipeline, "render_edition", render_with_script)


CONTROL_HTML = "<!doctype html><html><body><p>control</p>" + EVIL_SCRIPT + "</body></html>"


async def _control(request):
    # The same script without the frame's protection: proves the detector would see it run.
    return HTMLResponse(CONTROL_HTML, headers={"content-security-policy": "default-src 'self' 'unsafe-inline'"})


@pytest.mark.parametrize(
    "site", [{"backend": evil_backend(), "extra_routes": [Route("/control", _control)]}], indirect=True
)
def test_injected_script_does_not_run_in_the_preview(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    _inject_into_html(monkeypatch)
    page = site.page
    # control: unprotected, the script runs and the detector sees its requests
    page.goto(site.base + "/control")
    page.wait_for_load_state("networkidle")
    assert any("pwned-script" in url for url in site.requests), "the detector is blind"
    site.requests.clear()

    page.goto(site.base + "/editor/lists/world/preview")
    frame = page.frame_locator("#email-frame")
    frame.locator("text=Totally normal headline").first.wait_for()
    page.wait_for_load_state("networkidle")
    # the title is shown as text everywhere, never run
    assert EVIL_TITLE in page.locator("#stories").inner_text()
    assert "<script>" in page.locator("#text-part pre").inner_text()
    page.goto(site.base + "/editor/lists/world/why")
    page.wait_for_load_state("networkidle")
    assert EVIL_TITLE in page.locator("article.why-story h3").first.inner_text()
    # a javascript: link is not made clickable
    assert page.locator("a[href^='javascript']").count() == 0
    page.goto(site.base + "/editor/lists/world/preview")
    page.frame_locator("#email-frame").locator("text=Totally normal headline").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.title() != "pwned"
    pwned = [url for url in site.requests if "pwned" in url and "pwned-missing" not in url]
    assert pwned == [], pwned
    site.shot("hostile-preview")


def test_script_in_a_stored_entry_does_not_run_in_the_real_preview(browser: Browser, tmp_path: Path) -> None:
    """Entries written straight into the store (as if the sanitiser had been bypassed), built
    by the real pipeline: their script shows as text and never runs."""
    from datetime import timedelta

    import yaml
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from digest.config import parse_config
    from digest.web.editor import editor_routes
    from digest.web.headers import SecurityHeadersMiddleware
    from digest.store import Store
    from digest.types import Entry, Image
    from tests.conftest import REPO

    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{tmp_path / 'digest.db'}"}
    config = parse_config(data, REPO)
    store = Store.open(config.database.url)
    when = NOW - timedelta(hours=3)
    hostile = Entry(
        source="bbc-world",
        entry_id="hostile-1",
        title=EVIL_TITLE,
        url="javascript:fetch('/pwned-link')",
        summary_html=EVIL_SCRIPT,
        summary_text=EVIL_SCRIPT,
        image=Image("javascript:fetch('/pwned-image')", alt="\"><script>fetch('/pwned-alt')</script>"),
        published=when,
        first_seen=when,
    )
    calm = Entry(source="nyt-world", entry_id="calm-1", title="A calm headline about harbour repairs",
                 url="https://example.org/calm", summary_text="Repairs.", published=when, first_seen=when)  # fmt: skip
    store.upsert_entries([hostile, calm], now=when)
    app = Starlette(
        routes=editor_routes(config, store, clock=lambda: NOW - timedelta(hours=1), token=TOKEN),
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )
    with serve(app) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route(lambda url: not url.startswith(base), lambda route: route.abort("blockedbyclient"))
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(base + "/editor/login")
        page.fill("#token", TOKEN)
        click_and_wait(page, "form.login button[type=submit]")
        for path in ("/editor/lists/world/preview", "/editor/lists/world/why"):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            assert "Totally normal headline" in page.locator("main").inner_text()
        page.goto(base + "/editor/lists/world/preview")
        frame = page.frame_locator("#email-frame")
        frame.locator("h3.story-title", has_text="Totally normal headline").wait_for()
        assert "<script>" in frame.locator("h3.story-title", has_text="Totally normal headline").inner_text()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(tmp_path / "stored-hostile-preview.png"), full_page=True)
        context.close()
    store.close()
    pwned = [url for url in requests if "pwned" in url]
    assert pwned == [], pwned
    assert page.url.startswith(base)


def test_unsubscribe_page_get_changes_nothing_and_its_button_unsubscribes(browser: Browser, tmp_path: Path) -> None:
    """The integrated app (``digest.web.create_app`` with the editor routes added): the
    unsubscribe link's page only asks; its button unsubscribes."""
    from digest.web.editor import editor_routes
    from digest.store import Store
    from digest.tokens import make_token
    from digest.types import Subscriber, SubscriberStatus
    from digest.web import create_app
    from tests.editor_support import editor_config

    config = editor_config(tmp_path)
    store = Store.open(config.database.url)
    sub, _ = store.add_subscriber(Subscriber("world", "ada@example.com", name="Ada"), now=NOW)
    assert sub.id is not None
    app = create_app(config, store, clock=lambda: NOW)
    app.router.routes.extend(editor_routes(config, store, clock=lambda: NOW, backend=SampleBackend(), token=TOKEN))
    url = f"/u/{make_token(store.secret(), sub.id)}"
    with serve(app) as base:
        context = browser.new_context(viewport={"width": 900, "height": 700})
        context.route(lambda u: not u.startswith(base), lambda route: route.abort("blockedbyclient"))
        page = context.new_page()
        response = page.goto(base + url)
        assert response is not None and response.status == 200
        assert "ada@example.com" in page.locator("body").inner_text()
        assert "script-src" not in (response.headers.get("content-security-policy") or "script-src")
        page.screenshot(path=str(tmp_path / "unsubscribe-get.png"))
        page.reload()  # a link scanner fetching twice changes nothing either
        assert store.subscriber(sub.id).status == SubscriberStatus.ACTIVE
        click_and_wait(page, "button[type=submit]")
        assert page.locator("h1").inner_text() == "You are unsubscribed"
        page.screenshot(path=str(tmp_path / "unsubscribe-done.png"))
        assert store.subscriber(sub.id).status == SubscriberStatus.UNSUBSCRIBED
        # the editor's pages live in the same app
        assert page.goto(base + "/archive/world/").status == 200
        assert page.goto(base + "/editor/", wait_until="load").url.startswith(base + "/editor/login")
        context.close()
    store.close()
