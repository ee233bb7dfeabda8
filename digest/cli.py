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


def main() -> None:
    """Console-script entry point."""
    cli()
