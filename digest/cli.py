"""The ``digest`` command. Thin: each command parses options, calls the library, prints.

Exit codes: 0 success, 1 when something failed (a source, a list, a delivery), 2 for usage
or configuration errors.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from digest.config import Config, load_config
from digest.exceptions import ConfigError, DigestError
from digest.types import ListReport, RunReport, SourceReport

# Piped output (cron mail, logs) gets wide lines instead of rich's 80-column fallback.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class DigestTime(click.ParamType):
    """An ISO 8601 time such as ``2026-02-18T07:00Z``; naive times are taken as UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-02-18T07:00Z", param, ctx)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


TIME = DigestTime()


def _setup_logging(verbose: int, as_json: bool) -> None:
    level = logging.WARNING - 10 * verbose
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s %(message)s"))
    root = logging.getLogger("digest")
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.DEBUG))
    root.propagate = False


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    default="config.yaml",
    envvar="DIGEST_CONFIG",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Configuration file.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--log-json", is_flag=True, help="Log as JSON lines instead of key=value.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: int, log_json: bool) -> None:
    """Build news digests from feeds and deliver them to subscriber lists."""
    _setup_logging(verbose, log_json)
    ctx.obj = {"config_path": config_path}


def _config(ctx: click.Context) -> Config:
    try:
        return load_config(ctx.obj["config_path"])
    except ConfigError as exc:
        err_console.print(f"[bold red]config error[/] in {escape(str(ctx.obj['config_path']))}:")
        err_console.print(str(exc), markup=False, highlight=False)
        ctx.exit(2)
        raise  # unreachable; keeps type checkers happy


@contextmanager
def _store(ctx: click.Context, config: Config) -> Iterator[Any]:
    from digest.store import Store

    try:
        store = Store.open(config.database.url)
    except DigestError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False)
        ctx.exit(1)
    try:
        yield store
    finally:
        store.close()


def _list_config(ctx: click.Context, config: Config, name: str) -> Any:
    try:
        return config.list(name)
    except KeyError:
        names = ", ".join(lst.name for lst in config.lists)
        raise click.BadParameter(f"no list {name!r}; lists: {names}", param_hint="LIST") from None


def _now() -> datetime:
    from digest.pipeline import utcnow

    return utcnow()


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on stderr (only on a terminal); yields the per-source callback."""
    with Progress(
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("", total=total)

        def advance(report: SourceReport) -> None:
            bar.update(task, advance=1, description=report.source)

        yield advance


def _print_sources(reports: list[SourceReport]) -> None:
    table = Table(title="Sources", title_justify="left")
    for column in ("source", "status", "http", "new", "seen", "error / warnings"):
        table.add_column(column, overflow="fold")
    for r in reports:
        style = {"ok": "green", "not-modified": "cyan", "failed": "bold red"}.get(r.status, "")
        note = r.error or ("; ".join(r.warnings[:2]) + (" …" if len(r.warnings) > 2 else ""))
        table.add_row(
            Text(r.source),
            Text(r.status, style=style),
            str(r.http_status or "-"),
            str(r.new_entries),
            str(r.seen_entries),
            Text(note),
        )
    console.print(table)


def _print_lists(reports: list[ListReport]) -> None:
    """One paragraph per list: what was built and delivered, or why not."""
    for r in reports:
        style = {"sent": "green", "exists": "cyan", "empty": "yellow", "failed": "bold red"}.get(r.status, "")
        console.print(
            f"[bold]list {r.list_name}[/] edition {r.period or '-'}: [{style}]{r.status}[/]",
            highlight=False,
        )
        if r.sections:
            console.print(
                f"  {r.stories} stories in {r.sections} sections, {r.recipients} recipients",
                highlight=False,
            )
        if r.deliveries:
            counts = ", ".join(f"{n} {state}" for state, n in sorted(r.deliveries.items()))
            console.print(f"  deliveries: {counts}", highlight=False)
        if r.message:
            console.print(f"  {r.message}", markup=False, highlight=False)
        if r.out_dir:
            console.print(f"  files: {r.out_dir}", markup=False, highlight=False)


def _finish(ctx: click.Context, report: RunReport) -> None:
    if report.sources:
        _print_sources(report.sources)
    if report.lists:
        _print_lists(report.lists)
    for error in report.errors:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    failed = [s.source for s in report.sources if s.status == "failed"]
    if failed:
        err_console.print(f"[red]{len(failed)} source(s) failed:[/] {escape(', '.join(failed))}")
    ctx.exit(0 if report.ok else 1)


@cli.command()
@click.option("--live", is_flag=True, help="Fetch each source's URL even where a local path is set.")
@click.option("--source", "only", multiple=True, help="Poll only this source (repeatable).")
@click.pass_context
def poll(ctx: click.Context, live: bool, only: tuple[str, ...]) -> None:
    """Fetch every source and store new entries."""
    from digest.pipeline import poll as poll_sources

    config = _config(ctx)
    sources = [s for s in config.sources if not only or s.name in only]
    with _store(ctx, config) as store:
        now = _now()
        report = RunReport(started_at=now)
        with _progress(len([s for s in sources if s.enabled])) as advance:
            report.sources = poll_sources(config, store, now=now, sources=sources, live=live, progress=advance)
    _finish(ctx, report)


@cli.command()
@click.argument("list_name", metavar="LIST")
@click.option("--at", type=TIME, help="Build the edition due at this time (default: now).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for the files (default: build/<list>/<period>).")
@click.option("--explain", is_flag=True, help="Print each story's score and the reasons for it.")
@click.option("--json", "as_json", is_flag=True, help="Print the stories (entries' URLs, sections, reasons) as JSON.")
@click.pass_context
def build(ctx: click.Context, list_name: str, at: datetime | None, out_dir: str | None, explain: bool, as_json: bool) -> None:
    """Build an edition from stored entries into files; sends nothing, stores nothing."""
    from digest.message import public_copy
    from digest.pipeline import build as build_edition
    from digest.transports.outbox import write_edition_files

    config = _config(ctx)
    list_config = _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
        now = _now()
        try:
            built = build_edition(config, store, list_config, at=at or now, now=now)
        except DigestError as exc:
            err_console.print(f"[bold red]build failed:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)
    if built is None:
        err_console.print("the list's schedule has no send time before that time")
        ctx.exit(1)
    edition = built.edition
    if as_json:
        from digest.explain import edition_json

        click.echo(json.dumps(edition_json(edition), indent=2, ensure_ascii=False))
        ctx.exit(0 if edition.stories else 1)
    folder = Path(out_dir) if out_dir else config.root / "build" / list_config.name / edition.period
    try:
        write_edition_files(folder, public_copy(built.main, site=config.site))
    except OSError as exc:
        err_console.print(f"[bold red]cannot write {escape(str(folder))}:[/] {escape(str(exc))}")
        ctx.exit(1)
    console.print(
        f"[bold]{escape(list_config.title)}[/] {edition.period}: {len(edition.stories)} stories in "
        f"{len(edition.sections)} sections, window {edition.window_start:%Y-%m-%d %H:%M} → "
        f"{edition.window_end:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    console.print(f"subject: {built.main.subject}", markup=False, highlight=False)
    console.print(f"files: {folder}/edition.html, {folder}/edition.txt", markup=False, highlight=False)
    if explain:
        _print_explain(built.edition)
    if not edition.stories:
        err_console.print("the edition is empty: no stories in its window")
        ctx.exit(1)


def _print_explain(edition: Any) -> None:
    table = Table(title="Why each story is where it is", title_justify="left", show_lines=False)
    for column in ("#", "section", "score", "story", "outlets", "reasons"):
        table.add_column(column, overflow="fold")
    position = 0
    for section in edition.sections:
        for story in section.stories:
            position += 1
            reasons = ", ".join(f"{r.name}={r.value:.3g}" for r in story.reasons)
            if story.section_reason:
                reasons += f"; section: {story.section_reason}"
            table.add_row(
                str(position),
                Text(section.title),
                f"{story.score:.3f}",
                Text(story.lead.title + (" [update]" if story.update else "")),
                Text(", ".join(story.sources)),
                Text(reasons),
            )
    console.print(table)
    if edition.left_out:
        left = Table(title="Left out as not news", title_justify="left")
        for column in ("source", "entry", "kind", "reason"):
            left.add_column(column, overflow="fold")
        for item in edition.left_out:
            left.add_row(Text(item.entry.source), Text(item.entry.title), item.kind, Text(item.reason))
        console.print(left)


@cli.command()
@click.argument("list_name", metavar="LIST")
@click.option("--at", type=TIME, help="Send the edition due at this time (default: now).")
@click.pass_context
def send(ctx: click.Context, list_name: str, at: datetime | None) -> None:
    """Build, store and deliver one list's edition (without polling first)."""
    from digest.pipeline import publish

    config = _config(ctx)
    list_config = _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
        now = _now()
        report = RunReport(started_at=now)
        try:
            report.lists.append(publish(config, store, list_config, at=at or now, now=now))
        except DigestError as exc:
            report.lists.append(ListReport(list_name=list_name, status="failed", message=str(exc)))
    _finish(ctx, report)


@cli.command()
@click.option("--at", type=TIME, help="Deliver the editions due at this time (default: now).")
@click.option("--list", "lists", multiple=True, help="Only this list (repeatable).")
@click.option("--live", is_flag=True, help="Fetch each source's URL even where a local path is set.")
@click.pass_context
def run(ctx: click.Context, at: datetime | None, lists: tuple[str, ...], live: bool) -> None:
    """Poll every source, then build and deliver every list that is due."""
    from digest.pipeline import run as run_pipeline

    config = _config(ctx)
    for name in lists:
        _list_config(ctx, config, name)
    with _store(ctx, config) as store:
        now = _now()
        with _progress(len([s for s in config.sources if s.enabled])) as advance:
            report = run_pipeline(
                config, store, now=now, at=at, lists=lists, live=live, progress=advance
            )
    _finish(ctx, report)


@cli.command()
@click.argument("location")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.option("--limit", default=20, show_default=True, help="Entries to show (0: all).")
@click.pass_context
def inspect(ctx: click.Context, location: str, as_json: bool, limit: int) -> None:
    """Fetch or read one feed (a configured source name, a URL or a file path) and print its
    normalised entries. Nothing is stored."""
    from digest.config import FetchConfig
    from digest.fetch import fetch
    from digest.parse import parse_feed

    settings = FetchConfig()
    name = location
    language = None
    try:
        config = load_config(ctx.obj["config_path"])
        settings = config.fetch
        try:
            src = config.source(location)
            name, location, language = src.name, src.location, src.language
        except KeyError:
            pass
    except ConfigError:
        config = None
    if "://" not in location and not Path(location).is_absolute():
        if not Path(location).exists():
            known = ", ".join(s.name for s in config.sources) if config else "(no config)"
            raise click.BadParameter(
                f"{location!r} is not a configured source, a URL or an existing file; "
                f"sources: {known}",
                param_hint="SOURCE",
            )
        location = str(Path(location).resolve())
    now = _now()
    try:
        result = fetch(location, source=name, settings=settings, now=now, allow_files=True)
        feed = parse_feed(
            result.content, source=name, now=now, url=result.url, headers=result.headers, language=language
        )
    except DigestError as exc:
        err_console.print(f"[bold red]failed:[/] {escape(str(exc))}", highlight=False)
        ctx.exit(1)
    shown = feed.entries if limit == 0 else feed.entries[:limit]
    if as_json:
        from dataclasses import asdict

        payload = {
            "source": name,
            "url": result.url,
            "status": result.status,
            "kind": feed.kind,
            "title": feed.title,
            "language": feed.language,
            "warnings": list(feed.warnings),
            "entries": [asdict(e) for e in shown],
        }
        click.echo(json.dumps(payload, default=str, ensure_ascii=False, indent=2))
        return
    console.print(
        f"[bold]{escape(feed.title or name)}[/] ({feed.kind}, {len(feed.entries)} entries, status {result.status or 'file'})",
        highlight=False,
    )
    table = Table(show_lines=False)
    for column in ("published (UTC)", "title", "link", "id"):
        table.add_column(column, overflow="fold")
    for e in shown:
        when = f"{e.published:%Y-%m-%d %H:%M}" if e.published else "(none)"
        table.add_row(when, Text(e.title), Text(e.url or "-"), Text(e.entry_id))
    console.print(table)
    for warning in feed.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)


@cli.group("sources", invoke_without_command=True)
@click.pass_context
def sources_group(ctx: click.Context) -> None:
    """Each source's state: last fetch, status, last error, next poll."""
    if ctx.invoked_subcommand is not None:
        return
    config = _config(ctx.find_root())
    with _store(ctx, config) as store:
        states = store.source_states()
    table = Table(title="Sources", title_justify="left")
    for column in ("source", "state", "http", "last fetch (UTC)", "last new", "errors", "next poll", "last error"):
        table.add_column(column, overflow="fold")
    for src in config.sources:
        st = states.get(src.name)
        if st is None:
            table.add_row(src.name, "never polled", "-", "-", "-", "0", "-", "")
            continue
        state = "disabled" if st.disabled_reason else (st.last_status or "-")
        fmt = lambda t: f"{t:%Y-%m-%d %H:%M}" if t else "-"  # noqa: E731
        table.add_row(
            src.name,
            Text(state if src.enabled else "off in config"),
            str(st.last_http_status or "-"),
            fmt(st.last_fetch_at),
            fmt(st.last_new_at),
            str(st.error_count),
            fmt(st.next_poll_at),
            Text(st.disabled_reason or st.last_error or ""),
        )
    console.print(table)


@sources_group.command("enable")
@click.argument("name")
@click.pass_context
def sources_enable(ctx: click.Context, name: str) -> None:
    """Re-enable a source that was disabled (for example after 410 Gone) and poll it next run."""
    config = _config(ctx.find_root())
    try:
        config.source(name)
    except KeyError:
        raise click.BadParameter(f"no source {name!r}", param_hint="NAME") from None
    with _store(ctx, config) as store:
        store.record_source(name, disabled_reason=None, error_count=0, next_poll_at=None)
    console.print(f"{name}: enabled; it is polled on the next run")


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the config file and say what it describes."""
    config = _config(ctx.find_root())
    missing = [s.name for s in config.sources if s.path is not None and not s.path.exists()]
    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    console.print(
        f"ok: {count(len(config.sources), 'source')}, {count(len(config.topics), 'topic')}, "
        f"{count(len(config.lists), 'list')}; "
        f"database {config.database.url}; transport {config.delivery.transport}",
        highlight=False,
    )
    for name in missing:
        err_console.print(
            f"[yellow]warning:[/] source {name}: file {escape(str(config.source(name).path))} does not exist"
        )


# --- evaluation and topic-model commands (digest.evaluate, digest.topics) ---------------------


@cli.group("eval")
def eval_group() -> None:
    """Score clustering and sectioning on labelled JSONL files (id, title, text, story|label)."""


@eval_group.command("clusters")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--title-only", is_flag=True, help="Ignore the text field.")
def eval_clusters(file: str, title_only: bool) -> None:
    """B-cubed and pairwise P/R/F1, NMI, cluster count, time and peak memory on FILE."""
    from digest.evaluate import evaluate_clusters, load_jsonl
    from digest.exceptions import DigestError

    try:
        s = evaluate_clusters(load_jsonl(file), title_only=title_only)
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"items {s.items}  gold stories {s.gold_clusters}  clusters {s.clusters}")
    click.echo(
        f"B-cubed   P {s.bcubed_precision:.4f}  R {s.bcubed_recall:.4f}  F1 {s.bcubed_f1:.4f}"
    )
    click.echo(
        f"pairwise  P {s.pairwise_precision:.4f}  R {s.pairwise_recall:.4f}  F1 {s.pairwise_f1:.4f}"
    )
    click.echo(f"NMI {s.nmi:.4f}  AMI {s.ami:.4f}  ARI {s.ari:.4f}")
    click.echo(
        f"wall time {s.seconds:.2f} s  peak memory {s.peak_bytes / 2**20:.0f} MiB (tracemalloc)"
    )


@eval_group.command("stories")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_name", help="Use this list's sources, topics and model (default: the first list).")
@click.pass_context
def eval_stories(ctx: click.Context, file: str, list_name: str | None) -> None:
    """The whole build path (noise, dedupe, cluster, rank, sections) scored on a labelled FILE."""
    from digest.evaluate import evaluate_stories, load_jsonl

    config = _config(ctx)
    if list_name is None and not config.lists:
        raise click.ClickException("the configuration has no list")
    list_config = _list_config(ctx, config, list_name) if list_name else config.lists[0]
    try:
        s = evaluate_stories(load_jsonl(file), config, list_config)
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"items {s.items}  gold stories {s.gold_stories}  stories {s.stories}  list {list_config.name}")
    click.echo(f"B-cubed P {s.bcubed_precision:.4f} R {s.bcubed_recall:.4f} F1 {s.bcubed_f1:.4f}")
    click.echo(f"pairwise P {s.pairwise_precision:.4f} R {s.pairwise_recall:.4f} F1 {s.pairwise_f1:.4f}")
    click.echo(f"sections macro-F1 {s.sections_macro_f1:.4f}  " + "  ".join(f"{k} {v:.2f}" for k, v in s.per_section_f1.items()))
    click.echo(f"noise P {s.noise_precision:.4f} R {s.noise_recall:.4f}  (left out {s.noise_found}, gold {s.noise_gold})")


@eval_group.command("topics")
@click.option("--train", "train_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--test", "test_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--title-only", is_flag=True, help="Ignore the text field.")
def eval_topics(train_file: str, test_file: str, title_only: bool) -> None:
    """Train the section classifier on --train and print macro-F1, per-label F1, confusion."""
    from digest.evaluate import evaluate_topics, load_jsonl
    from digest.exceptions import DigestError

    try:
        s = evaluate_topics(load_jsonl(train_file), load_jsonl(test_file), title_only=title_only)
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"items {s.items}  macro-F1 {s.macro_f1:.4f}  accuracy {s.accuracy:.4f}  ({s.seconds:.1f} s)"
    )
    for label in s.labels:
        click.echo(f"  {label:<16} F1 {s.per_label_f1[label]:.4f}")
    width = max(6, *(len(label) for label in s.labels))
    click.echo("confusion (rows: gold, columns: predicted)")
    click.echo(" " * (width + 1) + " ".join(f"{label[:width]:>{width}}" for label in s.labels))
    for label, row in zip(s.labels, s.confusion, strict=True):
        click.echo(f"{label:<{width}} " + " ".join(f"{n:>{width}}" for n in row))


@cli.group("topics")
def topics_group() -> None:
    """Section classifier learned from labelled examples."""


@topics_group.command("fit")
@click.argument("examples", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="Model file to write."
)
@click.option("--title-only", is_flag=True, help="Ignore the text field.")
def topics_fit(examples: str, out: str, title_only: bool) -> None:
    """Train a classifier on EXAMPLES (JSONL: title, text, label = topic name) and save it."""
    from digest.evaluate import load_jsonl
    from digest.exceptions import DigestError
    from digest.topics import example_text, fit_classifier, save_model

    try:
        rows = load_jsonl(examples)
        if any("label" not in r for r in rows):
            raise DigestError("every example needs a 'label' (a topic name)")
        model = fit_classifier(
            [example_text(r["title"], "" if title_only else r.get("text", "")) for r in rows],
            [str(r["label"]) for r in rows],
        )
        save_model(model, out)
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out}: {len(rows)} examples, labels {', '.join(model.labels)}")


@cli.command()
@click.option("--tick-seconds", type=float, hidden=True, help="Override scheduler.tick_seconds (tests).")
@click.option("--lease-seconds", type=float, hidden=True, help="Override scheduler.lease_seconds (tests).")
@click.pass_context
def schedule(ctx: click.Context, tick_seconds: float | None, lease_seconds: float | None) -> None:
    """Run the scheduler service in the foreground: poll sources on their intervals and
    build and deliver each list at its scheduled time, until SIGTERM or Ctrl-C.

    Only one scheduler acts per database (a lease in the store); another one waits and
    names the holder."""
    from digest import scheduler as sched

    config = _config(ctx)
    settings = sched.settings_of(config)
    overrides: dict[str, float] = {}
    if tick_seconds is not None:
        overrides["tick_seconds"] = tick_seconds
    if lease_seconds is not None:
        overrides.update(
            lease_seconds=lease_seconds,
            renew_seconds=lease_seconds / 3,
            wait_seconds=min(settings.wait_seconds, lease_seconds / 3),
        )
    if overrides:
        settings = sched.SchedulerSettings.model_validate({**settings.model_dump(), **overrides})
    with _store(ctx, config) as store:
        try:
            jobs = sched.jobs_from_env(config, store)
        except DigestError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(2)
        service = sched.Service(config, store, jobs=jobs, settings=settings)
        sched.install_signal_handlers(service.request_stop)
        timer_log = logging.getLogger("apscheduler")  # its warnings in our format
        timer_log.handlers[:] = logging.getLogger("digest").handlers
        timer_log.setLevel(logging.WARNING)
        timer_log.propagate = False

        def waiting(info: Any) -> None:
            if info is None:
                err_console.print("waiting for the scheduler lease", highlight=False)
                return
            err_console.print(
                f"waiting: another scheduler holds the lease: {escape(info.holder)} "
                f"(since {info.acquired_at:%Y-%m-%d %H:%M:%S} UTC, renewed until "
                f"{info.expires_at:%H:%M:%S} UTC)",
                highlight=False,
            )

        from sqlalchemy.engine import make_url

        where = make_url(config.database.url).render_as_string(hide_password=True)
        err_console.print(f"scheduler {escape(service.lease.holder)} starting on {escape(str(where))}", highlight=False)
        try:
            code = service.serve(on_wait=waiting)
        except DigestError as exc:
            err_console.print(f"[bold red]scheduler failed:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)
        err_console.print("scheduler stopped", highlight=False)
    ctx.exit(code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the next run of every job, each list's last run and deliveries, failing or
    silent sources, and who holds the scheduler lease."""
    from digest.lease import utcnow
    from digest.status import gather

    config = _config(ctx)
    with _store(ctx, config) as store:
        try:
            state = gather(config, store, now=utcnow())
        except DigestError as exc:
            err_console.print(f"[bold red]status failed:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)
    if as_json:
        click.echo(json.dumps(state.to_dict(), ensure_ascii=False, indent=2))
        return
    _print_status(state)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "-"


def _print_status(state: Any) -> None:
    lease = state.lease
    if lease is None:
        console.print("scheduler lease: [yellow]free[/] (no scheduler is running)")
    elif state.lease_expired:
        console.print(
            f"scheduler lease: [red]expired[/] {_when(lease.expires_at)}, last held by {escape(lease.holder)}",
            highlight=False,
        )
    else:
        console.print(
            f"scheduler lease: held by [bold]{escape(lease.holder)}[/] since {_when(lease.acquired_at)}, "
            f"until {lease.expires_at:%H:%M:%S} UTC",
            highlight=False,
        )
    jobs = Table(title="Next runs", title_justify="left")
    for column in ("job", "next run", "timer", "note"):
        jobs.add_column(column, overflow="fold")
    for job in state.jobs:
        timer = state.timer.get(job.id if job.kind != "poll" else "tick")
        jobs.add_row(
            Text(job.id), _when(job.next_run), _when(timer) if job.id in state.timer else "", Text(job.note)
        )
    console.print(jobs)
    lists = Table(title="Lists", title_justify="left")
    for column in ("list", "schedule", "next send", "last edition", "deliveries", "last run"):
        lists.add_column(column, overflow="fold")
    for item in state.lists:
        edition = item.last_edition
        run = item.last_run
        lists.add_row(
            Text(item.name),
            Text(item.schedule),
            _when(item.next_send),
            f"{edition['period']} {edition['status']}, {edition['stories']} stories" if edition else "-",
            ", ".join(f"{k} {v}" for k, v in sorted((edition or {}).get("deliveries", {}).items())) or "-",
            Text(f"{_when(run['at'])} {run['status']} {run.get('message', '')}".strip() if run else "-"),
        )
    console.print(lists)
    totals = ", ".join(f"{k} {v}" for k, v in sorted(state.deliveries.items())) or "none"
    console.print(f"deliveries: {totals}", highlight=False)
    if state.sources:
        table = Table(title="Sources needing a look", title_justify="left")
        for column in ("source", "problem", "detail"):
            table.add_column(column, overflow="fold")
        for source in state.sources:
            style = "bold red" if source.problem == "failing" else "yellow"
            table.add_row(Text(source.name), Text(source.problem, style=style), Text(source.detail))
        console.print(table)
    else:
        console.print("sources: none failing or silent")
    if state.runs:
        table = Table(title="Recent runs", title_justify="left")
        for column in ("run", "kind", "finished", "ok", "summary"):
            table.add_column(column, overflow="fold")
        for run in state.runs:
            table.add_row(
                str(run["id"]),
                Text(run["kind"]),
                _when(run["finished_at"]),
                Text("yes") if run["ok"] else Text("no", style="red"),
                Text(run["summary"]),
            )
        console.print(table)
# -- subscribers, deliveries, web ------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Import, list, export and remove list subscribers."""


@subscribers.command("import")
@click.argument("list_name", required=False)
@click.option("--file", "path", type=click.Path(dir_okay=False), help="CSV file (default: the list's).")
@click.pass_context
def subscribers_import(ctx: click.Context, list_name: str | None, path: str | None) -> None:
    """Import subscriber CSV files (all lists, or LIST_NAME). Bad rows are listed; exit 1."""
    from digest.subscribers import import_csv

    config = _config(ctx.find_root())
    lists = [_list_config(ctx, config, list_name)] if list_name else list(config.lists)
    bad = False
    with _store(ctx, config) as store:
        for lst in lists:
            source = path or lst.subscribers
            if source is None:
                continue
            try:
                report = import_csv(store, lst.name, source, now=_now())
            except DigestError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"{lst.name}: {report.added} added, {report.existing} existing, "
                       f"{report.kept_status} kept out (left earlier), {len(report.problems)} bad")
            for problem in report.problems:
                click.echo(f"  {problem}", err=True)
            bad = bad or bool(report.problems)
    if bad:
        ctx.exit(1)


@subscribers.command("list")
@click.argument("list_name")
@click.option("--status", default="active", show_default=True,
              type=click.Choice(["active", "unsubscribed", "bounced", "complained", "all"]))
@click.pass_context
def subscribers_list(ctx: click.Context, list_name: str, status: str) -> None:
    """List subscribers of LIST_NAME: address, status, topics, name."""
    with _store(ctx, _config(ctx.find_root())) as store:
        found = store.subscribers_of(list_name, status=None if status == "all" else status)
    click.echo("email\tstatus\ttopics\ttimezone\tname")
    for sub in found:
        click.echo(f"{sub.email}\t{sub.status}\t{';'.join(sub.topics) or '-'}\t{sub.timezone}\t{sub.name}")


@subscribers.command("export")
@click.argument("list_name")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
@click.pass_context
def subscribers_export(ctx: click.Context, list_name: str, output: TextIO) -> None:
    """Export every subscriber of LIST_NAME as CSV, safe to open in a spreadsheet."""
    from digest.subscribers import export_csv

    with _store(ctx, _config(ctx.find_root())) as store:
        export_csv(store.subscribers_of(list_name, status=None), output)


@subscribers.command("remove")
@click.argument("list_name")
@click.argument("email")
@click.pass_context
def subscribers_remove(ctx: click.Context, list_name: str, email: str) -> None:
    """Unsubscribe EMAIL from LIST_NAME (kept as 'unsubscribed' so no import re-adds it)."""
    from digest.types import SubscriberStatus

    with _store(ctx, _config(ctx.find_root())) as store:
        sub = store.subscriber_by_email(list_name, email)
        if sub is None:
            raise click.ClickException(f"{email} is not on list {list_name}")
        assert sub.id is not None
        store.set_subscriber_status(sub.id, SubscriberStatus.UNSUBSCRIBED, now=_now())
    click.echo(f"{sub.email} unsubscribed from {list_name}")


@cli.group(invoke_without_command=True)
@click.pass_context
def deliveries(ctx: click.Context) -> None:
    """Ledger counts per edition and state (default), and unknown outcomes."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(deliveries_show)


@deliveries.command("show")
@click.option("--edition", "edition_id", type=int, help="Only this edition id.")
@click.pass_context
def deliveries_show(ctx: click.Context, edition_id: int | None = None) -> None:
    """Counts per state for recent editions, then every delivery whose outcome is unknown."""
    with _store(ctx, _config(ctx.find_root())) as store:
        overview = store.delivery_overview()
        unknown = store.deliveries_in(edition_id, ["unknown"])
    for ed in overview:
        if edition_id is not None and ed["edition_id"] != edition_id:
            continue
        counts = ", ".join(f"{k} {v}" for k, v in sorted(ed["counts"].items()))
        click.echo(f"edition {ed['edition_id']} {ed['list_name']}/{ed['period']} "
                   f"[{ed['status']}]: {counts}")
    if unknown:
        click.echo(f"unknown outcome ({len(unknown)}; `digest deliveries retry-unknown` re-sends):")
        for row in unknown:
            click.echo(f"  edition {row['edition_id']} delivery {row['id']} {row['email']}: "
                       f"{row['last_error'] or ''}")


@deliveries.command("retry-unknown")
@click.option("--edition", "edition_id", type=int, help="Only this edition id (default: all).")
@click.pass_context
def deliveries_retry_unknown(ctx: click.Context, edition_id: int | None) -> None:
    """Queue deliveries with an unknown outcome again; the next send run delivers them.
    Recipients the provider did take will get a second copy: this is your decision."""
    from digest.deliver import Ledger

    with _store(ctx, _config(ctx.find_root())) as store:
        n = Ledger(store, clock=_now).retry_unknown(edition_id)
    click.echo(f"{n} deliveries queued again")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
@click.pass_context
def web(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web app: editor pages (set DIGEST_EDITOR_TOKEN to log in), the public
    archive and feeds, unsubscribe and preferences pages, the SendGrid webhook."""
    from urllib.parse import urlsplit

    import uvicorn

    from digest.web import create_app

    config = _config(ctx.find_root())
    base = urlsplit(config.site.base)
    if base.hostname in ("127.0.0.1", "localhost") and (base.port or 80) != port:
        err_console.print(
            f"[yellow]warning:[/] links in emails and the archive use site.base_url "
            f"{config.site.base}, but this server listens on port {port}",
            highlight=False,
        )
    with _store(ctx, config) as store:
        uvicorn.run(create_app(config, store), host=host, port=port, log_level="info")


def main() -> None:
    """Console-script entry point. An error digest raises that no command handled (a damaged
    database, say) is one line on stderr and exit 1, never a traceback."""
    try:
        cli(standalone_mode=True)
    except DigestError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
