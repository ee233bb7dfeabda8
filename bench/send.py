"""Benchmark: deliver one edition through the fake SendGrid on loopback.

    python bench/send.py [--subscribers 100000] [--baseline-sample 5000] [--batch-size 1000]
    python bench/send.py --db postgresql --workers 4 --subscribers 1000000 [--kill-one]
                         [--threads] [--baseline 100000]

SQLite (default): for the ledger + SendGrid transport as shipped (up to 1000 personalisations
per request, per-recipient substitutions) and for the baseline of one API request per
recipient (every message personalised in full, so nothing can be shared): wall time, API
requests, peak memory (max RSS of the measuring process). The fake server runs in its own
process so its memory is not counted. The baseline is measured on a sample
(``--baseline-sample``) and extrapolated linearly to the full list -- it says so when it does.
Targets (issue 4): under 60 s and under 500 MB for 100,000 subscribers; at least 20x fewer
requests than the baseline. Set up (creating subscribers) is not timed; queueing is.

PostgreSQL (``--db postgresql``, issue 13): a database of its own on 127.0.0.1:5432 with
``--subscribers`` queued rows (set up by bulk SQL, not timed), delivered by ``--workers``
worker processes running what ``digest worker --until-idle`` runs (``digest.workers.work``
over ``digest.pipeline.resume``: the pipeline's own compose -- each rendering's shared parts
made once, per recipient its token, address and List-Unsubscribe headers -- SKIP LOCKED claims
under a lease, the SendGrid transport as shipped; ``--threads`` runs them as threads of one
process instead, to measure the GIL); the wall time from start to the last worker's exit, the
CPU time and peak RSS of each worker, the CPU time of the fake and of the PostgreSQL backends
(sampled from /proc: PostgreSQL on this machine), and beside it the single-process
SQLite run of ``--baseline`` subscribers (queue by one INSERT … SELECT + deliver, the same
pipeline path) in the same run. ``--kill-one`` SIGKILLs one worker at a random moment
(seeded): the others take over its rows once its lease (``--lease``) expires and re-send the
ones in doubt; the run then checks that nobody is missing and that the only duplicates are
the killed worker's request in flight. Targets: under 120 s and under 500 MB per worker for
1,000,000. The load average is printed: figures taken on a busy machine are inflated.

The SQLite mode (issue 4) still composes with ``tests.deliver_helpers.SharedCompose`` (parts
shared per edition, as the SendGrid path sends them), not the pipeline's compose, since its
baseline needs every message personalised in full.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import threading
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
    ledger.queue_list(edition, "world")
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


# -- PostgreSQL, several workers ----------------------------------------------------------


def _config(db_url: str, url: str, batch: int, lease: float, folder: str) -> object:
    """The configuration a worker runs with: one list ``world`` through the fake at ``url``."""
    from digest.config import load_config
    from tests.worker_support import write_config

    os.environ.setdefault("SENDGRID_API_KEY", "SG.bench")
    path = write_config(Path(folder), db_url, url, lease_seconds=lease, batch_size=batch,
                        resend_unknown=True)
    return load_config(path)


def pg_worker(db_url: str, url: str, batch: int, lease: float, threads: int) -> dict[str, float]:
    """One worker process (or ``threads`` workers as threads of it): ``digest worker
    --until-idle`` as it ships (:func:`digest.workers.work` over :func:`digest.pipeline.resume`),
    delivering until idle."""
    from digest.store import Store
    from digest.workers import work

    clock = lambda: datetime.now(UTC)  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        config = _config(db_url, url, batch, lease, folder)

        def one() -> None:
            with Store.open(db_url) as store:
                work(config, store, clock=clock, until_idle=True,  # type: ignore[arg-type]
                     idle_seconds=0.5)

        pool = [threading.Thread(target=one) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


def sqlite_baseline(db_url: str, url: str, edition: int, batch: int) -> dict[str, float]:
    """The single-process SQLite run: queue the list (one INSERT … SELECT) and deliver it
    through the pipeline as it ships; runs in a fresh process so max RSS is its own."""
    from digest.deliver import Ledger
    from digest.store import Store
    from digest.workers import work

    clock = lambda: datetime.now(UTC)  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        config = _config(db_url, url, batch, 300, folder)
        start, cpu = time.perf_counter(), time.process_time()
        with Store.open(db_url) as store:
            Ledger(store, clock=clock).queue_list(edition, "world")
            work(config, store, clock=clock, until_idle=True)  # type: ignore[arg-type]
            counts = store.delivery_counts(edition)
        wall = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"wall_s": wall, "cpu_s": time.process_time() - cpu, "peak_mb": rss_kb / 1024,
            "sent": counts.get("sent", 0)}


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + sys) a running process has used so far (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _PgCpu(threading.Thread):
    """Samples the CPU time of the PostgreSQL backends serving database ``name`` (on this
    machine, through /proc) until stopped; ``total`` is their sum at the last sample."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True)
        self.name_ = name
        self.seen: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        from tests.worker_support import PG_SERVER, _plain

        with psycopg.connect(_plain(PG_SERVER) + "/postgres", autocommit=True) as conn:
            while not self.done.is_set():
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name_,)
                ).fetchall():
                    self.seen[pid] = max(self.seen.get(pid, 0.0), _cpu_of(pid))
                self.done.wait(0.25)

    @property
    def total(self) -> float:
        return sum(self.seen.values())


def run_pg(ns: argparse.Namespace, url: str, fake_pid: int) -> dict[str, object]:
    """Set up a PostgreSQL database, run the workers, check the outcome."""
    from sqlalchemy import select

    from digest.store import Store, deliveries, subscribers
    from tests.worker_support import pg_database, seed

    n = ns.subscribers
    with pg_database("bench_send") as db:
        t0 = time.perf_counter()
        edition = seed(db, n, html_size=30_000)
        setup_s = time.perf_counter() - t0
        before = stats(url)
        fake_cpu = _cpu_of(fake_pid)
        pg_cpu = _PgCpu(db.rsplit("/", 1)[1])
        pg_cpu.start()
        procs = ns.workers if not ns.threads else 1
        per = 1 if not ns.threads else ns.workers
        start = time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--pg-worker", db, url, str(ns.batch_size),
                 str(ns.lease), str(per)],
                cwd=REPO, stdout=subprocess.PIPE, text=True,
            )
            for _ in range(procs)
        ]
        victim: dict[str, object] = {}
        if ns.kill_one:
            rng = random.Random(ns.seed)
            at = rng.uniform(0.2, 0.7) * n
            target = rng.randrange(procs)
            while workers[target].poll() is None:
                if stats(url)["accepted"] - before["accepted"] >= at:
                    workers[target].send_signal(signal.SIGKILL)
                    workers[target].wait()
                    victim.update(worker=target, at_accepted=int(at), at_s=time.perf_counter() - start)
                    break
                time.sleep(0.05)
            store = Store.open(db)
            with store.begin() as conn:
                rows = conn.execute(
                    select(subscribers.c.email, deliveries.c.state)
                    .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                    .where(deliveries.c.lease_holder.like(f"%:{workers[target].pid}:%"))
                    .where(deliveries.c.state.in_(["claimed", "sending"]))
                ).all()
            store.close()
            victim["in_flight"] = {r.email for r in rows if r.state == "sending"}
            victim["claimed"] = sum(1 for r in rows if r.state == "claimed")
        results = []
        for proc in workers:
            out, _ = proc.communicate()
            if proc.returncode == 0:
                results.append(json.loads(out.strip().splitlines()[-1]))
            elif proc.returncode != -signal.SIGKILL:
                raise SystemExit(f"worker failed with {proc.returncode}")
        wall = time.perf_counter() - start
        fake_cpu = _cpu_of(fake_pid) - fake_cpu
        pg_cpu.done.set()
        pg_cpu.join()
        after = stats(url)
        dup = duplicates(url)
        with Store.open(db) as store:
            counts = store.delivery_counts(edition)
    return {
        "wall_s": wall, "setup_s": setup_s, "requests": after["requests"] - before["requests"],
        "accepted": after["accepted"] - before["accepted"], "counts": counts,
        "peaks": [r["peak_mb"] for r in results], "cpus": [r["cpu_s"] for r in results],
        "fake_cpu_s": fake_cpu, "pg_cpu_s": pg_cpu.total, "victim": victim, "dup": dup,
    }


def duplicates(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/duplicates", timeout=60) as r:
        return json.loads(r.read())


def main_pg(ns: argparse.Namespace) -> int:
    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_sendgrid"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    load = os.getloadavg()
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        ours = run_pg(ns, url, fake.pid)
        base = None
        if ns.baseline:
            with tempfile.TemporaryDirectory() as tmp:
                db_base = f"sqlite:///{tmp}/base.db"
                from tests.worker_support import seed

                ed = seed(db_base, ns.baseline, html_size=30_000, queue=False)
                before = stats(url)
                base = child([db_base, url, str(ed), str(ns.batch_size), "pipeline"])
                base["requests"] = stats(url)["requests"] - before["requests"]
    finally:
        fake.terminate()
        fake.wait()
    load_after = os.getloadavg()

    n = ns.subscribers
    kind = f"{ns.workers} threads in 1 process" if ns.threads else f"{ns.workers} worker processes"
    counts = ours["counts"]
    print(f"digest send benchmark, PostgreSQL: batch size {ns.batch_size}, lease {ns.lease:g} s, "
          f"fake SendGrid on loopback, the pipeline's compose (~30 KB HTML); load average "
          f"{load[0]:.1f} before, {load_after[0]:.1f} after")
    cpus = ours["cpus"]
    print(f"  postgresql, {kind}: {n:,} subscribers in {ours['wall_s']:.1f} s "
          f"({n / ours['wall_s']:,.0f}/s)  {ours['requests']:,} requests  "
          f"peak per worker {max(ours['peaks'] or [0]):.0f} MB  "
          f"(set-up {ours['setup_s']:.0f} s, not timed)")
    print(f"    CPU (user+sys): workers {sum(cpus):.1f} s ({sum(cpus) / n * 1e6:.0f} us per "
          f"recipient; each {', '.join(f'{c:.1f}' for c in cpus)}), fake SendGrid "
          f"{ours['fake_cpu_s']:.1f} s, PostgreSQL backends {ours['pg_cpu_s']:.1f} s (sampled; "
          f"{(sum(cpus) + ours['fake_cpu_s'] + ours['pg_cpu_s']) / n * 1e6:.0f} us per recipient "
          f"in all)")
    if base is not None:
        rate = base["sent"] / base["wall_s"]
        print(f"  baseline, sqlite, 1 process: {ns.baseline:,} subscribers in {base['wall_s']:.1f} s "
              f"({rate:,.0f}/s, CPU {base['cpu_s']:.1f} s)  {base['requests']:,} requests  "
              f"peak {base['peak_mb']:.0f} MB  -> speed-up {n / ours['wall_s'] / rate:.2f}x")
    dup = ours["dup"]
    twice = set(dup["twice"])
    print(f"  ledger after: {dict(sorted(counts.items()))}; provider got {dup['distinct']:,} distinct "
          f"addresses, {len(twice):,} twice")
    ok = counts == {"sent": n} and dup["distinct"] == n
    victim = ours["victim"]
    if ns.kill_one:
        in_flight = victim.get("in_flight", set())
        print(f"  killed worker {victim.get('worker')} at {victim.get('at_s', 0):.1f} s "
              f"(~{victim.get('at_accepted', 0):,} accepted); its request in flight: "
              f"{len(in_flight):,} rows, {victim.get('claimed', 0):,} claimed rows went back")
        only = twice <= in_flight
        print(f"  0 missing: {dup['distinct'] == n}; duplicates only from its request in flight: {only}")
        ok = ok and only and bool(victim)
    else:
        ok = ok and not twice
    targets = ours["wall_s"] < 120 and max(ours["peaks"] or [0]) < 500
    print(f"  targets (<120 s, <500 MB per worker): {'met' if targets else 'NOT met'}; "
          f"outcome checks: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--child", nargs=5, metavar=("DB", "URL", "EDITION", "BATCH", "BASELINE"))
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", action="store_true", help="workers as threads of one process")
    parser.add_argument("--kill-one", action="store_true")
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--baseline", type=int, default=100_000,
                        help="PostgreSQL mode: the single-process SQLite run beside it (0: none)")
    parser.add_argument("--pg-worker", nargs=5, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.pg_worker:
        db, url, batch, lease, threads = ns.pg_worker
        print(json.dumps(pg_worker(db, url, int(batch), float(lease), int(threads))))
        return 0
    if ns.db == "postgresql":
        return main_pg(ns)
    if ns.child:
        db, url, edition, batch, base = ns.child
        if base == "pipeline":
            print(json.dumps(sqlite_baseline(db, url, int(edition), int(batch))))
        else:
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
