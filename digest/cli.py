"""The ``digest`` command. Thin: each command parses options, calls the library, prints.

Exit codes: 0 success, 1 when something failed (a source, a list, a delivery), 2 for usage
or configuration errors.
"""

from __future__ import annotations

import click


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
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """Build news digests from feeds and deliver them to subscriber lists."""
    ctx.obj = {"config_path": config_path}


# -- subscribers, deliveries, web (deliver helper) ---------------------------------------------

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from datetime import datetime

    from digest.config import Config
    from digest.store import Store


def _open_store(ctx: click.Context) -> tuple[Config, Store]:
    """Load the config named by ``--config`` and open its store; exit 2 on config errors."""
    from digest.config import load_config
    from digest.exceptions import DigestError
    from digest.store import Store

    try:
        config = load_config(ctx.obj["config_path"])
        return config, Store.open(config.database.url)
    except DigestError as exc:
        raise click.ClickException(str(exc)) from exc


def _now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


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

    config, store = _open_store(ctx)
    lists = [config.list(list_name)] if list_name else list(config.lists)
    bad = False
    for lst in lists:
        source = path or lst.subscribers
        if source is None:
            continue
        try:
            report = import_csv(store, lst.name, source, now=_now())
        except Exception as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{lst.name}: {report.added} added, {report.existing} existing, "
                   f"{report.kept_status} kept out (left earlier), {len(report.problems)} bad")
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        bad = bad or bool(report.problems)
    store.close()
    if bad:
        ctx.exit(1)


@subscribers.command("list")
@click.argument("list_name")
@click.option("--status", default="active", show_default=True,
              type=click.Choice(["active", "unsubscribed", "bounced", "complained", "all"]))
@click.pass_context
def subscribers_list(ctx: click.Context, list_name: str, status: str) -> None:
    """List subscribers of LIST_NAME: address, status, topics, name."""
    _, store = _open_store(ctx)
    for sub in store.subscribers_of(list_name, status=None if status == "all" else status):
        click.echo(f"{sub.email}\t{sub.status}\t{';'.join(sub.topics) or '-'}\t{sub.name}")
    store.close()


@subscribers.command("export")
@click.argument("list_name")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
@click.pass_context
def subscribers_export(ctx: click.Context, list_name: str, output: TextIO) -> None:
    """Export every subscriber of LIST_NAME as CSV, safe to open in a spreadsheet."""
    from digest.subscribers import export_csv

    _, store = _open_store(ctx)
    export_csv(store.subscribers_of(list_name, status=None), output)
    store.close()


@subscribers.command("remove")
@click.argument("list_name")
@click.argument("email")
@click.pass_context
def subscribers_remove(ctx: click.Context, list_name: str, email: str) -> None:
    """Unsubscribe EMAIL from LIST_NAME (kept as 'unsubscribed' so no import re-adds it)."""
    from digest.types import SubscriberStatus

    _, store = _open_store(ctx)
    sub = store.subscriber_by_email(list_name, email)
    if sub is None:
        store.close()
        raise click.ClickException(f"{email} is not on list {list_name}")
    assert sub.id is not None
    store.set_subscriber_status(sub.id, SubscriberStatus.UNSUBSCRIBED, now=_now())
    store.close()
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
    _, store = _open_store(ctx)
    for ed in store.delivery_overview():
        if edition_id is not None and ed["edition_id"] != edition_id:
            continue
        counts = ", ".join(f"{k} {v}" for k, v in sorted(ed["counts"].items()))
        click.echo(f"edition {ed['edition_id']} {ed['list_name']}/{ed['period']} "
                   f"[{ed['status']}]: {counts}")
    unknown = store.deliveries_in(edition_id, ["unknown"])
    if unknown:
        click.echo(f"unknown outcome ({len(unknown)}; `digest deliveries retry-unknown` re-sends):")
        for row in unknown:
            click.echo(f"  edition {row['edition_id']} delivery {row['id']} {row['email']}: "
                       f"{row['last_error'] or ''}")
    store.close()


@deliveries.command("retry-unknown")
@click.option("--edition", "edition_id", type=int, help="Only this edition id (default: all).")
@click.pass_context
def deliveries_retry_unknown(ctx: click.Context, edition_id: int | None) -> None:
    """Queue deliveries with an unknown outcome again; the next send run delivers them.
    Recipients the provider did take will get a second copy: this is your decision."""
    from digest.deliver import Ledger

    _, store = _open_store(ctx)
    n = Ledger(store, clock=_now).retry_unknown(edition_id)
    store.close()
    click.echo(f"{n} deliveries queued again")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
@click.pass_context
def web(ctx: click.Context, host: str, port: int) -> None:
    """Serve the unsubscribe/preferences pages and the SendGrid webhook (uvicorn)."""
    import uvicorn

    from digest.web import create_app

    config, store = _open_store(ctx)
    uvicorn.run(create_app(config, store), host=host, port=port, log_level="info")


def main() -> None:
    """Console-script entry point."""
    cli()
