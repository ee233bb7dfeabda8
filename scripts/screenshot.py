"""Screenshot an edition's HTML at desktop and phone widths with headless Chromium.

Usage::

    python scripts/screenshot.py outbox/world/2026-02-18/edition.html [--out DIR] [--height PX]

Writes ``edition-600.png`` and ``edition-375.png`` (one per ``--width``) beside the HTML file
(or into ``--out``). Uses Debian's ``/usr/bin/chromium`` (``apt-get install chromium``) with a
throw-away profile and background networking off; remote images load only if reachable.
Exit status: 0 when every screenshot was written, 1 otherwise (reasons on stderr).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (600, 375)


def screenshot(html: Path, out: Path, width: int, height: int, *, chromium: str = CHROMIUM) -> None:
    """Render ``html`` at ``width`` x ``height`` CSS pixels into PNG ``out``.

    Raises ``RuntimeError`` when Chromium fails or writes no file (stderr in the message).
    """
    with tempfile.TemporaryDirectory(prefix="digest-shot-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            html.resolve().as_uri(),
        ]
        out.unlink(missing_ok=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"chromium failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the edition.html to screenshot")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the PNGs (default: beside the HTML)"
    )
    parser.add_argument("--height", type=int, default=3000, help="window height in CSS pixels")
    parser.add_argument(
        "--width", type=int, action="append", help="width(s) in CSS pixels (default 600 and 375)"
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
        target = out_dir / f"{args.html.stem}-{width}.png"
        try:
            screenshot(args.html, target, width, args.height, chromium=args.chromium)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"{target}: {exc}", file=sys.stderr)
            status = 1
        else:
            print(target)
    return status


if __name__ == "__main__":
    sys.exit(main())
