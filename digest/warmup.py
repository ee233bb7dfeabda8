"""Load what building an edition needs while the parse pool's worker processes parse.

When :mod:`digest.parsepool` parses the feed bodies in worker processes, this process mostly
waits for them. A ``digest run`` that is about to build an edition then spends about 0.4 s of
CPU, once the poll is over, importing the build and render stages (numpy, ``scipy.sparse``,
Jinja2, mjml-python, premailer), loading the sentence-embedding model and compiling the
gazetteer's place-name patterns (:mod:`digest.places`, first used by the noise rules) (issue 14).
:func:`start` does that work in a thread of this process during the poll, on the core the
waiting process leaves free; :meth:`Warmup.wait` (before the build) joins it, so the build
never loads a module or the model a second time and its output is the same as without it.

The thread is started only once the pool's workers are forked (a fork with another thread
running could copy a lock it holds, :mod:`digest.parsepool`), never on one core (no pool) and
never when no edition is to be built. A failure in the thread is logged and ignored: the build
then imports or loads what is missing itself and raises what that raises.
"""

from __future__ import annotations

import importlib
import logging
import threading

__all__ = ["STAGES", "Warmup", "start"]

log = logging.getLogger("digest.warmup")

STAGES = (
    "digest.noise",
    "digest.cluster",
    "digest.tfidf",
    "digest.linkage",
    "digest.anchors",
    "digest.placeconflict",
    "scipy.sparse",
    "digest.embed",
    "digest.rank",
    "digest.topics",
    "digest.adjust",
    "digest.render",
    "digest.message",
    "digest.deliver",
    "digest.transports.outbox",
    "digest.subscribers",
)
"""The modules a build, its rendering and its delivery to the outbox import, in that order."""


def _load() -> None:
    for name in STAGES:
        importlib.import_module(name)
    from digest import embed, places

    embed.model()  # reads the bundled weights and tokenizer once per process (lru_cache)
    places._matcher()  # the gazetteer's two name alternations: 0.04 s of CPU to compile


class Warmup:
    """A running warm-up: :meth:`wait` returns once the thread has finished (at once if it
    has)."""

    def __init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="digest-warmup", daemon=False)
        self._thread.start()

    @staticmethod
    def _run() -> None:
        try:
            _load()
        except Exception as exc:  # the build imports (and reports) it again
            log.warning("warmup.failed error=%r", str(exc))

    def wait(self) -> None:
        """Block until the warm-up is done."""
        self._thread.join()


def start() -> Warmup:
    """Start loading :data:`STAGES` and the embedding model in a thread; see the module
    docstring for when a caller should."""
    return Warmup()
