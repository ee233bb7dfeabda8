"""Screenshots of the editor's pages for the World news demo, to look at as an editor would.

Usage (from the repository root)::

    python scripts/editor_screenshots.py [--config config.yaml] [--out build/editor-screenshots]
                                         [--list world] [--at 2026-02-18T07:00:00Z] [--sample]

Writes ``overview.png``, ``preview-600.png``, ``preview-375.png``, ``preview-full.png`` (the whole
page: envelope, checks, story list with its buttons, text part), ``why-here.png`` (the first screen; ``why-here-full.png`` the whole page;
``why-left-out.png`` its entries left out, when there are any) and
``sources.png`` into ``--out``. The edition is the one due at ``--at`` built from the store
of ``--config`` when it holds entries (after ``make demo``); otherwise the captured feeds are
polled into a temporary database first. ``--sample`` shows the hand-made sample edition of
``tests/sample_edition.py`` instead (no pipeline needed).

Serves the app with uvicorn on 127.0.0.1 (a free port) and drives Debian's
``/usr/bin/chromium`` with Playwright; nothing leaves the machine (requests to other hosts
are refused). Exit status: 0 when every screenshot was written, 1 otherwise.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]




def _open_store(config, at: datetime, temp: Path):  # type: ignore[no-untyped-def]
    """The demo store when it has entries; else the captured feeds polled into ``temp``."""
    from digest.store import Store

    store = Store.open(config.database.url)
    if store.latest_entry_times():
        return config, store
    store.close()
    config = config.model_copy(
        update={"database": config.database.model_copy(update={"url": f"sqlite:///{temp}/demo.db"})}
    )
    store = Store.open(config.database.url)
    from digest.pipeline import poll

    reports = poll(config, store, now=at - timedelta(hours=1))
    failed = [r.source for r in reports if r.status == "failed"]
    print(f"polled {len(reports)} sources into {temp}/demo.db; failed: {failed or 'none'}")
    return config, store


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "editor-screenshots")
    parser.add_argument("--list", dest="list_name", default="world")
    parser.add_argument("--at", default="2026-02-18T07:00:00Z", help="the edition's send time (ISO 8601)")
    parser.add_argument("--sample", action="store_true", help="show the hand-made sample edition")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from digest.config import load_config
    from digest.web.editor import editor_routes, parse_at
    from digest.web.headers import SecurityHeadersMiddleware
    from digest.web import serve_in_thread

    at = parse_at(args.at, "UTC")
    token = secrets.token_urlsafe(24)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="digest-editor-shots-") as tmp:
        temp = Path(tmp)
        backend = None
        if args.sample:
            from digest.store import Store
            from tests.editor_support import SampleBackend, editor_config

            config = editor_config(temp)
            store = Store.open(config.database.url)
            backend = SampleBackend()
            at = backend.edition.window_end
            store.upsert_entries(backend.edition.stories and [e for s in backend.edition.stories for e in s.entries], now=at)
        else:
            config, store = _open_store(load_config(args.config), at, temp)
        config.list(args.list_name)  # KeyError early for a wrong --list
        routes = editor_routes(
            config, store, clock=lambda: at - timedelta(minutes=30), backend=backend, token=token
        )
        app = Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware)])
        at_q = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        written: list[Path] = []
        with serve_in_thread(app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route(lambda url: not url.startswith(base), lambda route: route.abort())
            page = context.new_page()
            page.goto(base + "/editor/login")
            page.fill("#token", token)
            with page.expect_navigation():
                page.click("form.login button[type=submit]")

            def shot(name: str, *, full: bool = True) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=full)
                written.append(path)

            shot("overview")
            page.goto(f"{base}/editor/lists/{args.list_name}/preview?at={at_q}")
            page.frame_locator("#email-frame").locator("body").wait_for()
            page.wait_for_load_state("networkidle")
            shot("preview-600", full=False)
            shot("preview-full")
            page.click("#label-mobile")
            shot("preview-375", full=False)
            page.goto(f"{base}/editor/lists/{args.list_name}/why?at={at_q}")
            shot("why-here", full=False)
            shot("why-here-full")
            if page.locator("#left-cap").count():  # a long group starts closed: open it
                page.click("#left-cap summary")
            left = page.locator("#left-out")
            if left.count():
                path = out / "why-left-out.png"
                left.screenshot(path=str(path))
                written.append(path)
            page.goto(f"{base}/editor/sources")
            shot("sources")
            browser.close()
        store.close()
    for path in written:
        print(path)
    return 0 if len(written) >= 7 else 1


if __name__ == "__main__":
    sys.exit(main())
