"""``python -m digest`` and the ``digest`` console script: :func:`main`."""

from __future__ import annotations

import gc


def main() -> None:
    """Console-script entry point: import :mod:`digest.cli` with the cyclic garbage collector
    paused, move what the import built into the permanent generation (``gc.freeze``), turn
    the collector back on, then run :func:`digest.cli.main`, which freezes once more when the
    command's store is open (after the command's own imports: the pipeline, SQLAlchemy, the
    store's tables).

    Why (issue 14, a cron ``digest run`` with nothing to do): that import loads click, rich,
    pydantic and the config models, tens of thousands of objects that live as long as the
    process; with the collector on, CPython traverses them at every collection their own
    allocations trigger, and every later collection traverses them again. Frozen, they are
    never traversed (``bench/noop.py``: 10% of the no-op's instructions). The command itself
    runs with the collector on; a collector already off (an embedding program's
    ``gc.disable()``) stays off. Objects frozen stay for the life of the process, as modules,
    classes and the loaded config do anyway."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from digest.cli import main as cli_main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    cli_main(freeze_on_open=True)


if __name__ == "__main__":
    main()
