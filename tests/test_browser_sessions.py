"""The editor's sessions in Chromium (Playwright), through the whole app ``create_app``
serves: logging out in one browser ends the session in every other one."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright

from digest.store import Store
from digest.web import create_app, serve_in_thread
from tests.editor_support import TOKEN, SampleBackend, editor_config
from tests.sample_edition import NOW

pytestmark = pytest.mark.slow  # a real browser: a few seconds


def log_in(browser: Browser, base: str) -> Page:
    context = browser.new_context()
    context.route(lambda url: not url.startswith(base), lambda route: route.abort("blockedbyclient"))
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(base + "/editor/login")
    page.fill("#token", TOKEN)
    page.click("form.login button[type=submit]")
    page.wait_for_url(base + "/editor/")
    return page


def test_logging_out_in_one_browser_ends_the_session_in_the_other(tmp_path: Path) -> None:
    config = editor_config(tmp_path)
    store = Store.open(config.database.url)
    app = create_app(config, store, clock=lambda: NOW, editor_token=TOKEN, editor_backend=SampleBackend())
    with sync_playwright() as pw, serve_in_thread(app) as base:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        laptop, phone = log_in(browser, base), log_in(browser, base)
        with laptop.expect_navigation(wait_until="load"):
            laptop.locator("form.logout button[type=submit]").click()
        assert laptop.url == base + "/editor/login"
        phone.goto(base + "/editor/sources")
        assert phone.url.startswith(base + "/editor/login?next=")
        laptop.go_back()  # the back button shows no editor page either (no-store, no session)
        laptop.reload()
        assert "/editor/login" in laptop.url
        browser.close()
    store.close()
