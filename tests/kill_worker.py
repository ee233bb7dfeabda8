"""A delivery worker for the kill tests: ``python -m tests.kill_worker DB_URL SENDGRID_URL EDITION BATCH``.

Runs the ledger for one edition through the SendGrid transport at ``SENDGRID_URL``. When the
environment variable ``DIGEST_KILL_AT`` is ``point:n`` (``point`` one of
``digest.deliver.HOOK_POINTS``), the process SIGKILLs itself at that point of its n-th batch
-- no cleanup, no flush, exactly like a power cut or an OOM kill. ``DIGEST_LEASE_SECONDS``
is the lease of its claimed batches (default 300).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime, timedelta

from digest.config import DeliveryConfig, SendgridConfig
from digest.deliver import HOOK_POINTS, Ledger
from digest.store import Store
from digest.transports.sendgrid import SendgridTransport
from tests.deliver_helpers import SharedCompose


def main(argv: list[str]) -> int:
    db_url, sendgrid_url, edition_id, batch_size = argv[1], argv[2], int(argv[3]), int(argv[4])
    delivery = DeliveryConfig(batch_size=batch_size)
    kill_at = os.environ.get("DIGEST_KILL_AT", "")
    point, _, nth = kill_at.partition(":")
    if point and point not in HOOK_POINTS:
        raise SystemExit(f"unknown kill point {point!r}")
    target = int(nth or 1)
    seen: dict[str, int] = {}

    def hook(where: str, ids: list[int]) -> None:
        seen[where] = seen.get(where, 0) + 1
        if where == point and seen[where] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    store = Store.open(db_url)
    lease = timedelta(seconds=float(os.environ.get("DIGEST_LEASE_SECONDS", "300")))
    ledger = Ledger(store, clock=lambda: datetime.now(UTC), lease=lease, _hook=hook)
    transport = SendgridTransport(
        SendgridConfig(host=sendgrid_url, timeout=10), secret="kill-test", api_key="SG.kill-test"
    )
    counts = ledger.run(
        edition_id, list_name="world", transport=transport, compose=SharedCompose(),
        batch_size=delivery.batch_size, max_consecutive_failures=delivery.max_consecutive_failures,
    )
    print(counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
