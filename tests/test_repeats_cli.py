"""An operator's two days: a story sent on day one does not come back on day two as a
re-titled copy, and does come back, marked as an update, with new reporting.

Local RSS files stand in for three outlets; ``digest poll`` and ``digest run`` send day one
to the outbox; the files change; ``digest poll`` and ``digest build --json`` show day two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO

BODY = (
    "Russian and Ukrainian negotiators ended a first day of US-brokered peace talks in Geneva "
    "on Tuesday without a breakthrough, officials on both sides said, as fighting went on."
)
DAY1 = "Tue, 17 Feb 2026 18:00:00 +0000"
DAY2 = "Wed, 18 Feb 2026 15:00:00 +0000"


def _feed(path: Path, items: list[tuple[str, ...]]) -> None:
    """An RSS file of ``(title, link, description, pubDate[, image URL[, guid]])`` items (an
    empty image URL is none; the guid is the link unless given)."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{(extra[1:] or [link])[0]}</guid>"
        f"<description>{d}</description><pubDate>{when}</pubDate>"
        + "".join(f'<enclosure url="{url}" type="image/jpeg" length="1"/>' for url in extra[:1] if url)
        + "</item>"
        for t, link, d, when, *extra in items
    )
    path.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{path.stem}</title>'
        f"<link>https://{path.stem}.example/</link><description>x</description>{body}"
        "</channel></rss>",
        encoding="utf-8",
    )


def _setup(tmp: Path, db_url: str | None = None) -> Path:
    """Three local feeds (two carry the Geneva talks of day one) on the database ``db_url``,
    else a ``digest.db`` in ``tmp``."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url or f"sqlite:///{tmp / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp / "outbox")
    data["sources"] = [
        {"name": n, "title": n, "path": str(tmp / f"{n}.xml"), "language": "en"}
        for n in ("bbc", "nyt", "wire")
    ]
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    _feed(tmp / "bbc.xml", [("First day of Russia-Ukraine peace talks ends in Geneva",
                             "https://bbc.example/1", BODY, DAY1, "https://img.bbc.example/geneva.jpg")])
    _feed(tmp / "nyt.xml", [("Ukraine and Russia hold new round of peace talks in Geneva",
                             "https://nyt.example/1", BODY.replace("officials", "diplomats"), DAY1)])
    _feed(tmp / "wire.xml", [])
    return config


def _digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", "-c", str(config), *args],
                          capture_output=True, text=True, timeout=300)


def _day_two(config: Path) -> dict:
    assert _digest(config, "poll").returncode == 0
    result = _digest(config, "build", "world", "--at", "2026-02-19T07:00:00Z", "--json")
    return json.loads(result.stdout)


def test_a_sent_story_does_not_come_back_as_a_retitled_copy(db_url: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, db_url)
    assert _digest(config, "poll").returncode == 0
    sent = _digest(config, "run", "--at", "2026-02-18T07:00:00Z")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    _feed(tmp_path / "wire.xml", [("[UPDATE] First day of Russia-Ukraine peace talks ends without a deal",
                                   "https://wire.example/1", BODY, DAY2)])
    day2 = _day_two(config)
    assert not any("peace talks" in e["title"] for s in day2["stories"] for e in s["entries"])


# SQLite only, for time (four subprocesses): the store's part, the stories already sent, is
# read the same way in the test above, which runs on both dialects
def test_a_sent_story_comes_back_marked_as_an_update_with_new_reporting(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    assert _digest(config, "poll").returncode == 0
    assert _digest(config, "run", "--at", "2026-02-18T07:00:00Z").returncode == 0
    _feed(tmp_path / "wire.xml", [(
        "Second day of Russia-Ukraine peace talks in Geneva brings prisoner exchange",
        "https://wire.example/2",
        "Russia and Ukraine agreed in Geneva on Wednesday to exchange 300 prisoners each after "
        "a second day of US-brokered peace talks, negotiators said.",
        DAY2,
    )])
    day2 = _day_two(config)
    [story] = [s for s in day2["stories"] if any("peace talks" in e["title"] for e in s["entries"])]
    assert story["update"] and "wire" in story["outlets"]
    # led by the new development, not by day one's headline (sent already) under [UPDATE]
    assert story["title"].startswith("Second day of Russia-Ukraine peace talks"), story["title"]
    assert story["entries"][0]["url"] == "https://wire.example/2"
    # and illustrated by it: the new report has no picture, so the card has none, not day one's
    out = config.parent / "day2"
    built = _digest(config, "build", "world", "--at", "2026-02-19T07:00:00Z", "--out", str(out))
    assert built.returncode == 0, built.stderr
    html = (out / "edition.html").read_text()
    assert "Second day of Russia-Ukraine peace talks" in html
    assert "img.bbc.example" not in html


def test_a_copy_folded_into_a_sent_story_is_left_out_with_its_reason(tmp_path: Path) -> None:
    """The copy joins the story sent on day one and is left out: `build --json` says so (it
    used to vanish from the output with no reason)."""
    config = _setup(tmp_path)
    assert _digest(config, "poll").returncode == 0
    assert _digest(config, "run", "--at", "2026-02-18T07:00:00Z").returncode == 0
    _feed(tmp_path / "wire.xml", [("[UPDATE] First day of Russia-Ukraine peace talks ends in Geneva",
                                   "https://wire.example/1", BODY, DAY2)])
    day2 = _day_two(config)
    [left] = [x for x in day2["left_out"] if x["source"] == "wire"]
    assert left["kind"] == "sent" and left["url"] == "https://wire.example/1"
    assert "sent in 2026-02-18: it repeats what was sent" in left["reason"], left


# SQLite only, for time (six subprocesses); the store's part is the same as above
def test_repeats_stay_out_and_a_later_development_of_a_sent_outlet_leads_an_update(
    tmp_path: Path,
) -> None:
    """Day two brings, for the Geneva talks sent on day one: the BBC item listed again with a
    new date (same guid), the BBC's "[UPDATE]" of the same text under a new guid and the same
    link (its ``#1`` habit), and another outlet's "[UPDATE]" copy: all left out. Then the BBC
    reports the second day: the story comes back marked as an update, led by that headline,
    with the reason naming what is new."""
    config = _setup(tmp_path)
    assert _digest(config, "poll").returncode == 0
    assert _digest(config, "run", "--at", "2026-02-18T07:00:00Z").returncode == 0
    title = "First day of Russia-Ukraine peace talks ends in Geneva"
    first = (title, "https://bbc.example/1", BODY)
    repeats = [
        (*first, DAY2),  # the same item again, re-dated
        ("[UPDATE] " + first[0], first[1], BODY, DAY2, "", "https://bbc.example/1#1"),
    ]
    _feed(tmp_path / "bbc.xml", repeats)
    _feed(tmp_path / "wire.xml", [("[UPDATE] " + first[0], "https://wire.example/1", BODY, DAY2)])
    day2 = _day_two(config)
    assert not any("peace talks" in e["title"] for s in day2["stories"] for e in s["entries"])

    second = (
        "Second day of Russia-Ukraine peace talks in Geneva brings prisoner exchange",
        "https://bbc.example/2",
        "Russia and Ukraine agreed in Geneva on Wednesday to exchange 300 prisoners each after "
        "a second day of US-brokered peace talks, negotiators said.",
        "Wed, 18 Feb 2026 16:00:00 +0000",
    )
    _feed(tmp_path / "bbc.xml", [*repeats, second])
    day2 = _day_two(config)
    [story] = [s for s in day2["stories"] if any("peace talks" in e["title"] for e in s["entries"])]
    assert story["update"] and story["title"] == second[0]
    [reason] = [r for r in story["reasons"] if r["name"] == "update"]
    assert "sent in 2026-02-18" in reason["note"] and "new: bbc" in reason["note"]
