"""``python -m tests.outbox_kill ARGS...``: the ``digest`` command (``python -m digest
ARGS...``) that SIGKILLs itself in the middle of an outbox batch.

When the environment variable ``DIGEST_KILL_AT_RENAME`` is ``n``, the process kills itself
just before its n-th rename of a written temporary file onto an ``.eml`` name -- no
cleanup, no flush, like an OOM kill or ``kill -9`` from an operator. The batch's other
messages are then on disk under their temporary names, as after a real kill mid-send.
"""

from __future__ import annotations

import os
import signal

from digest.cli import main as digest_main


def main() -> None:
    target = int(os.environ.get("DIGEST_KILL_AT_RENAME", "0"))
    real_replace = os.replace
    renames = 0

    def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal renames
        if str(dst).endswith(".eml"):
            renames += 1
            if renames == target:
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace  # type: ignore[assignment]
    digest_main()


if __name__ == "__main__":
    main()
