"""Benchmark: deliver one edition to 100,000 subscribers through the fake SendGrid on loopback.

    python bench/send.py [--subscribers 100000] [--baseline-sample 5000] [--batch-size 1000]

Prints, for the ledger + SendGrid transport as shipped (up to 1000 personalisations per
request, per-recipient substitutions) and for the baseline of one API request per recipient
(every message personalised in full, so nothing can be shared):
wall time, API requests, peak memory (max RSS of the measuring process). The fake server runs
in its own process so its memory is not counted. The baseline is measured on a sample
(``--baseline-sample``) and extrapolated linearly to the full list -- it says so when it does.

Targets (issue 4): under 60 s and under 500 MB for 100,000 subscribers; at least 20x fewer
requests than the baseline. Set up (creating subscribers) is not timed; queueing is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def setup(db_url: str, n: int, period: str) -> int:
    """Create ``n`` subscribers (bulk insert) and an edition; returns the edition id."""
    from sqlalchemy import insert

    from digest.store import Store, subscribers

    store = Store.open(db_url)
    rows = [
        {
            "list_name": "world", "email": f"reader{i:06d}@example.com",
            "email_lower": f"reader{i:06d}@example.com", "name": f"Reader {i}",
            "topics": [], "timezone": "UTC", "status": "active", "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(n)
    ]
    with store.begin() as conn:
        for start in range(0, n, 10_000):
            conn.execute(insert(subscribers), rows[start : start + 10_000])
    edition = store.create_edition(
        list_name="world", period=period, window_start=NOW - timedelta(days=1), window_end=NOW,
        now=NOW, subject="World news", preheader="", html="", text="", carried=[],
    )
    store.close()
    return edition


def measure(db_url: str, url: str, edition: int, batch_size: int, baseline: bool) -> dict[str, float]:
    """Queue and deliver ``edition``; runs in a fresh process so max RSS is its own."""
    from digest.config import SendgridConfig
    from digest.deliver import Ledger
    from digest.store import Store
    from digest.transports.sendgrid import SendgridTransport
    from digest.transports.smtp import apply_substitutions
    from tests.deliver_helpers import SharedCompose

    store = Store.open(db_url)
    shared = SharedCompose(html_size=30_000)  # a realistic ~30 KB edition
    compose = shared
    if baseline:
        def compose(sub, delivery_id):  # type: ignore[no-untyped-def]
            # fully personalised per recipient: nothing in common, one request each
            return apply_substitutions(shared(sub, delivery_id))

    transport = SendgridTransport(SendgridConfig(host=url, timeout=30), secret="bench",
                                  api_key="SG.bench")
    start = time.perf_counter()
    ledger = Ledger(store, clock=lambda: datetime.now(UTC))
    ledger.queue(edition, store.subscribers_of("world"))
    counts = ledger.run(edition, list_name="world", transport=transport, compose=compose,
                        batch_size=batch_size)
    wall = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store.close()
    return {"wall_s": wall, "requests": transport.requests, "peak_mb": rss_kb / 1024,
            "sent": counts.get("sent", 0), "other": sum(counts.values()) - counts.get("sent", 0)}


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as r:
        return json.loads(r.read())


def child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], cwd=REPO,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--child", nargs=5, metavar=("DB", "URL", "EDITION", "BATCH", "BASELINE"))
    ns = parser.parse_args()
    if ns.child:
        db, url, edition, batch, base = ns.child
        print(json.dumps(measure(db, url, int(edition), int(batch), base == "1")))
        return 0

    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_sendgrid"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            n, sample = ns.subscribers, min(ns.baseline_sample, ns.subscribers)
            db_full = f"sqlite:///{tmp}/full.db"
            ed = setup(db_full, n, "full")
            before = stats(url)
            ours = child([db_full, url, str(ed), str(ns.batch_size), "0"])
            after = stats(url)
            assert after["accepted"] - before["accepted"] == ours["sent"] == n, (ours, after)

            db_base = f"sqlite:///{tmp}/base.db"
            ed = setup(db_base, sample, "base")
            base = child([db_base, url, str(ed), str(ns.batch_size), "1"])
            scale = n / sample
    finally:
        fake.terminate()
        fake.wait()

    print(f"digest send benchmark: {n:,} subscribers, batch size {ns.batch_size}, fake SendGrid on loopback")
    print(f"  ledger + personalisations : {ours['wall_s']:7.1f} s  {ours['requests']:>8,} requests  "
          f"peak {ours['peak_mb']:6.0f} MB  sent {int(ours['sent']):,}")
    label = "measured" if scale == 1 else f"measured on {sample:,}, x{scale:g} extrapolated"
    print(f"  baseline, 1 request each  : {base['wall_s'] * scale:7.1f} s  "
          f"{int(base['requests'] * scale):>8,} requests  peak {base['peak_mb']:6.0f} MB  ({label})")
    ratio = base["requests"] * scale / max(ours["requests"], 1)
    print(f"  requests: {ratio:,.0f}x fewer; time: {base['wall_s'] * scale / ours['wall_s']:.1f}x faster")
    ok = ours["wall_s"] < 60 and ours["peak_mb"] < 500 and ratio >= 20
    print(f"  targets (<60 s, <500 MB, >=20x fewer requests): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
