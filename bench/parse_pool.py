"""Benchmark: what the parse pool's workers pay beyond the same parses in one warm process.

Three ways of parsing the 26 files of ``../shared/feeds/real``, alternated ``--repeat``
times, each in a fresh interpreter of the tree given (``--tree``, repeatable: trees
alternate too):

- ``pool``: :class:`digest.parsepool.ParsePool` with two workers, the bodies handed out in
  a poll's order (:func:`digest.parseorder.parse_order`); the workers' CPU (``RUSAGE_CHILDREN``, user + system) and, per
  file, the CPU of its parse in the worker (first-call costs included);
- ``pair``: two processes forked the same way, each first parsing every file once (warm),
  then both at once the half a worker would get; their CPU for that half: what running two
  parses at once on this machine costs (shared caches, other load), without first calls;
- ``warm``: every file parsed twice in one process; the CPU of the second pass.

Printed: medians of each, the pool's excess over ``warm`` split into first calls
(``pool - pair``) and running at once (``pair - warm``), and the files whose parse in a
worker exceeds their warm parse most (median over the pool runs). ``--profile`` writes a
cProfile of each pool worker of one more pool run, not counted (``parse_pool.<pid>.prof``
in the last tree's folder), and prints the top of the first one.

    python bench/parse_pool.py [--repeat 5] [--tree ../main --tree .] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FEEDS = Path(os.environ.get("DIGEST_SHARED") or REPO.parent / "shared") / "feeds" / "real"
NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


def _bodies() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(FEEDS.iterdir()) if p.suffix in (".xml", ".json")]


def _timed_parse(content: bytes, kwargs: dict[str, Any], profile_dir: str | None) -> Any:
    """Runs in a pool worker: the parse, its CPU and the worker's pid."""
    from digest import parsepool

    profiler = None
    if profile_dir:
        profiler = _WORKER_PROFILE.setdefault("p", cProfile.Profile())
        profiler.enable()
    start = time.process_time()
    try:
        result = parsepool._parse_in_worker(content, kwargs)
    finally:
        spent = time.process_time() - start
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.path.join(profile_dir or ".", f"parse_pool.{os.getpid()}.prof"))
    return result, spent, os.getpid()


_WORKER_PROFILE: dict[str, cProfile.Profile] = {}


def _child(mode: str, profile: bool) -> dict[str, Any]:
    from digest.parse import parse_feed
    from digest.parseorder import parse_order
    from digest.parsepool import ParsePool

    bodies = _bodies()
    order = parse_order([len(body) for _, body in bodies])
    if mode == "pool":  # in the order a poll hands them out (a tree before may_detect: size)
        try:
            from digest.encoding import may_detect

            order = parse_order(
                [len(body) for _, body in bodies], [may_detect(body) for _, body in bodies], workers=2
            )
        except ImportError:
            pass
    if mode == "warm":
        for _ in range(2):
            start = time.process_time()
            for name, body in bodies:
                parse_feed(body, source=name, now=NOW)
            cpu = time.process_time() - start
        return {"cpu": cpu}
    if mode == "pair":
        halves = [order[0::2], order[1::2]]
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        pids = []
        for half in halves:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the forked child
                for name, body in bodies:
                    parse_feed(body, source=name, now=NOW)
                os.write(ready_w, b"r")
                os.read(go_r, 1)
                start = time.process_time()
                for k in half:
                    parse_feed(bodies[k][1], source=bodies[k][0], now=NOW)
                os.write(out_w, f"{time.process_time() - start:.6f}\n".encode())
                os._exit(0)
            pids.append(pid)
        for _ in pids:
            os.read(ready_r, 1)
        os.write(go_w, b"gg")
        for pid in pids:
            os.waitpid(pid, 0)
        os.close(out_w)
        return {"cpu": sum(float(x) for x in os.read(out_r, 1000).split())}
    per_file: dict[str, float] = {}
    folder = os.getcwd() if profile else None
    with ParsePool(2) as pool:
        assert pool._executor is not None
        futures = [
            (bodies[k][0], pool._executor.submit(
                _timed_parse, bodies[k][1], {"source": bodies[k][0], "now": NOW}, folder
            ))
            for k in order
        ]
        workers = set()
        for name, future in futures:
            _, spent, pid = future.result()
            per_file[name] = spent
            workers.add(pid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu": usage.ru_utime + usage.ru_stime, "files": per_file, "workers": sorted(workers)}


def _warm_files() -> dict[str, float]:
    from digest.parse import parse_feed

    bodies = _bodies()
    for name, body in bodies:
        parse_feed(body, source=name, now=NOW)
    out = {}
    for name, body in bodies:
        start = time.process_time()
        parse_feed(body, source=name, now=NOW)
        out[name] = time.process_time() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", action="append", help="a digest checkout (default: this one)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, os.getcwd())
        mode, profile = args.child
        result = _warm_files() if mode == "files" else _child(mode, profile == "1")
        print(json.dumps(result))
        return
    trees = [Path(t).resolve() for t in (args.tree or [str(REPO)])]
    runs: dict[tuple[Path, str], list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for tree in trees:
            for mode in ("pool", "pair", "warm", "files"):
                runs.setdefault((tree, mode), []).append(_run(tree, mode, profile=False))
    print(f"{len(_bodies())} feeds, medians of {args.repeat} alternating rounds (CPU s):")
    for tree in trees:
        med = {m: statistics.median(r["cpu"] for r in runs[(tree, m)]) for m in ("pool", "pair", "warm")}
        print(f"  {tree}: pool workers {med['pool']:.3f}, two warm at once {med['pair']:.3f}, "
              f"one warm process {med['warm']:.3f}; first calls and pool {med['pool'] - med['pair']:+.3f}, "
              f"running at once {med['pair'] - med['warm']:+.3f}")
        warm = {n: statistics.median(r[n] for r in runs[(tree, "files")]) for n in runs[(tree, "files")][0]}
        pool = {n: statistics.median(r["files"][n] for r in runs[(tree, "pool")]) for n in warm}
        worst = sorted(warm, key=lambda n: warm[n] - pool[n])[:4]
        print("    in a worker beyond warm: " + ", ".join(f"{n} {pool[n] - warm[n]:+.3f}" for n in worst))
    if args.profile:  # one more pool run, not counted above (the profiler slows it)
        workers = _run(trees[-1], "pool", profile=True)["workers"]
        pstats.Stats(str(trees[-1] / f"parse_pool.{workers[0]}.prof")).sort_stats("tottime").print_stats(15)


def _run(tree: Path, mode: str, *, profile: bool) -> dict[str, Any]:
    python = tree / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(python if python.exists() else sys.executable), str(Path(__file__).resolve()),
         "--child", mode, "1" if profile else "0"],
        cwd=tree, capture_output=True, text=True, check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


if __name__ == "__main__":
    main()
