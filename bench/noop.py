"""Benchmark: a cron ``digest run`` with nothing new, against ``python -c pass`` and parsing.

Sets up the demo ``config.yaml`` in a temporary folder (its database, its outbox) and runs
``digest run --at 2026-02-18T07:00:00Z`` once: every feed parsed, the edition built and sent.
Then alternates ``--repeat`` times, each in a fresh interpreter: ``python -c pass``, the
same ``digest run`` again (every source not due, the edition complete: nothing to do), that
run through ``digest.cli.main`` directly (the CLI imported with the garbage collector on and
nothing frozen, as before ``digest.__main__`` paused it), that run again from a copy of the
package without bytecode, and the demo's feed files parsed the way digest calls feedparser
(the baseline of ``bench/pipeline.py``). Prints the medians of wall and CPU time and the
ratios; the issue-14 target is a no-op run of at most 0.5 s wall.

Bytecode: ``pip install`` compiles a package's modules, and ``make install`` compiles
``digest/`` (``compileall``), so a cron job reads ``__pycache__``; this bench compiles them
first too (``digest run (no-op)``). An editable install under ``PYTHONDONTWRITEBYTECODE``
never writes them: each run then compiles every module it imports from source, which the
``no bytecode`` line measures (a copy of ``digest/`` first on ``PYTHONPATH``, run from the
temporary folder: from the checkout, ``python -m`` puts the current folder, and so the
checkout's own ``digest/`` and its bytecode, before ``PYTHONPATH``).

    python bench/noop.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import AT, REPO, child, digest_cmd  # noqa: E402


#: ``digest ARGS`` without the console script's garbage-collector pause (``digest.__main__``):
#: what a cron no-op cost before it.
_COLLECTOR_ON = "import sys; from digest.cli import main; sys.argv[0] = 'digest'; main()"


def demo_config(folder: Path) -> tuple[Path, list[str]]:
    """The demo config with its database and outbox in ``folder``; and its feed files."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{folder}/digest.db"}
    data["delivery"]["outbox_dir"] = str(folder / "outbox")
    files = []
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
        files.append(source["path"])
    for lst in data["lists"]:
        lst["subscribers"] = str(REPO / lst["subscribers"])
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path, files


def compile_package() -> None:
    """Write ``digest/``'s bytecode, as ``pip install`` and ``make install`` do."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "digest")], check=True)


def source_copy(folder: Path) -> Path:
    """A copy of ``digest/`` and ``templates/`` in ``folder`` without any ``__pycache__``:
    first on ``PYTHONPATH``, every module is compiled from source at each run."""
    for name in ("digest", "templates"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-noop-") as name:
        folder = Path(name)
        config, files = demo_config(folder)
        listing = folder / "files.json"
        listing.write_text(json.dumps(files))
        compile_package()
        copy = source_copy(folder / "src")
        plain = ["env", f"--chdir={folder}", f"PYTHONPATH={copy}", "PYTHONDONTWRITEBYTECODE=1"]
        which = [*plain, sys.executable, "-c", "import digest; print(digest.__file__)"]
        where = child(which, False)["out"].strip()
        assert where == str(copy / "digest" / "__init__.py"), where  # the copy, not the checkout
        first = child(digest_cmd(config), False)
        assert "edition 2026-02-18: sent" in first["out"], first["out"][-2000:]
        runs: dict[str, list[dict]] = {
            "python -c pass": [], "digest run (no-op)": [], "no-op, collector on": [],
            "no-op, no bytecode": [], "parse baseline": [],
        }  # fmt: skip
        # digest.cli.main called directly: the CLI imported with the collector on, nothing frozen
        collector_on = [sys.executable, "-c", _COLLECTOR_ON, *digest_cmd(config)[3:]]
        for _ in range(args.repeat):
            runs["python -c pass"].append(child([sys.executable, "-c", "pass"], False))
            for label, cmd in (
                ("digest run (no-op)", digest_cmd(config)),
                ("no-op, collector on", collector_on),
                ("no-op, no bytecode", [*plain, *digest_cmd(config)]),
            ):
                got = child(cmd, False)
                # a no-op run prints nothing (digest.quiet: cron mails any output)
                assert not got["out"].strip(), got["out"][-2000:]
                runs[label].append(got)
            bench = str(Path(__file__).resolve().parent / "pipeline.py")
            runs["parse baseline"].append(child([sys.executable, bench, "--baseline", str(listing)], False))
    print(f"demo config ({len(files)} sources), digest run --at {AT} after a first full run; "
          f"medians of {args.repeat} alternating runs; load average {os.getloadavg()[0]:.2f}")
    med = {k: (statistics.median(r["seconds"] for r in v), statistics.median(r["cpu"] for r in v))
           for k, v in runs.items()}
    for label, (wall, cpu) in med.items():
        print(f"  {label:22s} {wall:6.3f} s wall  {cpu:6.3f} s cpu")
    wall, cpu = med["digest run (no-op)"]
    print(f"  no-op / python -c pass: {wall / med['python -c pass'][0]:.1f}x wall; "
          f"no-op / parse baseline: {wall / med['parse baseline'][0]:.2f}x wall, "
          f"{cpu / med['parse baseline'][1]:.2f}x cpu; target <= 0.5 s wall: "
          f"{'met' if wall <= 0.5 else 'not met'} ({wall:.3f} s; without bytecode "
          f"{med['no-op, no bytecode'][0]:.3f} s)")
    on_wall, on_cpu = med["no-op, collector on"]
    print(f"  collector paused and frozen at start / collector on: {wall / on_wall:.3f}x wall, "
          f"{cpu / on_cpu:.3f}x cpu")


if __name__ == "__main__":
    main()
