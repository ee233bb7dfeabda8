"""SMTP transport against aiosmtpd on loopback: TLS, login, reuse, 4xx/5xx, disconnects."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digest.config import SmtpConfig
from digest.message import apply_substitutions
from digest.transports import Outgoing
from digest.transports.replies import refuses_address
from digest.transports.sendgrid import with_substitutions
from digest.transports.smtp import SmtpTransport
from digest.types import DeliveryState, Subscriber
from tests.deliver_helpers import SharedCompose

# aiosmtpd warns about its own test configuration (implicit TLS counts as "not TLS" for it)
pytestmark = [
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated"),
]


class Handler:
    """Records delivered messages; answers by recipient local part:
    ``busy*`` 451, ``gone*`` 550 5.1.1, ``closing*`` 421, ``relay*`` 554 5.7.1 at RCPT;
    ``spam*`` 550 5.7.1 and ``late*`` 550 5.1.1 to DATA; ``cut*`` drops the connection
    during DATA (after the message arrived)."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, bytes]] = []
        self.peers: set[Any] = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        self.peers.add(session.peer)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        local = address.split("@")[0]
        if local.startswith("busy"):
            return "451 4.3.0 Mailbox busy, try later"
        if local.startswith("gone"):
            return "550 5.1.1 No such user here"
        if local.startswith("closing"):
            return "421 4.3.2 Service shutting down"
        if local.startswith("relay"):
            return "554 5.7.1 <x@example.com>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if any(r.startswith("spam") for r in envelope.rcpt_tos):
            return "550 5.7.1 Message rejected as spam by Content Filtering"
        if any(r.startswith("late") for r in envelope.rcpt_tos):
            return "550 5.1.1 Recipient address rejected: User unknown"
        for rcpt in envelope.rcpt_tos:
            self.delivered.append((rcpt, envelope.content))
        if any(r.startswith("cut") for r in envelope.rcpt_tos):
            server.transport.close()
        return "250 2.0.0 Ok: queued as ABC123"


def _cert(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = _cert(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"digest" and auth_data.password == b"pw"
    return AuthResult(success=ok, handled=False)


def start(handler: Handler, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None, mode: str) -> Controller:
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        assert tls is not None
        kwargs = {"tls_context": tls[0], "require_starttls": True, "authenticator": authenticator,
                  "auth_required": True, "auth_exclude_mechanism": ["LOGIN"]}
    elif mode == "tls":
        assert tls is not None
        kwargs = {"ssl_context": tls[0], "authenticator": authenticator, "auth_required": True,
                  "auth_require_tls": False}
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


@pytest.fixture()
def plain() -> Iterator[tuple[Handler, int]]:
    handler = Handler()
    controller = start(handler, None, "none")
    yield handler, controller.port
    controller.stop()


def msg(to: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "World news <world@digest.example.org>"
    m["To"] = to
    m["Subject"] = "World news"
    m.set_content("Hello\n")
    return m


def batch(*locals_: str) -> list[Outgoing]:
    return [Outgoing(i + 1, f"{l}@example.com", msg(f"{l}@example.com")) for i, l in enumerate(locals_)]


def outcome_map(outcomes: list[Any]) -> dict[int, Any]:
    return {o.delivery_id: o for o in outcomes}


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_modes_login_and_one_connection_per_batch(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], mode: str
) -> None:
    handler = Handler()
    controller = start(handler, tls, mode)
    port = controller.port
    try:
        cfg = SmtpConfig(host="localhost", port=port, security=mode, username="digest")  # type: ignore[arg-type]
        t = SmtpTransport(cfg, password="pw", ssl_context=tls[1])
        outcomes = t.send(batch("a", "b", "c"))
        assert {o.state for o in outcomes} == {DeliveryState.SENT}
        assert "ABC123" in (outcomes[0].provider_id or "")
        assert sorted(r for r, _ in handler.delivered) == ["a@example.com", "b@example.com", "c@example.com"]
        assert t.connections == 1 and len(handler.peers) == 1
        # wrong password: nothing sent, rows wait
        bad = SmtpTransport(cfg, password="nope", ssl_context=tls[1])
        assert {o.state for o in bad.send(batch("d"))} == {DeliveryState.QUEUED}
    finally:
        controller.stop()


def test_4xx_is_queued_5xx_fails_with_the_reply(plain: tuple[Handler, int]) -> None:
    handler, port = plain
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    out = outcome_map(t.send(batch("a", "busy1", "gone1", "b")))
    assert out[1].state == out[4].state == DeliveryState.SENT
    assert out[2].state == DeliveryState.QUEUED and "451" in (out[2].error or "")
    assert out[3].state == DeliveryState.FAILED and "550 5.1.1 No such user" in (out[3].error or "")
    assert sorted(r for r, _ in handler.delivered) == ["a@example.com", "b@example.com"]
    assert t.connections == 1


def test_only_a_refusal_of_the_address_bounces_it(plain: tuple[Handler, int]) -> None:
    """A relay's 5.7.1 to RCPT and a content filter's 5.7.1 to DATA fail the message but do
    not bounce (suppress) the recipient: a relay wanting a login refused every address of a
    list that way and each was suppressed for good. 5.1.1 bounces, at RCPT or DATA."""
    _, port = plain
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    out = outcome_map(t.send(batch("gone1", "relay1", "spam1", "late1", "a")))
    assert {i: (o.state, o.bounced) for i, o in out.items()} == {
        1: (DeliveryState.FAILED, True), 2: (DeliveryState.FAILED, False),
        3: (DeliveryState.FAILED, False), 4: (DeliveryState.FAILED, True),
        5: (DeliveryState.SENT, False),
    }
    assert "Relay access denied" in (out[2].error or "")


@pytest.mark.parametrize(
    ("stage", "code", "text", "bounces"),
    [
        ("RCPT TO", 550, "5.1.1 No such user", True),
        ("DATA", 550, "5.1.1 User unknown", True),
        ("RCPT TO", 550, "5.2.1 Mailbox disabled", True),
        ("RCPT TO", 552, "5.2.2 Mailbox full", False),
        ("RCPT TO", 554, "5.7.1 Relay access denied", False),
        ("DATA", 552, "5.3.4 Message size exceeds fixed limit", False),
        ("RCPT TO", 550, "Requested action not taken: mailbox unavailable", True),
        ("RCPT TO", 554, "Transaction failed", False),
        ("DATA", 550, "Rejected", False),
        ("MAIL FROM", 550, "5.1.8 Bad sender address domain", False),
        ("RCPT TO", 451, "4.1.1 try later", False),
    ],
)
def test_refuses_address_reads_rfc_3463_subjects(
    stage: str, code: int, text: str, bounces: bool
) -> None:
    assert refuses_address(stage, code, text) is bounces


def test_421_queues_and_reconnects_for_the_rest(plain: tuple[Handler, int]) -> None:
    handler, port = plain
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    out = outcome_map(t.send(batch("a", "closing1", "b")))
    assert out[1].state == out[3].state == DeliveryState.SENT
    assert out[2].state == DeliveryState.QUEUED and "421" in (out[2].error or "")
    assert t.connections == 2
    assert sorted(r for r, _ in handler.delivered) == ["a@example.com", "b@example.com"]


def test_disconnect_during_data_is_unknown(plain: tuple[Handler, int]) -> None:
    handler, port = plain
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    out = outcome_map(t.send(batch("a", "cut1", "b")))
    assert out[2].state == DeliveryState.UNKNOWN
    assert "cut1@example.com" in [r for r, _ in handler.delivered]  # it did arrive
    assert out[1].state == out[3].state == DeliveryState.SENT


def test_no_server_leaves_everything_queued() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none", timeout=2))
    assert {o.state for o in t.send(batch("a", "b"))} == {DeliveryState.QUEUED}


def test_substitution_hint_is_applied_per_recipient(plain: tuple[Handler, int]) -> None:
    handler, port = plain
    compose = SharedCompose()
    m = compose(Subscriber("world", "tom@example.com", name="Tom <b>"), 7)
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    (o,) = t.send([Outgoing(7, "tom@example.com", m)])
    assert o.state == DeliveryState.SENT
    (_, content), = handler.delivered
    text = content.decode()
    assert "%%name%%" not in text and "X-Digest-Substitutions" not in text
    assert "Tom &lt;b&gt;" in text and "Hello Tom <b>" in text
    # the shared parts were not changed for the next recipient
    assert "%%name%%" in compose.html.get_content()


def test_apply_substitutions_leaves_plain_messages_alone() -> None:
    m = msg("x@example.com")
    assert apply_substitutions(m) is m
    hinted = with_substitutions(msg("x@example.com"), {"name": "X"})
    assert "X-Digest-Substitutions" not in apply_substitutions(hinted)
