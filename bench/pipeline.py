"""Benchmark: what ``digest run`` costs against parsing the same feeds with feedparser alone.

Baseline (the honest one, issue 14): every feed file parsed the way digest parses it --
feedparser with its sanitiser and relative-URL resolution off (``sanitize_html=False``,
``resolve_relative_uris=False``, as :func:`digest.parse._parse_xml` calls it), and the JSON
Feeds with :func:`json.loads` -- in a fresh interpreter (start-up and imports included).

Measured: ``digest run`` itself (the console command, in a fresh interpreter, on a new
database) with the demo ``config.yaml`` whose sources are replaced by the same feed files:
poll (read, parse, normalise, sanitise, store), build (select, dedupe, cluster, rank,
sections), render (Jinja2, MJML, premailer) and deliver to the outbox, in a temporary folder.

The two alternate (baseline, pipeline, baseline, ...) ``--repeat`` times, each in its own
process, so the peak memory (``ru_maxrss`` of that child) of one does not hide the other's;
the medians of wall time are compared as a ratio. Each comparison is made pinned to one core
(``taskset -c 0``) and on every core. ``--scale N`` (repeatable) makes N synthetic copies
of every feed (distinct ids, URLs and title suffixes, in a temporary folder, one source
per copy) and prints how time and memory grow against the first scale. ``--noop`` adds a
second ``digest run`` on the same database (what a cron job pays when nothing changed).

    python bench/pipeline.py [--repeat 5] [--scale 1 --scale 10] [--cores one|all|both]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
FEEDS = Path(os.environ.get("DIGEST_SHARED") or REPO.parent / "shared") / "feeds" / "real"
AT = "2026-02-18T07:00:00Z"


def feed_files(folder: Path = FEEDS) -> list[Path]:
    """The feed files of ``folder`` (``.xml`` and ``.json``), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".xml", ".json"))


# -- synthetic copies ----------------------------------------------------------------------

_ELEMENT = {
    name: re.compile(rb"(<%s(?:\s[^>]*)?>)(.*?)(</%s>)" % (name, name), re.S)
    for name in (b"title", b"guid", b"id", b"link")
}
_HREF = re.compile(rb"(<link\b[^>]*?\bhref=[\"'])([^\"']*)")
_RDF_ABOUT = re.compile(rb"(<item\b[^>]*?\brdf:about=[\"'])([^\"']*)")


def _copy_url(value: bytes, k: int) -> bytes:
    return value.replace(b"://", b"://c%d." % k, 1) if b"://" in value else value + b"-c%d" % k


def _suffix(value: bytes, k: int) -> bytes:
    tail = b" c%d" % k
    return value[:-3] + tail + b"]]>" if value.endswith(b"]]>") else value + tail


def copy_feed(content: bytes, k: int, *, is_json: bool) -> bytes:
    """Feed ``content`` as its ``k``-th synthetic copy: every id and URL of an item made
    distinct (``://`` becomes ``://c<k>.``, a non-URL id gets ``-c<k>``) and every title
    suffixed `` c<k>``, so no copy is a duplicate of another to dedupe or the store."""
    if is_json:
        data = json.loads(content)
        for item in data.get("items") or []:
            for key in ("id", "url", "external_url"):
                if isinstance(item.get(key), str):
                    item[key] = _copy_url(item[key].encode(), k).decode()
            if isinstance(item.get("title"), str):
                item["title"] = f"{item['title']} c{k}"
        return json.dumps(data).encode()
    out = _ELEMENT[b"title"].sub(lambda m: m[1] + _suffix(m[2], k) + m[3], content)
    for name in (b"guid", b"id", b"link"):
        out = _ELEMENT[name].sub(lambda m: m[1] + _copy_url(m[2], k) + m[3], out)
    out = _HREF.sub(lambda m: m[1] + _copy_url(m[2], k), out)
    return _RDF_ABOUT.sub(lambda m: m[1] + _copy_url(m[2], k), out)


def make_feeds(scale: int, folder: Path) -> list[Path]:
    """The real feed files at ``scale`` 1, else ``scale`` copies of each written into
    ``folder``."""
    if scale == 1:
        return feed_files()
    folder.mkdir(parents=True, exist_ok=True)
    for path in feed_files():
        content = path.read_bytes()
        for k in range(scale):
            target = folder / f"{path.stem}-c{k}{path.suffix}"
            target.write_bytes(copy_feed(content, k, is_json=path.suffix == ".json"))
    return feed_files(folder)


def write_config(files: list[Path], folder: Path) -> Path:
    """The demo ``config.yaml`` with ``files`` as its sources and every path in ``folder``."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{folder}/digest.db"}
    data["delivery"]["outbox_dir"] = str(folder / "outbox")
    data["sources"] = [
        {"name": re.sub(r"[^a-z0-9-]", "-", p.stem.lower())[:60], "title": p.stem, "path": str(p)}
        for p in files
    ]
    for lst in data["lists"]:
        lst["subscribers"] = str(REPO / lst["subscribers"])
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- the two sides, each in a child process --------------------------------------------------


def baseline(files: list[str]) -> dict[str, int]:
    """Parse ``files`` as digest asks feedparser to (JSON Feeds with :mod:`json`)."""
    import io

    import feedparser

    items = 0
    for name in files:
        content = Path(name).read_bytes()
        if name.endswith(".json"):
            items += len(json.loads(content).get("items") or [])
        else:
            d = feedparser.parse(io.BytesIO(content), resolve_relative_uris=False, sanitize_html=False)
            items += len(d.entries)
    return {"items": items}


def stages(config_path: str) -> dict[str, float]:
    """Where one ``digest run`` (fresh database) spends its CPU time, in seconds: the imports of
    each stage first (timed one after another), then each step of the run, timed by
    wrapping the pipeline's functions. Printed with ``--stages``; not part of the ratio."""
    import importlib

    sys.path.insert(0, str(REPO))
    times: dict[str, float] = {}

    def clock(name: str, fn, *args, **kwargs):
        start = time.process_time()  # CPU seconds: these machines are shared and noisy
        try:
            return fn(*args, **kwargs)
        finally:
            times[name] = times.get(name, 0.0) + time.process_time() - start

    for name, modules in {
        "import cli, config, store, pipeline": ["digest.cli", "digest.pipeline"],
        "import fetch, parse (feedparser, httpx)": ["digest.fetch", "digest.parse"],
        "import cluster (numpy, scipy.sparse, tfidf)": [
            "digest.cluster", "digest.tfidf", "digest.linkage", "scipy.sparse",
        ],
        "import rank, topics": ["digest.rank", "digest.topics"],
        "import render (jinja2, mjml, premailer)": ["digest.render", "premailer"],
        "import message, deliver, outbox": ["digest.message", "digest.deliver", "digest.transports.outbox", "digest.subscribers"],
    }.items():
        clock(name, lambda ms: [importlib.import_module(m) for m in ms], modules)
    from digest import cluster, edition, embed, noise, parse, pipeline, rank, render, topics
    from digest.config import load_config
    from digest.store import Store

    real_embed = embed.embed
    wrap = [
        (parse, "parse_feed", "poll: parse_feed"),
        (pipeline.Store, "store_poll", "poll: store entries"),
        (noise, "split_noise", "build: noise"),
        (cluster, "dedupe", "build: dedupe"),
        (cluster, "cluster", "build: cluster (incl. embeddings)"),
        (embed, "embed", "build: embeddings (wordllama)"),
        (rank, "rank", "build: rank"),
        (topics, "assign_sections", "build: sections"),
        (render, "render_edition", "render: render_edition"),
        (render, "inline_css", "render: premailer (inline_css)"),
        (pipeline, "deliver_edition", "deliver: outbox"),
    ]
    for owner, attr, label in wrap:
        real = getattr(owner, attr)

        def wrapped(*a, _real=real, _label=label, **k):
            return clock(_label, _real, *a, **k)

        setattr(owner, attr, wrapped)
    del real_embed
    from datetime import datetime

    config = clock("load config", load_config, config_path)
    at = datetime.fromisoformat(AT.replace("Z", "+00:00"))
    with clock("open store (new database: migrations)", Store.open, config.database.url) as store:
        clock("run (total)", pipeline.run, config, store, now=at, at=at, clock=lambda: at)
    return times


def child(cmd: list[str], pin: bool) -> dict[str, float]:
    """Run ``cmd`` and measure it with ``os.wait4`` (this child's own ``ru_maxrss``)."""
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "out": out.decode(errors="replace"),
    }


def digest_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "digest", "--config", str(config), "run", "--at", AT]


def measure(files: list[Path], repeat: int, pin: bool, noop: bool, tmp: Path) -> dict[str, list]:
    """Alternate the baseline and ``digest run`` ``repeat`` times; every run's figures."""
    listing = tmp / "files.json"
    listing.write_text(json.dumps([str(p) for p in files]))
    runs: dict[str, list] = {"baseline": [], "pipeline": [], "noop": []}
    for i in range(repeat):
        runs["baseline"].append(
            child([sys.executable, __file__, "--baseline", str(listing)], pin)
        )
        work = tmp / f"run{i}"
        work.mkdir()
        config = write_config(files, work)
        runs["pipeline"].append(child(digest_cmd(config), pin))
        if noop:
            runs["noop"].append(child(digest_cmd(config), pin))
        shutil.rmtree(work)
    return runs


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _list(runs: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in runs)


def _summary(out: str) -> str:
    """What ``digest run`` printed about the list (stories, deliveries)."""
    keep = [line.strip() for line in out.splitlines() if "stories in" in line or "deliveries:" in line]
    return "; ".join(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="FILES_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--stages", action="store_true", help="print where one run's time goes")
    parser.add_argument("--stages-child", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=int, action="append")
    parser.add_argument("--cores", choices=["one", "all", "both"], default="both")
    parser.add_argument("--noop", action="store_true", help="also time a second run (nothing new)")
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline(json.loads(Path(args.baseline).read_text()))))
        return
    if args.stages_child:
        print(json.dumps(stages(args.stages_child)))
        return
    if args.stages:
        with tempfile.TemporaryDirectory(prefix="digest-bench-") as name:
            config = write_config(feed_files(), Path(name))
            got = child([sys.executable, __file__, "--stages-child", str(config)], False)
            times = json.loads(got["out"].strip().splitlines()[-1])
        print(f"one digest run, 1x, fresh database, in-process: {got['seconds']:.2f} s wall, "
              f"cpu {got['cpu']:.2f} s")
        for label, seconds in times.items():
            print(f"  {label:45s} {seconds:6.2f} s")
        return
    scales = args.scale or [1]
    modes = {"one": [True], "all": [False], "both": [True, False]}[args.cores]
    first: dict[bool, dict[str, float]] = {}
    print(f"feeds: {len(feed_files())} files in {FEEDS}; cores here: {os.cpu_count()}; "
          f"digest run --at {AT}; medians of {args.repeat} alternating runs")
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix="digest-bench-") as name:
            tmp = Path(name)
            files = make_feeds(scale, tmp / "feeds")
            for pin in modes:
                runs = measure(files, args.repeat, pin, args.noop, tmp)
                base, ours = runs["baseline"], runs["pipeline"]
                b, p = _median(base, "seconds"), _median(ours, "seconds")
                items = json.loads(base[0]["out"].strip().splitlines()[-1])["items"]
                where = "one core (taskset -c 0)" if pin else f"all {os.cpu_count()} cores"
                print(f"\nscale {scale}x: {len(files)} feeds, {items} items, {where}")
                print(f"  baseline (feedparser as digest calls it + json): {b:6.2f} s  "
                      f"cpu {_median(base, 'cpu'):.2f} s  peak RSS {_median(base, 'rss_mb'):.0f} MB")
                print(f"  digest run (whole pipeline)                    : {p:6.2f} s  "
                      f"cpu {_median(ours, 'cpu'):.2f} s  peak RSS {_median(ours, 'rss_mb'):.0f} MB"
                      f"  [{_summary(ours[0]['out'])}]")
                cpu_ratio = _median(ours, "cpu") / _median(base, "cpu")
                print(f"  ratio pipeline / baseline: {p / b:.2f}x wall, {cpu_ratio:.2f}x cpu "
                      f"(runs: {_list(ours)} vs {_list(base)})")
                if runs["noop"]:
                    n = _median(runs["noop"], "seconds")
                    print(f"  second digest run, nothing new: {n:.2f} s wall, "
                          f"cpu {_median(runs['noop'], 'cpu'):.2f} s ({n / b:.2f}x the baseline)")
                ref = first.setdefault(pin, {"b": b, "p": p, "rss": _median(ours, "rss_mb"), "scale": scale})
                if ref["scale"] != scale:
                    grow = scale / ref["scale"]
                    print(f"  growth vs {ref['scale']}x ({grow:.0f}x the feeds): baseline "
                          f"{b / ref['b']:.1f}x, pipeline {p / ref['p']:.1f}x time, "
                          f"pipeline peak RSS {_median(ours, 'rss_mb') / ref['rss']:.1f}x")


if __name__ == "__main__":
    main()
