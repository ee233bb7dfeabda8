"""The ``digest`` command. Thin: each command parses options, calls the library, prints.

Exit codes: 0 success, 1 when something failed (a source, a list, a delivery), 2 for usage
or configuration errors.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from digest.config import Config, database_url_problem, load_config
from digest.exceptions import ConfigError, DigestError
from digest.types import ListReport, RunReport, SourceReport

# Piped output (cron mail, logs) gets wide lines instead of rich's 80-column fallback.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class DigestTime(click.ParamType):
    """An ISO 8601 time such as ``2026-02-18T07:00Z`` (naive times are UTC), or a date alone
    (``2026-02-18``: the edition of that day in the list's timezone, see
    :mod:`digest.attime`)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from digest.attime import parse_at_value

        if isinstance(value, date):
            return value
        try:
            return parse_at_value(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 time such as 2026-02-18T07:00Z or a date such as 2026-02-18",
                param, ctx,
            )  # fmt: skip


TIME = DigestTime()


class CommandError(click.ClickException):
    """A command that cannot do what was asked: ``error: MESSAGE`` on stderr (the one style
    of every digest error line, not click's ``Error: MESSAGE``), exit 1."""

    def show(self, file: Any = None) -> None:
        """Print ``error: MESSAGE`` as every other digest error line is printed."""
        err_console.print(f"[bold red]error:[/] {escape(self.format_message())}", highlight=False)


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
    ctx.obj = {**(ctx.obj or {}), "config_path": config_path, "verbose": verbose}


def _config(ctx: click.Context) -> Config:
    try:
        return load_config(ctx.obj["config_path"])
    except ConfigError as exc:
        err_console.print(f"[bold red]config error[/] in {escape(str(ctx.obj['config_path']))}:")
        err_console.print(str(exc), markup=False, highlight=False)
        ctx.exit(2)
        raise  # unreachable; keeps type checkers happy


@contextmanager
def _imports_paused(ctx: click.Context) -> Iterator[None]:
    """Under the console script (``freeze_on_open``, see :mod:`digest.__main__`): the block's
    imports run with the cyclic garbage collector paused and what they built is frozen after
    (``gc.freeze``), as the CLI's own import is. Otherwise (tests, an embedding program, a
    collector already off) the block runs as it is."""
    if not ctx.obj.get("freeze_on_open") or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@contextmanager
def _store(ctx: click.Context, config: Config) -> Iterator[Any]:
    from digest.store import Store

    try:
        db = config.database
        store = Store.open(
            db.url, pool_size=db.pool_size, max_overflow=db.max_overflow, pool_timeout=db.pool_timeout
        )
    except DigestError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        ctx.exit(1)
    if ctx.obj.pop("freeze_on_open", False):  # once: the command's libraries are imported now
        gc.freeze()  # see digest.__main__.main
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


def _source_config(ctx: click.Context, config: Config, name: str, hint: str = "--source") -> Any:
    """The configured source ``name``; a wrong name is a usage error (exit 2) listing the
    valid ones."""
    try:
        return config.source(name)
    except KeyError:
        names = ", ".join(s.name for s in config.sources)
        raise click.BadParameter(f"no source {name!r}; sources: {names}", param_hint=hint) from None


def _clock_start(at: datetime | date | None, list_configs: list[Any]) -> datetime | None:
    """The clock's start for ``send``/``run`` from ``--at``: a time unchanged; a date alone the
    scheduled time of that day's edition (the earliest among ``list_configs``), so the
    edition of that date is due and on time (:func:`digest.attime.at_for_list`,
    :func:`digest.schedule.latest`); ``None`` without ``--at``."""
    from digest import schedule as schedules
    from digest.attime import at_for_list

    if at is None or isinstance(at, datetime):
        return at
    times = []
    for lst in list_configs:
        end = at_for_list(at, lst.schedule.timezone)
        fire = schedules.latest(lst.schedule, end)
        times.append(fire.at if fire is not None else end)
    return min(times) if times else at_for_list(at, "UTC")


def _at(at: datetime | date | None, list_config: Any, now: datetime) -> datetime:
    """``--at`` for one list: ``now`` when absent; a date alone is that day's edition in the
    list's timezone (:func:`digest.attime.at_for_list`)."""
    from digest.attime import at_for_list

    return now if at is None else at_for_list(at, list_config.schedule.timezone)


def _now() -> datetime:
    from digest.pipeline import utcnow

    return utcnow()


def _clock(at: datetime | None) -> Callable[[], datetime]:
    """The clock of a command: the real one, or with ``--at`` one that starts at ``at`` and
    runs on (so every decision of the command, the ledger's included, is taken at ``at``)."""
    from digest.pipeline import utcnow

    if at is None:
        return utcnow
    offset = at - utcnow()
    return lambda: utcnow() + offset


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on stderr (only on a terminal); yields the per-source callback.
    Off a terminal (cron, pipes) the callback does nothing and rich.progress is not imported."""
    if not err_console.is_terminal:
        yield lambda report: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
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
        if r.unchanged:
            note = "unchanged since the last poll: not parsed again"
        table.add_row(
            Text(r.source),
            Text(r.status, style=style),
            str(r.http_status or "-"),
            str(r.new_entries),
            str(r.seen_entries),
            Text(note),
        )
    console.print(table)


LIST_STATUS_STYLES: dict[str, str] = {
    "sent": "green", "in-flight": "cyan", "scheduled": "cyan", "exists": "cyan", "empty": "yellow",
    "awaiting-approval": "yellow", "missed": "bold yellow", "failed": "bold red",
}
"""Colours of some ``ListStatus`` values; every other value prints plainly, uncoloured."""


def _print_lists(reports: list[ListReport]) -> None:
    """One paragraph per list: what was built and delivered, or why not."""
    for r in reports:
        console.print(
            Text.assemble(
                (f"list {r.list_name}", "bold"),
                f" edition {r.period or '-'}: ",
                (r.status, LIST_STATUS_STYLES.get(r.status, "")),
            ),
            highlight=False,
        )
        if r.sections:
            console.print(
                f"  {r.stories} stories in {r.sections} sections, {r.recipients} recipients",
                highlight=False,
            )
        if r.deliveries:
            counts = ", ".join(f"{n} {state}" for state, n in sorted(r.deliveries.items()))
            console.print(f"  deliveries: {counts}", markup=False, highlight=False)
        if r.message:
            console.print(f"  {r.message}", markup=False, highlight=False, soft_wrap=True)
        if r.out_dir:
            console.print(f"  files: {r.out_dir}", markup=False, highlight=False)


def _finish(ctx: click.Context, report: RunReport, code: int = 0, *, quiet: bool = False) -> None:
    """Print ``report`` and exit: 1 when it failed, else ``code`` (the worst of it and 1).
    ``quiet`` (``digest run`` without ``-v``): print only the rows worth telling
    (:func:`digest.quiet.worth_telling`), so a run that did nothing prints nothing."""
    if quiet and not ctx.obj.get("verbose"):
        from digest.quiet import worth_telling

        told = worth_telling(report)
        if len(told.sources) < len(report.sources) and (told.sources or told.lists):
            console.print(
                f"{len(report.sources) - len(told.sources)} source(s) with nothing new not shown "
                "(digest -v run shows every row)", highlight=False,
            )
        report = told
    if report.sources:
        _print_sources(report.sources)
    if report.lists:
        _print_lists(report.lists)
    for error in report.errors:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    failed = [s.source for s in report.sources if s.status == "failed"]
    if failed:
        err_console.print(f"[red]{len(failed)} source(s) failed:[/] {escape(', '.join(failed))}")
    failed_lists = [r.list_name for r in report.lists if r.status == "failed"]
    if failed_lists:
        err_console.print(
            f"[red]{len(failed_lists)} list(s) failed:[/] {escape(', '.join(failed_lists))}"
        )
    ctx.exit(max(code, 0 if report.ok else 1))


@cli.command()
@click.option("--live", is_flag=True, help="Fetch each source's URL even where a local path is set.")
@click.option("--source", "only", multiple=True, help="Poll only this source (repeatable).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the sources by host (more than 1 needs PostgreSQL).")
@click.option("--round", "round_start", hidden=True, help="ISO time: poll as one worker of this round (set by --workers).")
@click.pass_context
def poll(ctx: click.Context, live: bool, only: tuple[str, ...], workers: int, round_start: str | None) -> None:
    """Fetch every source and store new entries. With --workers N, N processes share the
    sources: each claims a few hosts at a time (SKIP LOCKED), so one host is fetched by one
    worker at a time and fetch.max_per_host holds across them."""
    from digest.pipeline import poll as poll_sources
    from digest.pipeline import poll_shared

    config = _config(ctx)
    for name in only:
        _source_config(ctx, config, name)
    sources = [s for s in config.sources if not only or s.name in only]
    if workers > 1:
        from digest.workers import WorkersRefused, check_workers, spawn_pollers

        try:
            check_workers(config.database.url, workers)
        except WorkersRefused as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(2)
        args = [a for name in only for a in ("--source", name)] + (["--live"] if live else [])
        ctx.exit(spawn_pollers(ctx.obj["config_path"], workers, _now(), args))
    with _store(ctx, config) as store:
        now = _now()
        report = RunReport(started_at=now)
        with _progress(len([s for s in sources if s.enabled])) as advance:
            if round_start is not None:
                from digest.lease import holder_id

                report.sources = poll_shared(
                    config, store, now=now, round_start=datetime.fromisoformat(round_start),
                    holder=holder_id(), sources=sources, live=live, progress=advance,
                )
            else:
                report.sources = poll_sources(config, store, now=now, sources=sources, live=live, progress=advance)
    _finish(ctx, report)


@cli.command()
@click.argument("list_name", metavar="LIST")
@click.option("--at", type=TIME, help="Build the edition due at this time (default: now).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for the files (default: build/<list>/<period>).")
@click.option("--explain", is_flag=True, help="Print each story's score and the reasons for it.")
@click.option("--json", "as_json", is_flag=True, help="Print the stories (entries' URLs, sections, reasons) as JSON.")
@click.pass_context
def build(ctx: click.Context, list_name: str, at: datetime | date | None, out_dir: str | None, explain: bool, as_json: bool) -> None:
    """Build an edition from stored entries into files; sends nothing, stores nothing."""
    from digest.message import public_copy
    from digest.pipeline import batch_gc
    from digest.pipeline import build as build_edition
    from digest.transports.outbox import write_edition_files

    batch_gc()

    config = _config(ctx)
    list_config = _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
        now = _now()
        try:
            built = build_edition(config, store, list_config, at=_at(at, list_config, now), now=now)
        except DigestError as exc:
            err_console.print(f"[bold red]build failed:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)
    if built is None:
        err_console.print("the list's schedule has no send time before that time")
        ctx.exit(1)
    edition = built.edition
    if as_json:
        from digest.explain import edition_json

        click.echo(json.dumps(edition_json(edition, built.left_out_for_size), indent=2, ensure_ascii=False))
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
        _print_explain(built.edition, built.left_out_for_size)
    if not edition.stories:
        err_console.print("the edition is empty: no stories in its window")
        ctx.exit(1)


@cli.command()
@click.argument("list_name", metavar="LIST")
@click.argument("action", type=click.Choice(["show", "split", "move", "merge", "pin", "boost", "drop", "summary"]))
@click.argument("target", required=False, default="")
@click.option("--at", type=TIME, help="The edition due at this time (default: the next send).")
@click.option("--into", default="", help="move/merge: the target story (its key or SOURCE/ENTRY_ID of one of its entries).")
@click.option("--value", default="", help="boost: the factor; summary: the new text.")
@click.option("--clear", is_flag=True, help="Remove this adjustment instead of setting it.")
@click.pass_context
def adjust(
    ctx: click.Context, list_name: str, action: str, target: str, at: datetime | date | None,
    into: str, value: str, clear: bool,
) -> None:  # fmt: skip
    """Adjust one edition before it is sent, as the editor's pages do: `show` lists its stories
    (key, section, entries as SOURCE/ENTRY_ID) and the adjustments set; `split ENTRY`,
    `move ENTRY --into STORY`, `merge STORY --into STORY`, `pin|drop STORY`,
    `boost STORY --value 2`, `summary STORY --value TEXT`. A story or entry the edition does
    not hold, or a missing `--into`/TARGET, is a usage error (exit 2) naming it; an edition
    already sent is refused (exit 1: the command is right, the edition can no longer change)."""
    from digest import adjust as adjusting
    from digest.edition import edition_time, next_edition_time, period_of
    from digest.pipeline import build as build_edition

    config = _config(ctx)
    list_config = _list_config(ctx, config, list_name)
    now = _now()
    when = _at(at, list_config, now) if at is not None else next_edition_time(list_config, now)
    scheduled = edition_time(list_config, when) if when else None
    if scheduled is None:
        raise CommandError("the list's schedule has no send time there")
    period = period_of(list_config, scheduled)
    with _store(ctx, config) as store:
        if action != "show":
            try:
                adjusting.refuse_if_sent(store, list_config.name, period)
            except adjusting.EditionSent as exc:
                raise CommandError(str(exc)) from None
        try:
            built = build_edition(config, store, list_config, at=scheduled, now=now)
        except DigestError as exc:
            raise CommandError(f"build failed: {exc}") from None
        assert built is not None
        stories = (*built.edition.stories, *built.base.stories)
        if action == "show":
            shown_edition = built.edition
            if not shown_edition.stories:
                click.echo(
                    f"edition {list_config.name}/{period}: no stories (nothing new from "
                    f"{shown_edition.window_start:%Y-%m-%d %H:%M} to "
                    f"{shown_edition.window_end:%Y-%m-%d %H:%M} UTC; "
                    f"{len(shown_edition.left_out)} entries left out, see `digest build "
                    f"{list_config.name} --at {scheduled.astimezone(UTC):%Y-%m-%dT%H:%MZ} --explain`)"
                )
            for section in built.edition.sections:
                click.echo(f"[{section.name}]")
                for shown in section.stories:
                    click.echo(f"  {shown.key}  {shown.score:.3f}  {shown.lead.title}")
                    for item in shown.entries:
                        click.echo(f"      {adjusting.entry_ref(item)}")
            for adj in store.adjustments(list_config.name, period):
                click.echo(f"adjustment {adj.action} {adj.story_key} {adj.value}".rstrip())
            return

        def find(name: str) -> Any:
            for story in stories:
                if story.key == name or any(adjusting.entry_ref(e) == name for e in story.entries):
                    return story
            raise click.BadParameter(
                f"no story or entry {name!r} in edition {list_config.name}/{period}; "
                f"`digest adjust {list_config.name} show{at_flag}` lists its stories and entries",
                param_hint="--into" if name == into and name != target else "TARGET",
            )

        at_flag = f" --at {scheduled.astimezone(UTC):%Y-%m-%dT%H:%MZ}" if at else ""
        story = find(target) if target else None
        if story is None:
            raise click.UsageError(f"{action}: name the story or entry (TARGET)")
        if action in ("split", "move"):
            entry = next(
                (e for e in story.entries if adjusting.entry_ref(e) == target), None
            )
            if entry is None:
                raise click.BadParameter(
                    f"{action} takes an entry, SOURCE/ENTRY_ID, not the story {target!r}", param_hint="TARGET"
                )
            made = adjusting.split(entry)
            if action == "move":
                if not into and not clear:
                    raise click.UsageError("move: give --into STORY")
                made = adjusting.move(entry, find(into)) if into else adjusting.Adjustment(made.story_key, "move", "", entry.source, entry.entry_id)
        elif action == "merge":
            if not into and not clear:
                raise click.UsageError("merge: give --into STORY")
            made = adjusting.merge(story, find(into)) if into else adjusting.Adjustment(story.key, "merge", "", story.lead.source, story.lead.entry_id)
        else:
            text = adjusting.clean_summary(value) if action == "summary" else (value or "2" if action == "boost" else "")
            if action == "boost" and adjusting.boost_factor(text) is None:
                raise click.BadParameter(f"a boost is a number between 0.01 and 100, not {text!r}", param_hint="--value")
            made = adjusting.Adjustment(story.key, action, text, story.lead.source, story.lead.entry_id)
        if clear:
            done = store.clear_adjustment(list_config.name, period, made.story_key, made.action)
            click.echo(f"{'cleared' if done else 'nothing to clear:'} {action} {target} in {list_config.name}/{period}")
        else:
            store.set_adjustment(list_config.name, period, made, now=now)
            click.echo(f"{action} {target} set in {list_config.name}/{period}")
        store.revoke_approval(list_config.name, period)


def _print_explain(edition: Any, for_size: Any = ()) -> None:
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
    if edition.left_out or for_size:
        from digest.explain import SIZE_REASON

        left = Table(title="Left out as not news, already sent, off-topic, over a cap or for size", title_justify="left")
        for column in ("source", "entry", "kind", "reason"):
            left.add_column(column, overflow="fold")
        for item in edition.left_out:
            left.add_row(Text(item.entry.source), Text(item.entry.title), item.kind, Text(item.reason))
        for story in for_size:
            for entry in story.entries:
                left.add_row(Text(entry.source), Text(entry.title), "size", Text(SIZE_REASON))
        console.print(left)


@cli.command()
@click.argument("list_name", metavar="LIST")
@click.option("--at", type=TIME, help="Send the edition due at this time, on purpose even when it was missed; the clock of every decision (default: now).")
@click.pass_context
def send(ctx: click.Context, list_name: str, at: datetime | date | None) -> None:
    """Build, store and deliver one list's edition (without polling first), however late."""
    from digest.pipeline import batch_gc, publish

    batch_gc()

    config = _config(ctx)
    list_config = _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
        clock = _clock(_clock_start(at, [list_config]))
        now = clock()
        report = RunReport(started_at=now)
        try:
            report.lists.append(publish(config, store, list_config, at=now, now=now, clock=clock))
        except DigestError as exc:
            report.lists.append(ListReport(list_name=list_name, status="failed", message=str(exc)))
    _finish(ctx, report)


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the work (more than 1 needs PostgreSQL).")
@click.pass_context
def deliver(ctx: click.Context, workers: int) -> None:
    """Deliver every stored edition that is not complete, building nothing: the queued rows,
    and a dead worker's rows once its lease has expired. With --workers N, N processes
    claim batches side by side (SELECT ... FOR UPDATE SKIP LOCKED) until all are done."""
    from digest.workers import WorkersRefused, check_workers, spawn

    config = _config(ctx)
    try:
        check_workers(config.database.url, workers)
    except WorkersRefused as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        ctx.exit(2)
    if workers == 1:
        ctx.invoke(worker, until_idle=True)
        return
    from digest.pipeline import resettle

    root = ctx.find_root().params
    extra = ("-v",) * int(root.get("verbose") or 0) + (("--log-json",) if root.get("log_json") else ())
    with _store(ctx, config) as store:
        started = _clock(None)()
        opened = store.unfinished_editions()
    code = spawn(ctx.obj["config_path"], workers, extra=extra, report=False)
    # one summary for the command: each edition that was open, as the ledger now says
    report = RunReport(started_at=started)
    with _store(ctx, config) as store:
        now = _clock(None)()
        for row in opened:
            said = ListReport(
                list_name=row.list_name, status="failed", period=row.period, stories=row.story_count
            )
            report.lists.append(resettle(said, store, now))
    _finish(ctx, report, code)


@cli.command()
@click.option("--until-idle", is_flag=True, help="Exit once nothing is left to deliver (default: run until SIGTERM).")
@click.option("--idle-seconds", type=float, default=5.0, show_default=True,
              help="How long to sleep when there is nothing to do (or another worker's lease runs).")
@click.option("--no-report", is_flag=True, hidden=True,
              help="Print no per-edition summary (set by deliver --workers N, which prints one).")
@click.pass_context
def worker(
    ctx: click.Context, until_idle: bool, idle_seconds: float = 5.0, no_report: bool = False
) -> None:
    """Deliver queued editions as one of several workers (on other machines too): claim
    batches, send, record; take over a dead worker's rows when its lease expires. SIGTERM
    finishes the batch in flight, then exits."""
    import threading

    from digest.scheduler import install_signal_handlers
    from digest.workers import work

    config = _config(ctx)
    with _store(ctx, config) as store:
        clock = _clock(None)
        report = RunReport(started_at=clock())
        stop = threading.Event()
        install_signal_handlers(stop.set)
        try:
            summary = work(config, store, clock=clock, until_idle=until_idle, stop=stop,
                           idle_seconds=idle_seconds)
        except DigestError as exc:
            err_console.print(f"[bold red]worker failed:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)
        report.lists.extend(r for r in summary.final if r.deliveries or r.status == "failed")
    if no_report:  # the parent `deliver --workers N` prints the summary; keep the exit code
        ctx.exit(0 if report.ok else 1)
    _finish(ctx, report)


@cli.command()
@click.option("--at", type=TIME, help="Run as if the clock said this time (default: now).")
@click.option("--list", "lists", multiple=True, help="Only this list (repeatable).")
@click.option("--live", is_flag=True, help="Fetch each source's URL even where a local path is set.")
@click.pass_context
def run(ctx: click.Context, at: datetime | date | None, lists: tuple[str, ...], live: bool) -> None:
    """Poll every source, then build and deliver every list that is due. Prints only what
    this run did or failed to do (nothing when nothing happened, for cron); -v prints every
    source and list; digest status shows the whole state."""
    with _imports_paused(ctx):  # SQLAlchemy and the store: the most of a cron no-op (issue 14)
        from digest.pipeline import batch_gc
        from digest.pipeline import run as run_pipeline

    batch_gc()

    config = _config(ctx)
    for name in lists:
        _list_config(ctx, config, name)
    with _store(ctx, config) as store:
        chosen = [lst for lst in config.lists if not lists or lst.name in lists]
        start = _clock_start(at, chosen)
        clock = _clock(start)
        now = start or clock()  # with --at, every decision of the run is taken at that time
        with _progress(len([s for s in config.sources if s.enabled])) as advance:
            report = run_pipeline(
                config, store, now=now, lists=lists, live=live, progress=advance, clock=clock
            )
    _finish(ctx, report, quiet=True)


def _json_value(value: object) -> str:
    """JSON for what ``json`` cannot encode: times as RFC 3339 (``2026-02-18T07:00:00Z``)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        text = value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")
        return text.replace("+00:00", "Z")
    return str(value)


@cli.command()
@click.argument("location")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.option("--limit", default=20, show_default=True, help="Entries to show (0: all).")
@click.option("--all", "show_all", is_flag=True, help="Show every entry (same as --limit 0).")
@click.pass_context
def inspect(ctx: click.Context, location: str, as_json: bool, limit: int, show_all: bool) -> None:
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
    shown = feed.entries if limit <= 0 or show_all else feed.entries[:limit]
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
            "entries": [{**asdict(e), "direction": e.direction} for e in shown],
        }
        click.echo(json.dumps(payload, default=_json_value, ensure_ascii=False, indent=2))
        return
    count = f"{len(feed.entries)} {'entry' if len(feed.entries) == 1 else 'entries'}"
    if len(shown) < len(feed.entries):
        count += f", showing the first {len(shown)} (--limit N / --all)"
    console.print(
        f"[bold]{escape(feed.title or name)}[/] ({feed.kind}, status {result.status or 'file'}): {count}",
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
    _source_config(ctx, config, name, hint="NAME")
    with _store(ctx, config) as store:
        store.enable_source(name)
    console.print(f"{name}: enabled; it is polled on the next run")


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the config file and say what it describes. A broken subject template or a
    transport secret that is not set is a configuration error (exit 2); a list's subscriber
    file that cannot be read, or too short a web secret, an error (exit 1: that list, or
    `digest web`, would fail); its bad rows are warnings. The first line says ok only when
    there is no error."""
    from digest.subscribers import SubscriberFileError, list_topics, read_csv

    config = _config(ctx.find_root())
    missing = [s.name for s in config.sources if s.path is not None and not s.path.exists()]
    errors: list[str] = []
    warnings: list[str] = []
    for lst in config.lists:
        if lst.subscribers is None:
            continue
        try:
            read = read_csv(lst.subscribers, lst.name, topics=list_topics(config, lst))
        except SubscriberFileError as exc:
            errors.append(f"list {lst.name}: subscriber file {exc}")
        else:
            warnings.extend(f"list {lst.name}: {problem}" for problem in read.problems)

    import os

    from digest.config import transport_problems
    from digest.config_warnings import config_warnings
    from digest.render import subject_problems
    from digest.web.checks import secret_problems

    # configuration errors (exit 2, as for a config that does not load), then the web app's
    # secrets (exit 1, as `digest web` refuses them): all checked before the summary line,
    # which says ok only when nothing is wrong
    config_errors = [*subject_problems(config), *transport_problems(config, os.environ)]
    errors.extend(secret_problems(config, os.environ))
    warnings.extend(config_warnings(config))

    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    problems = len(errors) + len(config_errors)
    # "errors: 11 sources, ..." read as eleven errors in the sources: the count says what failed
    head = f"{count(problems, 'error')} (below); config of " if problems else "ok: "
    console.print(
        f"{head}{count(len(config.sources), 'source')}, "
        f"{count(len(config.topics), 'topic')}, "
        f"{count(len(config.lists), 'list')}; "
        f"database {config.database.url}; transport {config.delivery.transport}",
        highlight=False,
    )
    for name in missing:
        err_console.print(
            f"[yellow]warning:[/] source {name}: file {escape(str(config.source(name).path))} does not exist"
        )
    for line in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    for line in [*config_errors, *errors]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if config_errors:
        ctx.exit(2)
    if errors:
        ctx.exit(1)


@cli.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def lint_command(files: tuple[str, ...]) -> None:
    """Check emails (.eml messages or their HTML) against the email-client rules: Gmail's
    102 KB clipping and 16 KB <style> limits, doctype, image alt and width, https links,
    one-click List-Unsubscribe. Exit 1 when any file has a problem."""
    from digest.lint import lint_file

    failed = False
    for name in files:
        try:
            problems = lint_file(name)
        except OSError as exc:
            click.echo(f"{name}: cannot read: {exc}", err=True)
            failed = True
            continue
        if not problems:
            click.echo(f"{name}: ok")
            continue
        failed = True
        for problem in problems:  # one line each, never wrapped: grep-able
            click.echo(f"{name}: {problem}")
    if failed:
        sys.exit(1)


# --- evaluation and topic-model commands (digest.evaluate, digest.topics) ---------------------


class BadInput(CommandError):
    """A file given on the command line that cannot be used as it is (``error: ...``, exit 2:
    a usage error, as the module docstring counts them)."""

    exit_code = 2


@cli.group("eval")
def eval_group() -> None:
    """Score clustering and sectioning on labelled JSONL files (id, title, text, story|label)."""


@eval_group.command("clusters")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--title-only", is_flag=True, help="Ignore the text field.")
@click.option("--no-feeds", is_flag=True, help="Do not read the rows' languages from local feed files.")
@click.pass_context
def eval_clusters(ctx: click.Context, file: str, title_only: bool, no_feeds: bool) -> None:
    """B-cubed and pairwise P/R/F1, NMI, cluster count, time and peak memory on FILE.

    A row without a ``language`` gets its item's in its local feed file (the configured
    sources' files and their folder, when a configuration is found), else English."""
    from digest.evaluate import evaluate_clusters, load_jsonl
    from digest.exceptions import DigestError

    sources: list[Any] = []
    if not no_feeds:
        try:
            sources = list(load_config(ctx.obj["config_path"]).sources)
        except ConfigError:  # no configuration: the rows' own languages, else English
            sources = []
    try:
        s = evaluate_clusters(load_jsonl(file), title_only=title_only, sources=sources)
    except DigestError as exc:
        raise BadInput(str(exc)) from None
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
@click.option("--no-feeds", is_flag=True, help="Do not read feed categories from the sources' local files.")
@click.pass_context
def eval_stories(ctx: click.Context, file: str, list_name: str | None, no_feeds: bool) -> None:
    """The whole build path (noise, dedupe, cluster, rank, sections) scored on a labelled FILE.

    Rows found in their source's local feed file (``path``) get its categories, as a build would."""
    from digest.evaluate import evaluate_stories, load_jsonl

    config = _config(ctx)
    if list_name is None and not config.lists:
        raise CommandError("the configuration has no list")
    list_config = _list_config(ctx, config, list_name) if list_name else config.lists[0]
    try:
        s = evaluate_stories(load_jsonl(file), config, list_config, feeds=not no_feeds)
    except DigestError as exc:
        raise BadInput(str(exc)) from None
    click.echo(f"items {s.items}  gold stories {s.gold_stories}  stories {s.stories}  list {list_config.name}")
    click.echo(f"B-cubed P {s.bcubed_precision:.4f} R {s.bcubed_recall:.4f} F1 {s.bcubed_f1:.4f}")
    click.echo(f"pairwise P {s.pairwise_precision:.4f} R {s.pairwise_recall:.4f} F1 {s.pairwise_f1:.4f}")
    click.echo(f"sections macro-F1 {s.sections_macro_f1:.4f}  " + "  ".join(f"{k} {v:.2f}" for k, v in s.per_section_f1.items()))
    click.echo(f"noise P {s.noise_precision:.4f} R {s.noise_recall:.4f}  (left out {s.noise_found}, gold {s.noise_gold})")
    if s.section_labels:
        width = max(6, *(len(label) for label in s.section_labels))
        click.echo("sections confusion (entries; rows: gold, columns: predicted)")
        heads = " ".join(f"{label[:width]:>{width}}" for label in s.section_labels)
        click.echo(" " * (width + 1) + heads)
        for label, row in zip(s.section_labels, s.section_confusion, strict=True):
            click.echo(f"{label:<{width}} " + " ".join(f"{n:>{width}}" for n in row))


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
        raise BadInput(str(exc)) from None
    _print_topic_scores(s)


@eval_group.command("sections")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_name", default=None, help="The list whose rules section (default: the first).")
@click.option("--folds", type=int, default=0, help="Train the classifier by k-fold on FILE (default: the list's model).")
@click.option("--no-feeds", is_flag=True, help="Do not read feed categories from the sources' local files.")
@click.pass_context
def eval_sections(ctx: click.Context, file: str, list_name: str | None, folds: int, no_feeds: bool) -> None:
    """Section FILE's gold stories (JSONL with story, section) with a list's rules and model;
    print macro-F1, per-section F1 and the confusion matrix."""
    from digest.evaluate import evaluate_sections, load_jsonl
    from digest.exceptions import DigestError

    config = _config(ctx)
    try:
        s = evaluate_sections(
            load_jsonl(file), config=config, list_name=list_name or config.lists[0].name,
            folds=folds, feeds=not no_feeds,
        )
    except DigestError as exc:
        raise BadInput(str(exc)) from None
    _print_topic_scores(s)


def _print_topic_scores(s: Any) -> None:
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
    """Train a classifier on EXAMPLES (JSONL: title, text, label or section = topic name) and save it."""
    from digest.evaluate import load_jsonl
    from digest.exceptions import DigestError
    from digest.topics import example_text, fit_classifier, save_model

    try:
        rows = load_jsonl(examples)
        if any("label" not in r and "section" not in r for r in rows):
            raise DigestError("every example needs a 'label' (or 'section'): a topic name")
        model = fit_classifier(
            [example_text(r["title"], "" if title_only else r.get("text", "")) for r in rows],
            [str(r.get("label", r.get("section"))) for r in rows],
        )
        save_model(model, out)
    except DigestError as exc:
        raise CommandError(str(exc)) from None
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
            f"{edition.period} {edition.status}, {edition.stories} stories" if edition else "-",
            (", ".join(f"{k} {v}" for k, v in edition.deliveries.nonzero()) if edition else "") or "-",
            Text(f"{_when(run.at)} {run.status} {run.message}".strip() if run else "-"),
        )
    console.print(lists)
    totals = ", ".join(f"{k} {v}" for k, v in state.deliveries.nonzero()) or "none"
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
                str(run.id),
                Text(run.kind),
                _when(run.finished_at),
                Text("yes") if run.ok else Text("no", style="red"),
                Text(run.summary),
            )
        console.print(table)
# -- db ---------------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """Database maintenance: move an installation to another database."""


@db_group.command("copy")
@click.argument("source_url")
@click.argument("target_url")
@click.option("--force", is_flag=True, help="Delete the rows the target already holds first.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows read and written at a time (bounds memory).")
@click.pass_context
def db_copy(ctx: click.Context, source_url: str, target_url: str, force: bool, batch_size: int) -> None:
    """Copy every table from SOURCE_URL to TARGET_URL (e.g. sqlite:///var/digest.db to
    postgresql+psycopg://digest@db/digest): migrate both to head, refuse a target that holds
    rows (unless --force), copy in dependency order in batches, reset PostgreSQL sequences,
    then count the rows of each table on both sides. Exit 1 when any count differs."""
    from digest import dbfile
    from digest.dbcopy import copy_database
    from digest.store import make_engine, metadata, migrate, normalize_url

    for hint, given in (("SOURCE_URL", source_url), ("TARGET_URL", target_url)):
        problem = database_url_problem(given)
        if problem is not None:
            raise click.BadParameter(problem, param_hint=hint)
    path = dbfile.sqlite_path(normalize_url(source_url))
    if path is not None and not path.exists():
        err_console.print(f"[bold red]database error:[/] no database file {escape(str(path))}", highlight=False)
        ctx.exit(1)
    engines = []
    try:
        for url in (source_url, target_url):
            engines.append(make_engine(url))
            migrate(engines[-1])
        report = copy_database(engines[0], engines[1], list(metadata.sorted_tables), force=force,
                               batch_size=batch_size)
    except DigestError as exc:
        err_console.print(f"[bold red]database error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        ctx.exit(1)
    finally:
        for engine in engines:
            engine.dispose()
    table = Table(title="rows copied")
    table.add_column("table")
    table.add_column("source", justify="right")
    table.add_column("target", justify="right")
    table.add_column("")
    for count in report.counts:
        same = count.source == count.target
        table.add_row(count.table, str(count.source), str(count.target),
                      Text("ok") if same else Text("MISMATCH", style="bold red"))
    console.print(table)
    if report.unknown_tables:
        console.print(f"not copied (not digest's): {', '.join(report.unknown_tables)}",
                      markup=False, highlight=False)
    if not report.ok:
        err_console.print("[bold red]the row counts differ: the copy is not complete[/]")
        ctx.exit(1)
    console.print(f"copied {sum(c.source for c in report.counts)} rows in {len(report.counts)} tables",
                  markup=False, highlight=False)


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
    from digest.subscribers import import_csv, list_topics

    config = _config(ctx.find_root())
    lists = [_list_config(ctx, config, list_name)] if list_name else list(config.lists)
    bad = False
    with _store(ctx, config) as store:
        for lst in lists:
            source = path or lst.subscribers
            if source is None:
                continue
            try:
                report = import_csv(
                    store, lst.name, source, now=_now(), topics=list_topics(config, lst)
                )
            except DigestError as exc:
                raise CommandError(str(exc)) from exc
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
    """List subscribers of LIST_NAME, one tab-separated line each under a header row:
    email, status, topics, timezone, name."""
    config = _config(ctx.find_root())
    _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
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

    config = _config(ctx.find_root())
    _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
        export_csv(store.subscribers_of(list_name, status=None), output)


@subscribers.command("remove")
@click.argument("list_name")
@click.argument("email")
@click.pass_context
def subscribers_remove(ctx: click.Context, list_name: str, email: str) -> None:
    """Unsubscribe EMAIL from LIST_NAME (kept as 'unsubscribed' so no import re-adds it)."""
    from digest.types import SubscriberStatus

    config = _config(ctx.find_root())
    _list_config(ctx, config, list_name)
    with _store(ctx, config) as store:
        sub = store.subscriber_by_email(list_name, email)
        if sub is None:
            raise CommandError(f"{email} is not on list {list_name}")
        assert sub.id is not None
        store.set_subscriber_status(sub.id, SubscriberStatus.UNSUBSCRIBED, now=_now())
    click.echo(f"{sub.email} unsubscribed from {list_name}")


@cli.group(invoke_without_command=True)
@click.pass_context
def suppressions(ctx: click.Context) -> None:
    """Suppressed addresses (default: list them): bounces, drops, complaints, unsubscribes."""
    if ctx.invoked_subcommand is not None:
        return
    with _store(ctx, _config(ctx.find_root())) as store:
        rows = store.suppressions_of()
    for email, list_name, reason, at in rows:
        click.echo(f"{email} {list_name or '(every list)'} {reason} {at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"{len(rows)} suppressed")


@suppressions.command("remove")
@click.argument("email")
@click.option("--complaint", is_flag=True,
              help="Also lift a spam complaint: only when the recipient asked to receive mail again.")
@click.pass_context
def suppressions_remove(ctx: click.Context, email: str, complaint: bool) -> None:
    """Lift the suppression of EMAIL after a bounce or drop (the address works again): its
    bounced subscribers become active. A spam complaint stays unless --complaint says the
    recipient asked to receive mail again (digest.suppression); unsubscribes always stay.
    Failed deliveries to it are sent by `digest deliveries retry-failed`."""
    with _store(ctx, _config(ctx.find_root())) as store:
        removed, revived, kept = store.lift_suppression(email, now=_now(), complaint=complaint)
    note = (
        f"{email} marked your mail as spam ({kept} complaint(s) kept): it is lifted only with "
        f"`digest suppressions remove {email} --complaint`, once the recipient has asked to "
        "receive mail again"
    )
    if not removed and not revived:
        raise CommandError(
            note if kept else f"{email} is not suppressed (an unsubscribe is lifted only by the subscriber)"
        )
    click.echo(f"{email}: {removed} suppression(s) lifted, {revived} subscriber(s) active again; "
               "`digest deliveries retry-failed` re-sends its failed deliveries")
    if kept:
        click.echo(note)


@cli.group(invoke_without_command=True)
@click.pass_context
def deliveries(ctx: click.Context) -> None:
    """Ledger counts per edition and state (default); unknown, failed and retrying rows."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(deliveries_show)


@deliveries.command("show")
@click.option("--edition", "edition_id", type=int, help="Only this edition id.")
@click.pass_context
def deliveries_show(ctx: click.Context, edition_id: int | None = None) -> None:
    """Counts per state for recent editions (``delivered`` or ``sending``, derived from the
    rows), then every delivery whose outcome is unknown, the failed ones and those waiting
    for a retry, each with its reason (at most 20 of each listed)."""
    with _store(ctx, _config(ctx.find_root())) as store:
        overview = store.delivery_overview()
        # rows left "sending" are in doubt too when no run is alive (a killed run left them);
        # rows the retry commands keep (skip_reason, their own rule) are listed apart
        unknown, unknown_kept = _by_kept(store.deliveries_in(edition_id, ["unknown", "sending"]))
        failed, failed_kept = _by_kept(store.deliveries_in(edition_id, ["failed"]))
        retrying = [r for r in store.deliveries_in(edition_id, ["queued"]) if r.attempts]
        held = store.held_batches(edition_id)
        unmatched = store.unmatched_events()
    for ed in overview:
        if edition_id is not None and ed.edition_id != edition_id:
            continue
        counts = ", ".join(f"{k} {v}" for k, v in ed.counts.nonzero())
        click.echo(f"edition {ed.edition_id} {ed.list_name}/{ed.period} "
                   f"[{ed.status}]: {counts}")
    for rows, title in (
        (unknown, "unknown outcome ({n}; `digest deliveries retry-unknown` re-sends)"),
        (unknown_kept, "unknown outcome, not re-sent ({n}; `digest deliveries retry-unknown` "
                       "leaves them unknown)"),
        (failed, "failed ({n}; `digest deliveries retry-failed` re-sends)"),
        (failed_kept, "failed, not re-sent ({n}; `digest deliveries retry-failed` leaves them "
                      "failed)"),
        (retrying, "waiting for a retry ({n}; `digest deliveries retry-failed` makes them due now)"),
    ):
        if not rows:
            continue
        click.echo(title.format(n=len(rows)) + ":")
        for row in rows[:20]:
            reason = row.last_error or ""
            if row.state == "sending":
                reason = "in flight: a running send has it, or a killed one left it"
            if row.kept_reason is not None:
                reason = f"{row.kept_reason} ({reason})" if reason else row.kept_reason
            click.echo(f"  edition {row.edition_id} delivery {row.id} {row.email}: {reason}")
        if len(rows) > 20:
            click.echo(f"  ... and {len(rows) - 20} more")
    for rows, state, command in ((unknown_kept, "unknown", "retry-unknown"),
                                 (failed_kept, "failed", "retry-failed")):
        reasons: dict[str, int] = {}
        for row in rows:
            reasons[row.kept_reason] = reasons.get(row.kept_reason, 0) + 1
        _echo_kept(reasons, state, command)
    _echo_held(held)
    if unmatched:
        click.echo(f"dropped by SendGrid, matching no delivery ({len(unmatched)}; their rows may "
                   "still say sent: find them in SendGrid's activity feed, send them again by hand):")
        for ev in unmatched[-20:]:
            click.echo(f"  {ev.at:%Y-%m-%d %H:%M} UTC {ev.email}: {ev.reason}"
                       + (f" (message {ev.message_id})" if ev.message_id else ""))


def _by_kept(rows: list[Any]) -> tuple[list[Any], list[Any]]:
    """``rows`` (:class:`~digest.store.rows.DeliveryRow`) split into those the retry
    commands re-queue and those they keep (``kept_reason``: suppressed or not active)."""
    return ([r for r in rows if r.kept_reason is None],
            [r for r in rows if r.kept_reason is not None])


def _echo_held(held: list[Any]) -> None:
    """One line per holder of rows in flight: whether `retry-unknown` takes them over now,
    else why not and when (:func:`digest.ledger_state.held_note`)."""
    from digest.ledger_state import held_note

    for batch in held:
        click.echo(f"in flight: {held_note(batch)}")


@deliveries.command("retry-unknown")
@click.option("--edition", "edition_id", type=int, help="Only this edition id (default: all).")
@click.pass_context
def deliveries_retry_unknown(ctx: click.Context, edition_id: int | None) -> None:
    """Queue deliveries with an unknown outcome again; the next `digest run` or the
    scheduler delivers them. Recipients the provider did take will get a second copy:
    this is your decision."""
    from digest.deliver import Ledger

    kept: dict[str, int] = {}
    with _store(ctx, _config(ctx.find_root())) as store:
        waiting = store.waiting_retries(edition_id)
        n = Ledger(store, clock=_now).retry_unknown(edition_id, held=kept)
        held = store.held_batches(edition_id)  # left in flight: say why and until when
    _echo_requeued(n, waiting)
    _echo_kept(kept, "unknown", "retry-unknown")
    _echo_held(held)


def _echo_requeued(n: int, waiting: int) -> None:
    message = f"{n} deliveries queued again"
    if waiting:
        message += f"; {waiting} waiting for a retry are due now"
    click.echo(message + ("; the next `digest run` (or the scheduler) sends them" if n or waiting else ""))


@deliveries.command("retry-failed")
@click.option("--edition", "edition_id", type=int, help="Only this edition id (default: all).")
@click.pass_context
def deliveries_retry_failed(ctx: click.Context, edition_id: int | None) -> None:
    """Queue failed deliveries again (after a provider outage or a full disk); the next
    `digest run` or the scheduler sends them. Deliveries to suppressed addresses or to
    subscribers no longer active stay failed, counted by reason."""
    from digest.deliver import Ledger

    held: dict[str, int] = {}
    with _store(ctx, _config(ctx.find_root())) as store:
        waiting = store.waiting_retries(edition_id)
        n = Ledger(store, clock=_now).retry_failed(edition_id, held=held)
    _echo_requeued(n, waiting)
    _echo_kept(held, "failed", "retry-failed")


def _echo_kept(kept: dict[str, int], state: str, command: str) -> None:
    """One line per reason (:func:`digest.ledger_state.skip_reason`) for the rows in
    ``state`` that ``digest deliveries COMMAND`` left as they were, and what would lift it."""
    for reason, count in sorted(kept.items()):
        lift = (
            "they unsubscribed, so they are not sent again"
            if reason == "subscriber unsubscribed"
            else "`digest suppressions` lists them; `digest suppressions remove EMAIL` lifts "
            f"one, then run {command} again"
        )
        click.echo(f"{count} {state} deliveries stay {state} ({reason}): {lift}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
@click.pass_context
def web(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web app: editor pages (set DIGEST_EDITOR_TOKEN, 32+ characters, to log in),
    the public archive and feeds, unsubscribe and preferences pages, the SendGrid webhooks."""
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


@cli.command("unsubscribe-mail")
@click.argument("mailbox_path", metavar="MAILDIR|MBOX", type=click.Path(path_type=Path))
@click.pass_context
def unsubscribe_mail(ctx: click.Context, mailbox_path: Path) -> None:
    """Unsubscribe by the messages in the unsubscribe address's Maildir or mbox (for SMTP
    installations; run it from cron). Each message is processed once; the mailbox is never
    changed. Bad messages are listed on stderr; exit 1 only when the mailbox cannot be opened."""
    from digest.unsubscribe import MailOutcome
    from digest.unsubscribe_mailbox import MailboxError, process_mailbox

    config = _config(ctx.find_root())
    with _store(ctx, config) as store:
        try:
            report = process_mailbox(mailbox_path, store, now=_now())
        except MailboxError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)
    for item in report.messages:
        if item.outcome is None:
            err_console.print(f"message {escape(item.key)}: {escape(item.detail)}", highlight=False)
        elif item.outcome in (MailOutcome.NO_TOKEN, MailOutcome.BAD_TOKEN):
            err_console.print(f"message {escape(item.key)}: {item.outcome.value}, ignored", highlight=False)
    counts = ", ".join(f"{report.count(o)} {o.value}" for o in MailOutcome)
    console.print(
        f"{len(report.messages)} new messages: {counts}, {report.count(None)} unreadable; "
        f"{report.skipped} processed before",
        highlight=False,
    )


def main(*, freeze_on_open: bool = False) -> None:
    """Run the ``digest`` command (:mod:`digest.__main__` is the console script's entry point).
    An error digest raises that no command handled (a damaged database, say) is one line on
    stderr and exit 1, never a traceback. ``freeze_on_open``: move every object built so far
    into the garbage collector's permanent generation (``gc.freeze``) once the command's store
    is open, its libraries imported (SQLAlchemy and the store's tables among them)."""
    try:
        cli(standalone_mode=True, obj={"freeze_on_open": freeze_on_open})
    except DigestError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
