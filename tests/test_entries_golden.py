"""The entries a poll stores from the 26 real captured feeds, guarded by a golden file of
hashes (issue 14: the poll is made faster without changing one stored value).

The golden file holds one sha256 per source over every column of its stored rows but the
row id (sorted by entry id, values by ``repr``), not the feeds' text (third-party content).
After an intended change to parsing, ``pytest --update-golden`` rewrites it; review why
each changed source changed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from digest import pipeline
from digest.config import parse_config
from digest.store import Store
from digest.store.tables import entries
from tests.conftest import REAL_FEEDS, REPO

GOLDEN = Path(__file__).parent / "golden" / "entries-real.sha256"
NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def stored_entry_hashes(tmp_path: Path) -> str:
    """``"<source> <rows> <sha256>"`` lines, one per real feed, of what one poll stores in a
    new SQLite database."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{tmp_path}/digest.db"}
    data["delivery"]["outbox_dir"] = str(tmp_path / "outbox")
    files = sorted(p for p in REAL_FEEDS.iterdir() if p.suffix in (".xml", ".json"))
    data["sources"] = [{"name": p.stem, "title": p.stem, "path": str(p)} for p in files]
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    config = parse_config(data, REPO)
    columns = [c for c in entries.c if c.name != "id"]
    with Store.open(config.database.url) as store:
        reports = pipeline.poll(config, store, now=NOW)
        assert [r.status for r in reports] == ["ok"] * len(files)
        with store.begin() as conn:
            rows = conn.execute(select(*columns).order_by(entries.c.source, entries.c.entry_id)).all()
    per_source: dict[str, list[str]] = {p.stem: [] for p in files}
    for row in rows:
        per_source[row.source].append(repr(tuple(row)))
    return "".join(
        f"{name} {len(got)} {hashlib.sha256(chr(10).join(got).encode('utf-8', 'surrogatepass')).hexdigest()}\n"
        for name, got in per_source.items()
    )


def test_a_poll_of_the_real_feeds_stores_the_golden_entries(tmp_path: Path, golden) -> None:
    golden(GOLDEN, stored_entry_hashes(tmp_path))
