"""``python -m digest`` and the ``digest`` console script: :func:`main`."""

from __future__ import annotations

import gc


def main() -> None:
    """Console-script entry point: import :mod:`digest.cli` with the cyclic garbage collector
    paused, move what the import built into the permanent generation (``gc.freeze``), turn
    the collector back on, then run :func:`digest.cli.main` with ``freeze_on_open``: ``run``
    imports its pipeline (SQLAlchemy, the store) the same way, and every command freezes
    once more when its store is open.

    Why (issue 14, a cron ``digest run`` with nothing to do): those imports build tens of
    thousands of objects (click, rich, pydantic and the config models, SQLAlchemy) that live
    as long as the process; with the collector on, CPython traverses them at every
    collection their own allocations trigger, and every later collection traverses them
    again. Frozen, they are never traversed: ``bench/noop.py`` measures a quarter less CPU
    time for the no-op, 6% fewer instructions (the collections' memory reads cost more than
    their count says). The command's own work runs with the collector on; a collector
    already off (an embedding program's ``gc.disable()``) stays off. Frozen objects stay for
    the life of the process, as modules, classes and the loaded config do anyway."""
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
