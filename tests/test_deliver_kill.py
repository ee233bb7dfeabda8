"""Kill tests: SIGKILL a delivering process at each point of a batch, restart, check that
nobody got the edition twice and that everyone gets it after retry-unknown."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from digest.deliver import Ledger
from digest.ledger_state import edition_complete
from digest.store import Store
from tests.deliver_helpers import NOW, bulk_subscribers, make_edition
from tests.fake_sendgrid import FakeSendgrid

REPO = Path(__file__).resolve().parent.parent
SUBSCRIBERS = 1000
BATCH = 100


def worker(db_url: str, fake: FakeSendgrid, edition_id: int, kill_at: str | None) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DIGEST_KILL_AT", None)
    if kill_at:
        env["DIGEST_KILL_AT"] = kill_at
    done = subprocess.run(
        [sys.executable, "-m", "tests.kill_worker", db_url, fake.url, str(edition_id), str(BATCH)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(done.stderr)
    return done.returncode


@pytest.mark.slow
@pytest.mark.parametrize("point", ["claimed", "before_send", "accepted", "committed"])
def test_killed_at_each_point_nobody_gets_it_twice(db_url: str, point: str) -> None:
    store: Store = Store.open(db_url)
    edition = make_edition(store)
    subs = bulk_subscribers(store, SUBSCRIBERS)
    Ledger(store, clock=lambda: NOW).queue(edition, subs)
    everyone = {s.email for s in subs}

    with FakeSendgrid() as fake:
        assert worker(db_url, fake, edition, f"{point}:3") == -signal.SIGKILL
        killed_after = len(fake.accepted)
        assert worker(db_url, fake, edition, None) == 0

        got = collections.Counter(fake.accepted_emails())
        assert max(got.values()) == 1, "someone got the edition twice"
        unknown = {r.email for r in store.deliveries_in(edition, ["unknown"])}
        counts = store.delivery_counts(edition)
        if point == "committed":
            assert killed_after == 3 * BATCH
            assert unknown == set() and counts == {"sent": SUBSCRIBERS}
            assert set(got) == everyone
        elif point == "accepted":
            # exactly the one batch in flight is in doubt, and listed
            assert len(unknown) == BATCH
            assert counts == {"sent": SUBSCRIBERS - BATCH, "unknown": BATCH}
            assert set(got) | unknown == everyone
            assert unknown <= set(got)  # the provider had taken them
            assert killed_after == 3 * BATCH
        else:
            # killed before the batch was handed to the provider: claimed rows go back to
            # queued, nothing is in doubt and the restart sends them
            assert killed_after == 2 * BATCH
            assert unknown == set() and counts == {"sent": SUBSCRIBERS}
            assert set(got) == everyone
        assert edition_complete(store.delivery_counts(edition))

        # the operator decides: re-send the unknown ones
        assert Ledger(store, clock=lambda: NOW).retry_unknown(edition) == len(unknown)
        assert worker(db_url, fake, edition, None) == 0
        got = collections.Counter(fake.accepted_emails())
        assert set(got) == everyone
        twice = {email for email, n in got.items() if n > 1}
        if point == "accepted":
            assert twice == unknown and len(twice) <= BATCH
        else:
            assert twice == set()
        assert store.delivery_counts(edition) == {"sent": SUBSCRIBERS}
    store.close()
