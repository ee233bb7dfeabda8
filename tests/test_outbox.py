"""Outbox transport: one .eml per recipient, atomic writes, per-item outcomes."""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.message import build_message
from digest.render import render_edition
from digest.transports import Outgoing, Transport
from digest.transports.outbox import OutboxTransport, safe_file_part, write_edition_files
from digest.types import DeliveryState, RenderedEdition
from tests.sample_edition import NOW, sample_config, sample_edition, sample_list, sample_subscriber


@pytest.fixture(scope="module")
def rendered() -> RenderedEdition:
    config = sample_config()
    return render_edition(sample_edition(), config=config, list_config=sample_list(config), now=NOW)


def outgoing(rendered: RenderedEdition, delivery_id: int, email: str, name: str = "") -> Outgoing:
    config = sample_config()
    msg = build_message(
        rendered,
        sample_subscriber(email=email, name=name, id=delivery_id),
        list_config=sample_list(config),
        site=config.site,
        unsubscribe_url=f"https://digest.example.org/unsubscribe/{delivery_id}",
        unsubscribe_mailto=None,
        preferences_url=None,
        now=NOW,
    )
    return Outgoing(delivery_id, email, msg)


def test_one_eml_per_recipient(tmp_path: Path, rendered: RenderedEdition) -> None:
    folder = tmp_path / "outbox" / "world" / "2026-02-18"
    transport = OutboxTransport(folder)
    assert isinstance(transport, Transport) and transport.name == "outbox"
    batch = [
        outgoing(rendered, 1, "ada@example.com", "Ada Lovelace"),
        outgoing(rendered, 2, "Grace.Hopper+news@Example.COM", "Grace Hopper"),
        outgoing(rendered, 3, "x/etc/passwd@evil.example", "Mallory"),
    ]
    outcomes = transport.send(batch)
    transport.close()
    assert [o.delivery_id for o in outcomes] == [1, 2, 3]
    assert all(o.state is DeliveryState.SENT for o in outcomes)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(o.provider_id for o in outcomes)  # type: ignore[type-var]
    assert names[0] == "0001-ada_at_example.com.eml"
    assert names[1] == "0002-grace.hopper+news_at_example.com.eml"
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert len(list(folder.iterdir())) == 3  # no temp files left behind
    msg = message_from_bytes((folder / names[0]).read_bytes(), policy=policy.default)
    assert msg["To"] == "Ada Lovelace <ada@example.com>"
    assert msg["List-Unsubscribe"] == "<https://digest.example.org/unsubscribe/1>"
    assert b"\r\n" in (folder / names[0]).read_bytes()


def test_resend_rewrites_the_same_file(tmp_path: Path, rendered: RenderedEdition) -> None:
    transport = OutboxTransport(tmp_path)
    first = transport.send([outgoing(rendered, 7, "ada@example.com")])
    again = transport.send([outgoing(rendered, 7, "ada@example.com")])
    assert first[0].provider_id == again[0].provider_id
    assert len(list(tmp_path.glob("*.eml"))) == 1


def test_write_error_is_a_transient_refusal(tmp_path: Path, rendered: RenderedEdition) -> None:
    # a write error (full disk, bad folder) is retried by the ledger, not failed at once
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    outcomes = OutboxTransport(blocker / "sub").send([outgoing(rendered, 1, "ada@example.com")])
    assert outcomes[0].state is DeliveryState.QUEUED
    assert outcomes[0].error and "Error" in outcomes[0].error


def test_failed_item_does_not_stop_batch(tmp_path: Path, rendered: RenderedEdition) -> None:
    good = outgoing(rendered, 1, "ada@example.com")
    (tmp_path / "0002-bob_at_example.com.eml").mkdir()  # a folder where the file should go
    bad = outgoing(rendered, 2, "bob@example.com")
    outcomes = OutboxTransport(tmp_path).send([bad, good])
    assert [o.state for o in outcomes] == [DeliveryState.QUEUED, DeliveryState.SENT]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_write_edition_files(tmp_path: Path, rendered: RenderedEdition) -> None:
    write_edition_files(tmp_path / "w", rendered)
    assert (tmp_path / "w" / "edition.html").read_text(encoding="utf-8") == rendered.html
    assert (tmp_path / "w" / "edition.txt").read_text(encoding="utf-8") == rendered.text
    assert sorted(os.listdir(tmp_path / "w")) == ["edition.html", "edition.txt"]


def test_safe_file_part() -> None:
    assert safe_file_part("Ada@Example.com") == "ada_at_example.com"
    assert safe_file_part("..\\x/y z@ü.org") == "x_y_z_at__.org"
    assert len(safe_file_part("a" * 500 + "@x.org")) == 80
