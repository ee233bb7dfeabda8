"""Issue 14: a variant's body encoded once gives every recipient byte for byte the message
that encoding it in full gives, and ``message_bytes`` is ``as_bytes``."""

from __future__ import annotations

import random
from email.message import EmailMessage

import pytest

from digest.edition import for_topics
from digest.message import POLICY, EncodedBody, build_message, message_bytes
from digest.render import render_edition
from digest.types import RenderedEdition, Subscriber
from tests.sample_edition import NOW, sample_config, sample_edition, sample_list, sample_subscriber

READERS = [
    sample_subscriber(),
    sample_subscriber(email="grace@example.org", name="Grace Hopper", id=2),
    sample_subscriber(email="zoe@example.net", name="Zoë \"Z\" <O'Brien> & Søn", id=3),
    sample_subscriber(email="noname@example.com", name="", id=44),
    sample_subscriber(email="long@example.com", name="Ω" * 40 + " = " + "x" * 70, id=12345),
]


@pytest.fixture(scope="module")
def variants() -> dict[tuple[str, ...], RenderedEdition]:
    config = sample_config()
    lst = sample_list(config)
    edition = sample_edition()
    return {
        key: render_edition(for_topics(edition, key), config=config, list_config=lst, now=NOW)
        for key in [(), ("ukraine",), ("americas", "elsewhere")]
    }


def _message(rendered: RenderedEdition, sub: Subscriber, substitute: bool,
             body: EncodedBody | None) -> EmailMessage:  # fmt: skip
    config = sample_config()
    token = f"T{sub.id}" * ((sub.id or 0) % 7 + 1)  # URLs of varied length move QP soft breaks
    return build_message(
        rendered, sub, list_config=sample_list(config), site=config.site,
        unsubscribe_url=f"https://digest.example.org/u/{token}",
        unsubscribe_mailto=f"mailto:leave@digest.example.org?subject={token}",
        preferences_url=None, now=NOW, message_id=f"<p.world.{sub.id}@digest.example.org>",
        substitute=substitute, body=body,
    )  # fmt: skip


@pytest.mark.parametrize("substitute", [True, False])
def test_cached_body_gives_the_same_bytes(
    variants: dict[tuple[str, ...], RenderedEdition], substitute: bool
) -> None:
    for key, rendered in variants.items():
        body = EncodedBody.of(rendered)
        for sub in READERS:
            random.seed(sub.id)  # the MIME boundary is random: the same draw for both
            old = _message(rendered, sub, substitute, None).as_bytes(policy=POLICY)
            random.seed(sub.id)
            new = message_bytes(_message(rendered, sub, substitute, body))
            assert new == old, (key, sub.email)
    # the personal lines really are personal: the unsubscribe token is in the body
    body_bytes = old.split(b"\r\n\r\n", 1)[1].replace(b"=\r\n", b"")
    assert (b"u/T12345T12345" in body_bytes) is substitute


def test_cached_body_only_reencodes_placeholder_lines(
    variants: dict[tuple[str, ...], RenderedEdition],
) -> None:
    body = EncodedBody.of(variants[()])
    personal = [c for c in body.html.chunks if isinstance(c, tuple)]
    assert personal and all("%%" in line for (line,) in personal)
    assert len(personal) <= 4  # the greeting and the footer links, not the whole email


def test_a_body_of_another_rendering_is_not_used(
    variants: dict[tuple[str, ...], RenderedEdition],
) -> None:
    wrong = EncodedBody.of(variants[("ukraine",)])
    msg = _message(variants[()], READERS[0], True, wrong)
    assert msg.get_body(("html",)).get_content() == _message(  # type: ignore[union-attr]
        variants[()], READERS[0], True, None
    ).get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_message_bytes_is_as_bytes_for_other_shapes() -> None:
    def make() -> EmailMessage:
        msg = EmailMessage(policy=POLICY)
        msg["Subject"] = "Ünïcode == subject"
        msg["To"] = "a@example.com"
        msg.set_content("line one\r\nline == two\n\u2028 8bit ü\n", cte="8bit")
        msg.add_attachment(b"\x00\x01==" * 50, maintype="application", subtype="octet-stream")
        return msg

    random.seed(5)
    old = make().as_bytes(policy=POLICY)
    random.seed(5)
    assert message_bytes(make()) == old
    assert b"==" in old.split(b"\r\n\r\n", 1)[1]  # the boundary check had text to search
