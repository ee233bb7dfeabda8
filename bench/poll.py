"""Benchmark: one polling round of 5,000 sources on loopback, by 1 process and by N workers.

    python bench/poll.py [--sources 5000] [--hosts 50] [--workers 4] [--slow-delay 0.5]

A feed server process serves ``--hosts`` loopback hosts (127.0.0.2, 127.0.0.3, ...; each
its own host for the per-host limit) with ``--sources`` feeds between them, mixed as real
polling sees them: 6 in 10 answer 304 (the source's stored ETag matches), 2 in 10 a small
new feed, 1 in 10 a 500 and 1 in 10 a 503 with Retry-After; one host in 10 is slow
(``--slow-delay`` seconds per answer). Each host counts the most requests it had at once.

Two runs on PostgreSQL, each on a fresh database of its own with the same stored state:
``digest poll`` (one process, the baseline) and ``digest poll --round`` as ``--workers``
processes sharing the round (hosts claimed with SKIP LOCKED). Printed: wall time, sources
per second, peak RSS of each process (``wait4``), every source polled once, and the most
concurrent requests any host saw against ``fetch.max_per_host``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MAX_PER_HOST = 2


def kind_of(i: int) -> str:
    """What source ``i`` answers: ``304``, ``new``, ``500`` or ``503``."""
    return {0: "304", 1: "304", 2: "304", 3: "304", 4: "304", 5: "304", 6: "new", 7: "new",
            8: "500", 9: "503"}[(i // 50) % 10]


def host_of(i: int, hosts: int) -> str:
    return f"127.0.0.{2 + i % hosts}"


def serve(sources: int, hosts: int, slow_delay: float) -> None:
    """The feed server process: prints its port, serves until SIGTERM, then prints stats."""
    from tests.feedserver import FeedServer, RecordedRequest, Reply

    rss = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
           + b"".join(b"<item><title>Story %d</title><link>https://example.org/%d</link>"
                      b"<guid>g%d</guid></item>" % (k, k, k) for k in range(5))
           + b"</channel></rss>")
    servers = {}
    port = 0
    for h in range(hosts):
        server = FeedServer(host=f"127.0.0.{2 + h}", port=port).start()
        port = server.port  # the same port on every host
        servers[server.host] = server
    stats = {host: {"now": 0, "most": 0, "requests": 0} for host in servers}
    lock = threading.Lock()

    def handler_for(i: int, host: str):  # type: ignore[no-untyped-def]
        kind = kind_of(i)
        slow = (i % hosts) % 10 == 0

        def handler(req: RecordedRequest) -> Reply:
            with lock:
                s = stats[host]
                s["now"] += 1
                s["requests"] += 1
                s["most"] = max(s["most"], s["now"])
            try:
                if slow:
                    time.sleep(slow_delay)
                if kind == "304" and req.headers.get("if-none-match") == '"v1"':
                    return Reply(304, {"ETag": '"v1"'})
                if kind == "500":
                    return Reply(500, {"Content-Type": "text/plain"}, b"oops")
                if kind == "503":
                    return Reply(503, {"Retry-After": "120"}, b"busy")
                return Reply(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, rss)
            finally:
                with lock:
                    stats[host]["now"] -= 1

        return handler

    for i in range(sources):
        host = host_of(i, hosts)
        servers[host].route(f"/s{i}.xml", handler_for(i, host))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(port, flush=True)
    done.wait()
    for server in servers.values():
        server.stop()
    print(json.dumps(stats), flush=True)


def write_config(folder: Path, db_url: str, port: int, sources: int, hosts: int) -> Path:
    import yaml

    data = {
        "site": {"postal_address": "1 Example Street, London"},
        "database": {"url": db_url},
        "fetch": {"max_per_host": MAX_PER_HOST, "allow_private_addresses": True,
                  "connect_timeout": 5, "read_timeout": 5, "deadline": 10},
        "sources": [{"name": f"s{i}", "title": f"S{i}",
                     "url": f"http://{host_of(i, hosts)}:{port}/s{i}.xml"}
                    for i in range(sources)],
        "lists": [{"name": "world", "title": "W", "sender": "news@example.org",
                   "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}],
    }
    path = folder / f"config-{abs(hash(db_url))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def seed(db_url: str, sources: int, port: int, hosts: int) -> None:
    """The stored state before the round: every 304 source has the ETag the server knows."""
    from sqlalchemy import insert

    from digest.store import Store
    from digest.store import sources as table

    with Store.open(db_url) as store, store.begin() as conn:
        conn.execute(insert(table), [
            {"name": f"s{i}", "etag": '"v1"' if kind_of(i) == "304" else None,
             "url": f"http://{host_of(i, hosts)}:{port}/s{i}.xml",
             "error_count": 0, "not_modified_count": 0, "redirect_count": 0}
            for i in range(sources)
        ])


def polled(db_url: str, since: datetime) -> int:
    from sqlalchemy import func, select

    from digest.store import Store, sources

    with Store.open(db_url) as store, store.begin() as conn:
        return int(conn.scalar(select(func.count()).select_from(sources)
                               .where(sources.c.last_fetch_at >= since)) or 0)


def run(config: Path, workers: int) -> dict[str, object]:
    """Run one round: plain ``digest poll`` (workers 0) or ``workers`` ``--round`` processes."""
    since = datetime.now(UTC)
    base = [sys.executable, "-m", "digest", "-c", str(config), "poll"]
    cmds = [base] if workers == 0 else [base + ["--round", since.isoformat()]] * workers
    start = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for c in cmds]
    peaks = []
    for proc in procs:
        _pid, _status, usage = os.wait4(proc.pid, 0)
        peaks.append(usage.ru_maxrss / 1024)
    return {"wall_s": time.perf_counter() - start, "peaks": peaks, "since": since}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--slow-delay", type=float, default=0.5)
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.serve:
        serve(int(ns.serve[0]), int(ns.serve[1]), float(ns.serve[2]))
        return 0
    from tests.worker_support import pg_database

    results = {}
    for label, workers in (("1 process (digest poll)", 0), (f"{ns.workers} workers (--round)", ns.workers)):
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(ns.sources), str(ns.hosts), str(ns.slow_delay)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            with pg_database("bench_poll") as db, tempfile.TemporaryDirectory() as tmp:
                seed(db, ns.sources, port, ns.hosts)
                config = write_config(Path(tmp), db, port, ns.sources, ns.hosts)
                result = run(config, workers)
                result["polled"] = polled(db, result["since"])  # type: ignore[arg-type]
        finally:
            server.send_signal(signal.SIGTERM)
            out, _ = server.communicate(timeout=60)
        stats = json.loads(out.strip().splitlines()[-1])
        result["most"] = max(s["most"] for s in stats.values())
        result["requests"] = sum(s["requests"] for s in stats.values())
        results[label] = result

    print(f"digest poll benchmark, PostgreSQL: {ns.sources:,} sources on {ns.hosts} loopback hosts "
          f"(6/10 304, 2/10 new, 1/10 500, 1/10 503; 1 host in 10 slow, {ns.slow_delay:g} s), "
          f"fetch.max_per_host {MAX_PER_HOST}")
    ok = True
    base_rate = None
    for label, r in results.items():
        rate = ns.sources / r["wall_s"]  # type: ignore[operator]
        base_rate = base_rate or rate
        held = r["most"] <= MAX_PER_HOST
        once = r["polled"] == ns.sources and r["requests"] == ns.sources
        ok = ok and held and once
        print(f"  {label}: {ns.sources:,} sources in {r['wall_s']:.1f} s ({rate:,.0f} sources/s, "
              f"{rate / base_rate:.2f}x)  peak per process {max(r['peaks']):.0f} MB  "  # type: ignore[arg-type]
              f"polled {r['polled']:,}, {r['requests']:,} requests; most at once on one host "
              f"{r['most']} (limit {MAX_PER_HOST}: {'held' if held else 'BROKEN'})")
    print(f"  checks (each source once, per-host limit held): {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
