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


def main() -> None:
    """Console-script entry point."""
    cli()
