"""Re-queued rows re-open their edition for every command: `digest send`, `digest run`, the
scheduler and `digest status` read one derived definition (digest.ledger_state), so a stale
stored "sent" never hides work (issue 11, failure 1)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from digest.deliver import Ledger
from digest.scheduler import Service
from digest.store import Store, deliveries, editions
from tests.databases import DIALECTS
from tests.fake_sendgrid import FakeSendgrid
from tests.ledger_cli import AT, Template, install, shared_template
from tests.test_ledger_cli import SENDGRID_ENV, sendgrid
from tests.test_world_edition import world_config

SEND = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


@pytest.fixture()
def template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Template:
    """The World edition of 2026-02-18 stored with 600 subscribers' rows, not yet due; on
    SQLite, or on the dialect a test names (``parametrize("template", DIALECTS, indirect=True)``)."""
    return shared_template(tmp_path_factory, getattr(request, "param", "sqlite"))


@pytest.mark.parametrize("template", DIALECTS, indirect=True)
def test_send_after_retry_unknown_delivers_instead_of_saying_delivered(
    template: Template, tmp_path: Path
) -> None:
    with FakeSendgrid() as fake:
        inst = install(template, tmp_path, sendgrid(fake, batch_size=5), keep=10, **SENDGRID_ENV)
        fake.script = ["reset"]  # the first request's answer is lost: 5 unknown
        r = inst.digest("send", "world", "--at", AT)
        assert Counter(inst.rows().values()) == {"sent": 5, "unknown": 5}, r.stdout + r.stderr
        r = inst.digest("send", "world", "--at", AT)
        assert "already exists" in r.stdout and "retry-unknown" not in r.stdout
        assert inst.digest("deliveries", "retry-unknown").stdout.startswith("5 deliveries")
        status = inst.digest("status", "--json")
        assert '"status": "sending"' in status.stdout
        r = inst.digest("send", "world", "--at", AT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "already exists" not in r.stdout
        assert set(inst.rows().values()) == {"sent"}
        assert len(fake.accepted) == 15  # the 5 in doubt had been taken: they got it twice
        assert '"status": "delivered"' in inst.digest("status", "--json").stdout


def test_the_scheduler_resumes_an_edition_re_opened_by_retry_unknown(
    tmp_path: Path, db_url: str
) -> None:
    config = world_config(tmp_path, db_url)
    now = [SEND + timedelta(minutes=5)]
    with Store.open(config.database.url) as store:
        service = Service(config, store, clock=lambda: now[0], holder="test")
        service.tick(now[0])
        [edition] = store.editions_of("world")
        assert store.delivery_counts(edition.id) == {"sent": 5}
        # two outcomes were unknown, and the edition carries the old stored "sent" flag
        with store.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id <= 2).values(state="unknown"))
            conn.execute(update(editions).values(status="sent"))
        assert Ledger(store, clock=lambda: now[0]).retry_unknown() == 2
        now[0] += timedelta(minutes=10)
        service.tick(now[0])
        assert store.delivery_counts(edition.id) == {"sent": 5}
        assert store.unfinished_editions() == []
