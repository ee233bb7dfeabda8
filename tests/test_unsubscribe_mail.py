"""Unsubscribe by mail (issue 11, failure 4): the mailto is advertised only when a mailbox is
configured, carries the subscriber's signed token, and both readers of that mailbox
(SendGrid Inbound Parse, ``digest unsubscribe-mail MAILDIR|MBOX``) unsubscribe with it."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import os
import re
import subprocess
import sys
import warnings
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from digest import pipeline
from digest.config import Config, load_config
from digest.store import Store
from digest.tokens import make_token
from digest.types import RenderedEdition, Subscriber, SubscriberStatus
from digest.unsubscribe import MailOutcome, mailto_url, tokens_in
from digest.web import create_app
from tests.deliver_helpers import NOW

INBOUND = "inbound-secret-0123456789abcdef-0123456789"
SITE_BOX = "unsubscribe@digest.example.org"


def write_config(
    tmp_path: Path, db_url: str = "sqlite:///digest.db", *, site_box: str | None = SITE_BOX,
    list_box: str | None = None,
) -> Path:
    """A config with lists ``world`` and ``tech`` and an outbox, on the database ``db_url``
    (default: ``digest.db`` beside the config)."""
    site: dict[str, object] = {"postal_address": "1 Example Street, London, UK",
                               "base_url": "https://digest.example.org"}  # fmt: skip
    if site_box:
        site["unsubscribe_mailto"] = site_box
    lst: dict[str, object] = {"name": "world", "title": "World", "sender": "World <w@example.org>"}
    if list_box:
        lst["unsubscribe_mailto"] = list_box
    cfg = {
        "site": site,
        "database": {"url": db_url},
        "delivery": {"transport": "outbox", "outbox_dir": "outbox"},
        "sources": [{"name": "s", "title": "S", "url": "https://example.org/feed"}],
        "lists": [lst, {"name": "tech", "title": "Tech", "sender": "Tech <t@example.org>"}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def send_edition(config: Config, store: Store, list_name: str, emails: list[str]) -> list[EmailMessage]:
    """Store an edition of ``list_name`` for ``emails`` and deliver it to the outbox; the
    messages as written."""
    subs = [store.add_subscriber(Subscriber(list_name, addr), now=NOW)[0] for addr in emails]
    rendered = RenderedEdition(list_name=list_name, period="2026-02-18",
                               html='<p>Hi %%name%%</p><a href="%%unsubscribe_url%%">unsubscribe</a>',
                               text="Hi %%name%%\n%%unsubscribe_url%%", subject="Today", preheader="",
                               omitted=0, web_url="")  # fmt: skip
    edition_id = store.create_edition(
        list_name=list_name, period="2026-02-18", window_start=NOW, window_end=NOW, now=NOW,
        subject="Today", preheader="", html=rendered.html, text=rendered.text, carried=[],
        variants={(): rendered}, recipients=[(s.id, None) for s in subs if s.id is not None],
    )  # fmt: skip
    lst = config.list(list_name)
    pipeline.deliver_edition(config, store, lst, edition_id, "2026-02-18", now=NOW, clock=lambda: NOW)
    folder = config.delivery.outbox_dir / list_name / "2026-02-18"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"))]  # fmt: skip


def mailto_of(msg: EmailMessage) -> str | None:
    found = re.findall(r"<(mailto:[^>]+)>", str(msg["List-Unsubscribe"]))
    return found[0] if found else None


def reply_to_mailto(mailto: str, sender: str) -> EmailMessage:
    """The message a mail client sends when the reader clicks the mailto (RFC 6068)."""
    parts = urlsplit(mailto)
    query = dict(p.split("=", 1) for p in parts.query.split("&"))
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = unquote(parts.path)
    msg["Subject"] = unquote(query["subject"])
    msg.set_content("Sent from my phone")
    return msg


def digest_cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", "-c", str(cfg), *args], capture_output=True, check=False,
                          text=True, timeout=60, env=os.environ.copy())  # fmt: skip


# -- what the emails advertise ---------------------------------------------------------------


def test_no_mailto_is_advertised_without_a_mailbox_and_a_list_overrides_the_site(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    config = load_config(write_config(tmp_path / "a", site_box=None))
    store = Store.open(config.database.url)
    [msg] = send_edition(config, store, "world", ["ada@example.com"])
    assert mailto_of(msg) is None
    assert str(msg["List-Unsubscribe"]).startswith("<https://digest.example.org/u/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    store.close()

    (tmp_path / "b").mkdir()
    config = load_config(write_config(tmp_path / "b", list_box="leave-world@lists.example.org"))
    store = Store.open(config.database.url)
    [world] = send_edition(config, store, "world", ["ada@example.com"])
    [tech] = send_edition(config, store, "tech", ["ada@example.com"])
    assert (mailto_of(world) or "").startswith("mailto:leave-world@lists.example.org?subject=unsubscribe%20")
    assert (mailto_of(tech) or "").startswith(f"mailto:{SITE_BOX}?subject=unsubscribe%20")
    store.close()


def test_the_mailto_subject_carries_the_subscribers_signed_token() -> None:
    token = make_token("k" * 43, 42)
    url = mailto_url(SITE_BOX, token)
    assert url == f"mailto:{SITE_BOX}?subject=unsubscribe%20{token}"
    assert mailto_url(None, token) is None
    assert tokens_in(f"Re: unsubscribe {token}") == (token,)
    assert tokens_in("unsubscribe", [f"Digest <unsubscribe+{token}@digest.example.org>"]) == (token,)
    assert tokens_in("hello there", ["unsubscribe@digest.example.org"]) == ()


# -- digest unsubscribe-mail MAILDIR|MBOX -------------------------------------------------------


def test_a_click_on_the_mailto_unsubscribes_through_a_maildir_once(
    db_url: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, db_url)
    config = load_config(cfg)
    store = Store.open(config.database.url)
    ada, grace = send_edition(config, store, "world", ["ada@example.com", "grace@example.com"])
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(reply_to_mailto(mailto_of(ada) or "", "ada@example.com"))
    box.add(b"\xff\xfe not a message at all \x00\x01")
    box.add(reply_to_mailto(f"mailto:{SITE_BOX}?subject=unsubscribe%20please", "eve@example.com"))
    forged = (mailto_of(grace) or "")[:-3] + "AAA"
    box.add(reply_to_mailto(forged, "eve@example.com"))
    box.close()
    r = digest_cli(cfg, "unsubscribe-mail", str(tmp_path / "Maildir"))
    assert r.returncode == 0, r.stderr
    assert "4 new messages: 1 unsubscribed, 0 already unsubscribed, 2 no token, 1 invalid token" in r.stdout
    assert "invalid token, ignored" in r.stderr and "no token, ignored" in r.stderr
    subs = {s.email: s.status for s in store.subscribers_of("world", status=None)}
    assert subs == {"ada@example.com": SubscriberStatus.UNSUBSCRIBED, "grace@example.com": SubscriberStatus.ACTIVE}
    r = digest_cli(cfg, "unsubscribe-mail", str(tmp_path / "Maildir"))
    assert r.returncode == 0 and "0 new messages" in r.stdout and "4 processed before" in r.stdout
    assert r.stderr == ""
    assert len(os.listdir(tmp_path / "Maildir" / "new")) == 4  # the mailbox is left as it was
    store.close()


def test_an_mbox_and_a_plus_tag_recipient_unsubscribe_too(db_url: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, db_url)
    config = load_config(cfg)
    store = Store.open(config.database.url)
    [ada] = send_edition(config, store, "world", ["ada@example.com"])
    token = unquote(urlsplit(mailto_of(ada) or "").query).removeprefix("subject=unsubscribe ")
    msg = EmailMessage()
    msg["From"] = "ada@example.com"
    msg["To"] = f"unsubscribe+{token}@digest.example.org"
    msg["Subject"] = "stop"
    msg.set_content("")
    box = mailbox.mbox(str(tmp_path / "unsubscribe.mbox"), create=True)
    box.add(msg)
    box.close()
    r = digest_cli(cfg, "unsubscribe-mail", str(tmp_path / "unsubscribe.mbox"))
    assert r.returncode == 0 and "1 new messages: 1 unsubscribed" in r.stdout, (r.stdout, r.stderr)
    [sub] = store.subscribers_of("world", status=None)
    assert sub.status == SubscriberStatus.UNSUBSCRIBED
    store.close()


def test_a_missing_or_wrong_mailbox_is_an_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    r = digest_cli(cfg, "unsubscribe-mail", str(tmp_path / "nowhere"))
    assert r.returncode == 1 and "no such Maildir or mbox" in r.stderr
    (tmp_path / "folder").mkdir()
    r = digest_cli(cfg, "unsubscribe-mail", str(tmp_path / "folder"))
    assert r.returncode == 1 and "not a Maildir" in r.stderr


# -- SendGrid Inbound Parse ----------------------------------------------------------------------


def inbound_fields(subject: str, to: str = SITE_BOX) -> dict[str, str]:
    """The text fields SendGrid's Inbound Parse posts for a message (default, not raw)."""
    return {
        "headers": f"From: Ada <ada@example.com>\nTo: {to}\nSubject: {subject}\n",
        "dkim": "{@example.com : pass}",
        "to": to,
        "from": "Ada <ada@example.com>",
        "text": "Sent from my phone\n",
        "sender_ip": "192.0.2.10",
        "envelope": json.dumps({"to": [to], "from": "ada@example.com"}),
        "attachments": "0",
        "subject": subject,
        "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8", "text": "UTF-8"}),
        "SPF": "pass",
    }


@pytest.fixture
def inbound(db_url: str, tmp_path: Path):
    config = load_config(write_config(tmp_path, db_url))
    store = Store.open(config.database.url)
    [ada] = send_edition(config, store, "world", ["ada@example.com"])
    app = create_app(config, store, inbound_secret=INBOUND, clock=lambda: NOW)
    with TestClient(app) as client:
        yield client, store, ada
    store.close()


def test_inbound_parse_unsubscribes_by_the_mailto_subject(inbound) -> None:
    client, store, ada = inbound
    subject = reply_to_mailto(mailto_of(ada) or "", "ada@example.com")["Subject"]
    form = inbound_fields(subject)
    r = client.post(f"/webhooks/inbound/{INBOUND}", data=form, files={"attachment-info": ("", b"")})
    assert r.status_code == 200 and r.json() == {"outcome": MailOutcome.UNSUBSCRIBED.value}
    [sub] = store.subscribers_of("world", status=None)
    assert sub.status == SubscriberStatus.UNSUBSCRIBED
    r = client.post(f"/webhooks/inbound/{INBOUND}", data=form, files={"attachment-info": ("", b"")})
    assert r.json() == {"outcome": MailOutcome.ALREADY.value}  # SendGrid's retry changes nothing


def test_inbound_parse_reads_a_raw_message_and_the_envelope(inbound) -> None:
    client, _store, ada = inbound
    raw = reply_to_mailto(mailto_of(ada) or "", "ada@example.com")
    fields = {"email": raw.as_string(), "to": SITE_BOX, "envelope": json.dumps({"to": [SITE_BOX]})}
    r = client.post(f"/webhooks/inbound/{INBOUND}", data=fields, files={"x": ("", b"")})
    assert r.json() == {"outcome": "unsubscribed"}


def test_inbound_parse_needs_its_secret_and_a_valid_token(inbound, tmp_path: Path) -> None:
    client, store, ada = inbound
    subject = reply_to_mailto(mailto_of(ada) or "", "ada@example.com")["Subject"]
    files = {"x": ("", b"")}
    assert client.post("/webhooks/inbound/" + "x" * 40, data=inbound_fields(subject), files=files).status_code == 404
    r = client.post(f"/webhooks/inbound/{INBOUND}", data=inbound_fields(subject[:-4] + "AAAA"), files=files)
    assert r.status_code == 200 and r.json() == {"outcome": "invalid token"}
    r = client.post(f"/webhooks/inbound/{INBOUND}", data=inbound_fields("please remove me"), files=files)
    assert r.json() == {"outcome": "no token"}
    [sub] = store.subscribers_of("world", status=None)
    assert sub.status == SubscriberStatus.ACTIVE
    # without a configured secret the route answers nothing useful
    bare = create_app(load_config(tmp_path / "config.yaml"), store, clock=lambda: NOW)
    with TestClient(bare) as other:
        r = other.post(f"/webhooks/inbound/{INBOUND}", data=inbound_fields(subject), files=files)
        assert r.status_code == 404


def test_an_unreadable_message_is_reported_and_tried_again_next_run(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.unsubscribe_mailbox import process_mailbox

    config = load_config(write_config(tmp_path, db_url))
    store = Store.open(config.database.url)
    [ada] = send_edition(config, store, "world", ["ada@example.com"])
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    key = box.add(reply_to_mailto(mailto_of(ada) or "", "ada@example.com"))
    box.close()
    real = mailbox.Maildir.get_bytes

    def flaky(self, k):  # type: ignore[no-untyped-def]
        if k == key:
            raise OSError("Input/output error")
        return real(self, k)

    monkeypatch.setattr(mailbox.Maildir, "get_bytes", flaky)
    report = process_mailbox(tmp_path / "Maildir", store, now=NOW)
    assert report.count(None) == 1 and "Input/output error" in report.messages[0].detail
    monkeypatch.setattr(mailbox.Maildir, "get_bytes", real)
    report = process_mailbox(tmp_path / "Maildir", store, now=NOW)
    assert report.count(MailOutcome.UNSUBSCRIBED) == 1 and report.skipped == 0
    store.close()
