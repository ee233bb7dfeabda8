"""The World news edition through the SendGrid transport, against the fake SendGrid server on
loopback: one request carries every recipient, each with their own unsubscribe link as a
substitution, and the ledger matches what the provider accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest import pipeline
from digest.store import Store
from tests.fake_sendgrid import FakeSendgrid
from tests.test_world_edition import AT, NOW, world_config


def test_world_edition_via_sendgrid(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    with FakeSendgrid(keep_bodies=True) as fake:
        config = world_config(
            tmp_path, db_url, delivery={"transport": "sendgrid", "sendgrid": {"host": fake.url}}
        )
        with Store.open(config.database.url) as store:
            report = pipeline.run(config, store, now=NOW, at=AT, clock=lambda: NOW)
        [lst] = report.lists
        assert lst.status == "sent" and lst.deliveries == {"sent": 5}
        assert sorted(fake.accepted_emails()) == sorted(
            ["ada@example.com", "grace@example.com", "ken@example.com", "margaret@example.com",
             "linus@example.com"]
        )
        # one request per distinct body: the whole edition, and Ken's four-topic variant
        assert fake.requests == 2
        body = fake.bodies[0]
        html = next(c["value"] for c in body["content"] if c["type"] == "text/html")
        assert "%%unsubscribe_url%%" in html  # one body for all, filled in by SendGrid
        links = {
            p["to"][0]["email"]: p["substitutions"]["%%unsubscribe_url%%"]
            for b in fake.bodies
            for p in b["personalizations"]
        }
        assert all("/u/" in link for link in links.values())
        assert len(set(links.values())) == 5  # each recipient's own link
        assert "X-Digest-Substitutions" not in str(fake.bodies)  # the hint never leaves
