"""Screenshot an edition's HTML at desktop and phone widths, in light and dark mode, with
headless Chromium.

Usage::

    python scripts/screenshot.py outbox/world/2026-02-18/edition.html [--out DIR] [--height PX]
        [--width PX ...] [--scheme light|dark ...]

Writes ``edition-600-light.png``, ``edition-600-dark.png``, ``edition-375-light.png`` and
``edition-375-dark.png`` (one per ``--width`` and ``--scheme``) beside the HTML file (or into
``--out``), the whole page unless ``--height`` is given. Dark mode is Chromium's emulated
``prefers-color-scheme: dark`` (what Apple Mail and Outlook for Mac honour), not a forced
inversion. Uses Debian's ``/usr/bin/chromium`` through Playwright; other hosts are never
contacted, so images show their alt text.
Exit status: 0 when every screenshot was written, 1 otherwise (reasons on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (600, 375)
SCHEMES = ("light", "dark")


def screenshot(
    html: Path, out: Path, width: int, height: int | None, *, scheme: str = "light",
    chromium: str = CHROMIUM,
) -> None:  # fmt: skip
    """Render ``html`` at ``width`` CSS pixels into PNG ``out``: the whole page, or the first
    ``height`` pixels when given; ``scheme`` (``"light"`` or ``"dark"``) is the emulated
    ``prefers-color-scheme``. Drives Chromium through Playwright (no browser download:
    ``chromium`` is the binary); other hosts are not contacted, so remote images show their
    alt text, as in a mail client that blocks images.

    Raises ``RuntimeError`` when Chromium fails or writes no file.
    """
    from playwright.sync_api import Error, sync_playwright

    out.unlink(missing_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            try:
                page = browser.new_page(
                    viewport={"width": width, "height": height or 800}, color_scheme=scheme  # type: ignore[arg-type]
                )
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
                page.goto(html.resolve().as_uri())
                page.screenshot(path=str(out), full_page=height is None)
            finally:
                browser.close()
    except Error as exc:
        raise RuntimeError(f"chromium failed: {exc}") from exc
    if not out.exists():
        raise RuntimeError("chromium wrote no screenshot")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the edition.html to screenshot")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the PNGs (default: beside the HTML)"
    )
    parser.add_argument(
        "--height", type=int, default=None, help="only the first PX pixels (default: the whole page)"
    )
    parser.add_argument(
        "--width", type=int, action="append", help="width(s) in CSS pixels (default 600 and 375)"
    )
    parser.add_argument(
        "--scheme", choices=SCHEMES, action="append", help="colour scheme(s) (default light and dark)"
    )
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium binary")
    args = parser.parse_args(argv)
    if not args.html.is_file():
        print(f"no such file: {args.html}", file=sys.stderr)
        return 1
    out_dir = args.out or args.html.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for width in args.width or WIDTHS:
        for scheme in args.scheme or SCHEMES:
            target = out_dir / f"{args.html.stem}-{width}-{scheme}.png"
            try:
                screenshot(args.html, target, width, args.height, scheme=scheme, chromium=args.chromium)
            except (RuntimeError, OSError) as exc:
                print(f"{target}: {exc}", file=sys.stderr)
                status = 1
            else:
                print(target)
    return status


if __name__ == "__main__":
    sys.exit(main())
