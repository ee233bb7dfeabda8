"""Compose once per rendering (issue 13): a templated message gives SendGrid exactly the
request a whole message did, and the whole message it carries is build_message's."""

from __future__ import annotations

import dataclasses
import json
import re

from email.message import EmailMessage

import pytest
from itsdangerous import URLSafeSerializer

from digest.config import SendgridConfig
from digest.message import build_message, message_bytes, shared_parts, templated_message
from digest.render import render_edition
from digest.templated import SharedParts, Templated
from digest.transports import Outgoing
from digest.transports.sendgrid import SendgridTransport, delivery_ref, read_delivery_ref
from digest.types import RenderedEdition, Subscriber
from tests.sample_edition import NOW, sample_config, sample_edition, sample_list, sample_subscriber

PEOPLE = [
    sample_subscriber(),
    sample_subscriber(id=2, email="bob@example.com", name=""),
    sample_subscriber(id=3, email="zoe@example.com", name="Zoë Brontë-Ōta"),
    sample_subscriber(id=4, email="q@example.com", name='Quote "Q" O\'Neil, Jr. <x>'),
    sample_subscriber(id=5, email="idn@bücher.example", name="Idn Reader"),
    sample_subscriber(id=6, email="Mixed.Case@Example.com", name="Mixed Case"),
]


@pytest.fixture(scope="module")
def rendered() -> RenderedEdition:
    config = sample_config()
    out = render_edition(sample_edition(), config=config, list_config=sample_list(config), now=NOW)
    return dataclasses.replace(out, web_url="https://digest.example.org/archive/world/2026-02-18")


def _args(sub: Subscriber) -> dict[str, object]:
    config = sample_config()
    token = f"tok{sub.id}"
    return {
        "list_config": sample_list(config).model_copy(
            update={"reply_to": "Desk <desk@example.org>"}
        ),
        "site": config.site,
        "unsubscribe_url": f"https://digest.example.org/u/{token}",
        "unsubscribe_mailto": f"mailto:unsubscribe@digest.example.org?subject={token}",
        "preferences_url": f"https://digest.example.org/p/{token}",
        "now": NOW,
        "message_id": f"<2026-02-18.world.{sub.id}@digest.example.org>",
    }


def _whole(rendered: RenderedEdition, sub: Subscriber, **kw: object) -> EmailMessage:
    return build_message(rendered, sub, **_args(sub), **kw)  # type: ignore[arg-type]


def _parts(rendered: RenderedEdition) -> SharedParts:
    args = _args(PEOPLE[0])
    return shared_parts(
        rendered, list_config=args["list_config"], site=args["site"]  # type: ignore[arg-type]
    )


def _templated(rendered: RenderedEdition, sub: Subscriber, parts: SharedParts) -> Templated:
    return templated_message(rendered, sub, shared=parts, **_args(sub))  # type: ignore[arg-type]


class _Capture(SendgridTransport):
    def __init__(self) -> None:
        super().__init__(SendgridConfig(categories=["digest"]), secret="s3cret", api_key="SG.x")
        self.bodies: list[dict[str, object]] = []

    def _post(self, body: str) -> tuple[str, object]:
        self.bodies.append(json.loads(body))
        return "ok", "id-1"


def _request(batch: list[Outgoing]) -> dict[str, object]:
    transport = _Capture()
    assert {o.state for o in transport.send(batch)} == {"sent"}
    (body,) = transport.bodies
    return body


def test_templated_request_equals_the_one_built_from_whole_messages(
    rendered: RenderedEdition,
) -> None:
    whole = [
        Outgoing(s.id or 0, s.email, _whole(rendered, s, substitute=False)) for s in PEOPLE
    ]
    parts = _parts(rendered)
    templated = [
        Outgoing(s.id or 0, s.email, _templated(rendered, s, parts)) for s in PEOPLE
    ]
    old, new = _request(whole), _request(templated)
    assert new == old
    assert len(new["personalizations"]) == len(PEOPLE)  # type: ignore[arg-type]
    zoe = new["personalizations"][2]  # type: ignore[index]
    assert zoe["to"] == [{"email": "zoe@example.com", "name": "Zoë Brontë-Ōta"}]
    assert zoe["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert new["categories"] == ["digest"]
    assert new["reply_to"] == {"email": "desk@example.org", "name": "Desk"}


def _unbound(raw: bytes) -> bytes:
    """The message with its random MIME boundary replaced by a fixed one."""
    return re.sub(rb"={15}\d+==", b"BOUNDARY", raw)


def test_templated_full_message_is_build_message_byte_for_byte(rendered: RenderedEdition) -> None:
    """What an outbox or SMTP transport gets from a templated message is unchanged."""
    parts = _parts(rendered)
    for sub in PEOPLE:
        out = Outgoing(sub.id or 0, sub.email, _templated(rendered, sub, parts))
        expected = _whole(rendered, sub)
        assert _unbound(message_bytes(out.message)) == _unbound(message_bytes(expected))


def test_a_bad_address_fails_in_templated_compose_as_in_build_message(
    rendered: RenderedEdition,
) -> None:
    from digest.exceptions import DeliveryError

    bad = sample_subscriber(email="not an address")
    with pytest.raises(DeliveryError):
        _whole(rendered, bad)
    with pytest.raises(DeliveryError):
        _templated(rendered, bad, _parts(rendered))


@pytest.mark.parametrize("delivery_id", [0, 1, 7, 999, 123_456, 2**31 - 1, 10**12])
def test_delivery_ref_is_the_itsdangerous_token(delivery_id: int) -> None:
    expected = URLSafeSerializer("s3cret", salt="digest-delivery-ref").dumps(delivery_id)
    assert delivery_ref("s3cret", delivery_id) == expected
    assert read_delivery_ref("s3cret", delivery_ref("s3cret", delivery_id)) == delivery_id
    assert read_delivery_ref("other", delivery_ref("s3cret", delivery_id)) is None


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("ada@example.com", "Ada Lovelace"), ("a.b+tag@sub.example.org", ""),
        ("Mixed.Case@Example.com", 'Quote "Q" O\'Neil, Jr. <x>'), ("o'hara@example.ie", "O'Hara"),
        ("zoe@example.com", "Zoë"), ("idn@bücher.example", "Idn"), ("a..b@example.com", "X"),
        ("x@[127.0.0.1]", "Y"), (" pad@example.com ", "  Pad  "),
    ],
)
def test_recipient_parts_are_those_of_the_address_header(email: str, name: str) -> None:
    from digest.message import _recipient, _recipient_parts

    sub = sample_subscriber(email=email, name=name)
    try:
        address = _recipient(sub)
    except Exception as exc:  # noqa: BLE001 - the fast path must refuse the same way
        with pytest.raises(type(exc)):
            _recipient_parts(sub)
        return
    assert _recipient_parts(sub) == (address.addr_spec, address.display_name)


def test_make_token_is_the_itsdangerous_timed_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token written out equals itsdangerous' own over the same keyed permutation
    (old code: one HMAC-SHA256 per Feistel round, URLSafeTimedSerializer), and reads back."""
    import hashlib
    import hmac
    import time

    from itsdangerous import URLSafeTimedSerializer

    from digest.tokens import UNSUBSCRIBE, make_token, read_token

    def permute(secret: str, value: int) -> int:
        left, right = value >> 32 & 0xFFFFFFFF, value & 0xFFFFFFFF
        for i in range(4):
            mac = hmac.new(secret.encode(), f"{i}:{right}".encode(), hashlib.sha256).digest()
            left, right = right, left ^ int.from_bytes(mac[:4], "big")
        return left << 32 | right

    monkeypatch.setattr(time, "time", lambda: 1_771_398_000.25)
    for sid in [1, 2, 99, 123_456, 2**40 + 7, 2**63 - 1]:
        expected = URLSafeTimedSerializer("s3cret", salt=UNSUBSCRIBE).dumps(
            format(permute("s3cret", sid), "016x")
        )
        assert make_token("s3cret", sid) == expected
        assert read_token("s3cret", expected) == sid
    # payloads deflate shortens (itsdangerous then compresses them) come out the same too
    from digest.tokens import _timed_dumps

    for opaque in ["ffffffffffffffff", "0000000000000000", "abcabcabcabcabca", "0123456789abcdef"]:
        expected = URLSafeTimedSerializer("s3cret", salt=UNSUBSCRIBE).dumps(opaque)
        assert _timed_dumps("s3cret", UNSUBSCRIBE, opaque) == expected
