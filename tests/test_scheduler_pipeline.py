"""The scheduler service driving the real pipeline on the captured feeds, with an injected
clock: the morning edition goes out once, and a send_at list reaches each subscriber at 07:00
in their own timezone from the one edition built at the scheduled time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from digest.scheduler import Service
from digest.store import Store, deliveries, subscribers
from tests.test_world_edition import world_config

SEND = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def _sent_by_email(store: Store) -> dict[str, datetime]:
    query = (
        select(subscribers.c.email, deliveries.c.updated_at)
        .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        .where(deliveries.c.state == "sent")
    )
    with store.begin() as conn:
        return {row.email: row.updated_at for row in conn.execute(query)}


def test_service_sends_the_morning_edition_once(tmp_path: Path, db_url: str) -> None:
    config = world_config(tmp_path, db_url)
    now = [SEND + timedelta(minutes=5)]
    with Store.open(config.database.url) as store:
        service = Service(config, store, clock=lambda: now[0], holder="test")
        service.tick(now[0])
        assert len(_sent_by_email(store)) == 5
        now[0] += timedelta(minutes=30)
        service.tick(now[0])
        assert len(store.editions_of("world")) == 1
        assert len(_sent_by_email(store)) == 5


def test_send_at_reaches_each_subscriber_at_their_local_seven(tmp_path: Path, db_url: str) -> None:
    data_lists = [
        {**lst, "send_at": "07:00", "schedule": {"cron": "0 5 * * *", "timezone": "UTC"}}
        for lst in __import__("yaml").safe_load((Path(__file__).parent.parent / "config.yaml").read_text())["lists"]
    ]
    config = world_config(tmp_path, db_url, lists=data_lists)
    # subscribers/world.csv: London, New York, Los Angeles, Berlin, Tokyo
    local_seven_utc = {
        "ada@example.com": datetime(2026, 2, 18, 7, tzinfo=UTC),
        "margaret@example.com": datetime(2026, 2, 18, 6, tzinfo=UTC),
        "grace@example.com": datetime(2026, 2, 18, 12, tzinfo=UTC),
        "ken@example.com": datetime(2026, 2, 18, 15, tzinfo=UTC),
    }
    now = [datetime(2026, 2, 18, 5, 1, tzinfo=UTC)]
    with Store.open(config.database.url) as store:
        service = Service(config, store, clock=lambda: now[0], holder="test")
        seen: dict[str, datetime] = {}
        while now[0] < datetime(2026, 2, 19, 5, 0, tzinfo=UTC):
            service.tick(now[0])
            for email in _sent_by_email(store):
                seen.setdefault(email, now[0])
            now[0] += timedelta(minutes=30)
        assert len(store.editions_of("world")) == 1
    for email, due in local_seven_utc.items():
        assert due <= seen[email] < due + timedelta(minutes=31), (email, seen[email])
    # Tokyo's 07:00 had passed (22:00 UTC the day before) when the edition was built at 05:00
    # UTC: it gets the edition on its next local morning, not a day late and never twice
    assert seen["linus@example.com"] >= datetime(2026, 2, 18, 22, tzinfo=UTC)
    assert len(seen) == 5
