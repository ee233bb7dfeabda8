"""Benchmark: the per-recipient cost of delivering one edition through the outbox.

    python bench/deliver.py [--subscribers 500] [--rounds 3] [--stories 60]

Sets up (not timed) a SQLite store with ``--subscribers`` readers spread over three topic
choices (the whole edition and two narrower ones), an edition of ``--stories`` long stories
rendered by :func:`digest.render.render_edition` (near Gmail's clipping budget, like a full
day), stored with its variants and queued ledger rows. Then times
:func:`digest.pipeline.deliver_edition` to a fresh outbox folder: ledger claims, compose,
outbox write, outcomes recorded.

Two paths alternate, ``--rounds`` times each, in the same process and on the same disk:

- **baseline**: the path before issue 14, kept here: every message personalised and
  quoted-printable encoded in full (``build_message`` without a cached body, every header
  parsed), serialised by ``as_bytes`` and written by an outbox that fsyncs each file and
  records each message as it goes;
- **digest**: the shipped path (body encoded once per variant, outbox fsyncs once per batch).

Prints each path's median wall and CPU milliseconds per recipient and their ratios, with the
load average (the machine may be shared: CPU time is the steadier figure there). Target
(issue 14): digest <= 5 ms wall per recipient. Exit status 0 when met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TOPIC_CHOICES: tuple[tuple[str, ...], ...] = ((), ("sec0",), ("sec1", "sec2"))


class BaselineOutbox:
    """The outbox as it was before issue 14: one fsync per file, each outcome recorded as it
    is written (``reports_each``)."""

    name = "outbox"
    reports_each = True

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, batch: Sequence[object], progress: object | None = None) -> list[object]:
        import tempfile as _tempfile

        from digest.message import POLICY
        from digest.transports.outbox import safe_file_part
        from digest.types import DeliveryState, SendOutcome

        out = []
        for item in batch:
            if progress is not None:
                progress.attempting(item.delivery_id)  # type: ignore[attr-defined]
            name = f"{item.delivery_id:04d}-{safe_file_part(item.recipient)}.eml"  # type: ignore[attr-defined]
            data = item.message.as_bytes(policy=POLICY)  # type: ignore[attr-defined]
            path = self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            outcome = SendOutcome(item.delivery_id, DeliveryState.SENT, provider_id=name)  # type: ignore[attr-defined]
            if progress is not None:
                progress.settled(outcome)  # type: ignore[attr-defined]
            out.append(outcome)
        return out

    def close(self) -> None:
        pass


def make_config(root: Path):  # type: ignore[no-untyped-def]
    from digest.config import parse_config
    from tests.sample_edition import SOURCES

    data = {
        "site": {"name": "digest", "base_url": "https://digest.example.org",
                 "postal_address": "Digest Example Ltd, 1 Example Street, London"},
        "sources": [{"name": s.name, "title": s.title, "url": f"https://feeds.example.org/{s.name}.xml"}
                    for s in SOURCES.values()],
        "topics": [{"name": f"sec{i}", "title": f"Section {i}", "keywords": [f"kw{i}"]} for i in range(4)],
        "lists": [{"name": "world", "title": "World news", "sender": "World news <world@digest.example.org>",
                   "subject": "{{ list.title }}: {{ top_story.lead.title }}",
                   "topics": [f"sec{i}" for i in range(4)]}],
        "delivery": {"transport": "outbox", "outbox_dir": str(root / "outbox"), "batch_size": 100},
    }
    return parse_config(data, root)


def render_variants(config, stories: int):  # type: ignore[no-untyped-def]
    from digest.edition import for_topics
    from digest.render import render_edition
    from tests.sample_edition import NOW, huge_edition

    edition = huge_edition(stories)
    lst = config.list("world")
    return {choice: render_edition(for_topics(edition, choice), config=config, list_config=lst, now=NOW)
            for choice in TOPIC_CHOICES}


def setup(store, variants, n: int, period: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from digest.store import subscribers
    from tests.sample_edition import NOW

    rows = [
        {"list_name": "world", "email": f"reader{period}{i:05d}@example.com",
         "email_lower": f"reader{period}{i:05d}@example.com", "name": f"Reader {i}",
         "topics": list(TOPIC_CHOICES[i % len(TOPIC_CHOICES)]), "timezone": "UTC",
         "status": "active", "created_at": NOW, "updated_at": NOW}
        for i in range(n)
    ]
    with store.begin() as conn:
        conn.execute(insert(subscribers), rows)
    ids = [s.id for s in store.subscribers_of("world") if s.email.startswith(f"reader{period}")]
    main = variants[()]
    return store.create_edition(
        list_name="world", period=period, window_start=NOW - timedelta(days=1), window_end=NOW,
        now=NOW, subject=main.subject, preheader=main.preheader, html=main.html, text=main.text,
        carried=[], variants=variants, recipients=[(i, None) for i in ids],
    )


def deliver(config, store, edition: int, period: str, baseline: bool) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(wall, CPU) seconds of one ``deliver_edition`` of ``edition``; the baseline path when
    asked."""
    from digest import pipeline
    from tests.sample_edition import NOW

    from digest import message

    saved = pipeline.make_transport, message.build_message, message._set_shared
    if baseline:
        message._set_shared = lambda msg, name, value: msg.__setitem__(name, value)  # type: ignore[assignment]
        pipeline.make_transport = lambda config, lst, folder, secret: BaselineOutbox(folder)  # type: ignore[assignment]
        original = saved[1]

        def full_build(*args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.pop("body", None)  # no cached body: personalise and encode everything
            return original(*args, **kwargs)

        message.build_message = full_build  # type: ignore[assignment]  (pipeline imports it at use)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        done = pipeline.deliver_edition(config, store, config.list("world"), edition, period, now=NOW)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        pipeline.make_transport, message.build_message, message._set_shared = saved
    assert done.counts.get("sent") == sum(done.counts.values()), done.counts
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stories", type=int, default=60)
    ns = parser.parse_args()
    from digest.store import Store

    with tempfile.TemporaryDirectory(dir=REPO) as tmp:  # the repository's disk, not a tmpfs
        root = Path(tmp)
        config = make_config(root)
        variants = render_variants(config, ns.stories)
        sizes = {k: len(v.html.encode()) for k, v in variants.items()}
        store = Store.open(f"sqlite:///{root}/bench.db")
        times: dict[str, list[tuple[float, float]]] = {"baseline": [], "digest": []}
        for r in range(ns.rounds):
            for label in ("baseline", "digest"):
                period = f"{label[0]}{r}"
                edition = setup(store, variants, ns.subscribers, period)
                times[label].append(deliver(config, store, edition, period, label == "baseline"))
        store.close()
    n = ns.subscribers

    def per(label: str, which: int) -> float:
        return statistics.median(t[which] for t in times[label]) / n * 1000

    print(f"digest deliver benchmark: outbox, {n} subscribers, {len(variants)} variants "
          f"(HTML {', '.join(f'{s / 1000:.0f} KB' for s in sizes.values())}), "
          f"{ns.rounds} alternating rounds, medians, load average {os.getloadavg()[0]:.1f}")
    print("  ms per recipient                                  wall     CPU")
    for label, text in (("baseline", "baseline (encode per recipient, fsync per file)"),
                        ("digest", "digest (body once per variant, batch fsync)")):
        runs = ", ".join(f"{w:.2f}" for w, _ in times[label])
        print(f"  {text:48s} {per(label, 0):6.2f}  {per(label, 1):6.2f}   (runs {runs} s)")
    ours = per("digest", 0)
    print(f"  ratio digest/baseline: wall {ours / per('baseline', 0):.2f}, "
          f"CPU {per('digest', 1) / per('baseline', 1):.2f}; target <= 5 ms per recipient (wall): "
          f"{'met' if ours <= 5 else 'NOT met'}")
    return 0 if ours <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
