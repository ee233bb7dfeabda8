"""Messages: MIME structure, headers (RFC 5322/2369/2919/8058), injection, personalisation."""

from __future__ import annotations

import dataclasses
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from digest.exceptions import DeliveryError
from digest.message import build_message, clean_header_value, personalise
from digest.render import render_edition
from digest.types import PERSONAL_FIELDS, RenderedEdition, Subscriber, placeholder
from tests.sample_edition import NOW, sample_config, sample_edition, sample_list, sample_subscriber

UNSUB = "https://digest.example.org/unsubscribe/world/tok-" + "a" * 120
MAILTO = "mailto:unsubscribe@digest.example.org?subject=unsubscribe-1"
PREFS = "https://digest.example.org/preferences/world/tok?x=1&y=2"

EXPECTED_HEADERS = [
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "List-Archive", "MIME-Version", "Content-Type",
]  # fmt: skip


@pytest.fixture(scope="module")
def rendered() -> RenderedEdition:
    config = sample_config()
    return render_edition(sample_edition(), config=config, list_config=sample_list(config), now=NOW)


def build(
    rendered: RenderedEdition, subscriber: Subscriber | None = None, **kw: object
) -> EmailMessage:
    config = sample_config()
    args: dict[str, object] = {
        "list_config": sample_list(config),
        "site": config.site,
        "unsubscribe_url": UNSUB,
        "unsubscribe_mailto": MAILTO,
        "preferences_url": PREFS,
        "now": NOW,
    }
    args.update(kw)
    return build_message(rendered, subscriber or sample_subscriber(), **args)  # type: ignore[arg-type]


def parse(msg: EmailMessage) -> EmailMessage:
    raw = msg.as_bytes()
    assert b"\r\n" in raw
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
        assert b"\r" not in line and b"\n" not in line
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_structure_text_first_then_html(rendered: RenderedEdition) -> None:
    msg = parse(build(rendered))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = (p.get_content() for p in parts)
    assert "Hello Ada Lovelace." in text and "Hello Ada Lovelace." in html
    assert f"Unsubscribe: {UNSUB}" in text
    assert f'href="{UNSUB}"' in html
    assert 'href="https://digest.example.org/preferences/world/tok?x=1&amp;y=2"' in html
    assert "%%" not in text.replace("%\u200b%", "") and "%%" not in html.replace("%\u200b%", "")
    assert "امریکی عسکری امداد" in html and "امریکی عسکری امداد" in text


def test_all_headers_present_and_exact(rendered: RenderedEdition) -> None:
    msg = parse(build(rendered, message_id="<abc.123@digest.example.org>"))
    names = list(msg.keys())
    for name in EXPECTED_HEADERS:
        assert names.count(name) == 1, name
    assert msg["From"] == "World news from digest <world@digest.example.org>"
    assert msg["To"] == "Ada Lovelace <ada@example.com>"
    assert msg["Subject"] == rendered.subject
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"] == "<abc.123@digest.example.org>"
    assert msg["Reply-To"] == "editors@digest.example.org"
    assert msg["List-Id"] == "World news <world.digest.example.org>"
    assert msg["List-Unsubscribe"] == f"<{UNSUB}>, <{MAILTO}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Archive"] == "<https://digest.example.org/archive/world/2026-02-18>"


def test_long_unsubscribe_url_is_not_encoded(rendered: RenderedEdition) -> None:
    raw = build(rendered).as_bytes()
    header = raw.split(b"\r\n\r\n")[0]
    assert f"List-Unsubscribe: <{UNSUB}>,".encode() in header
    assert b"=?utf-8?q?=3Chttps" not in header


def test_generated_message_id_uses_sender_domain(rendered: RenderedEdition) -> None:
    a, b = parse(build(rendered)), parse(build(rendered))
    assert a["Message-ID"].endswith("@digest.example.org>")
    assert a["Message-ID"] != b["Message-ID"]


def test_without_mailto_or_prefs(rendered: RenderedEdition) -> None:
    msg = parse(build(rendered, unsubscribe_mailto=None, preferences_url=None))
    assert msg["List-Unsubscribe"] == f"<{UNSUB}>"
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert re.search(f'href="{re.escape(UNSUB)}"[^>]*>Preferences', html)


def test_non_ascii_name_and_title_are_encoded(rendered: RenderedEdition) -> None:
    config = sample_config()
    lst = sample_list(config).model_copy(update={"title": "Nouvelles du monde, été"})
    msg = parse(build(rendered, sample_subscriber(name="Zoë O'Brien, Jr."), list_config=lst))
    assert msg["To"].addresses[0].display_name == "Zoë O'Brien, Jr."
    assert msg["To"].addresses[0].addr_spec == "ada@example.com"
    assert msg["List-Id"].endswith("<world.digest.example.org>")
    assert "été" in msg["List-Id"]


@pytest.mark.parametrize(
    "sep", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x00"]
)
def test_header_injection_in_subject_and_name(rendered: RenderedEdition, sep: str) -> None:
    evil_subject = f"Hello{sep}Bcc: victim@example.org{sep}{sep}<html>body"
    evil = dataclasses.replace(rendered, subject=evil_subject)
    sub = sample_subscriber(name=f"Ada{sep}Bcc: spy@example.org")
    msg = parse(build(evil, sub))
    assert "Bcc" not in msg
    assert sorted(msg.keys()) == sorted(EXPECTED_HEADERS)
    assert msg["Subject"] == "Hello Bcc: victim@example.org <html>body"
    assert msg["To"].addresses[0].addr_spec == "ada@example.com"
    assert "\n" not in msg["To"] and "\r" not in msg["To"]


def test_injection_in_sender_and_list_title(rendered: RenderedEdition) -> None:
    config = sample_config()
    lst = sample_list(config).model_copy(
        update={"title": "World\r\nBcc: a@b.c", "reply_to": "x@y.org\nBcc: z@y.org"}
    )
    msg = parse(build(rendered, list_config=lst))
    assert "Bcc" not in msg
    assert "\n" not in msg["List-Id"]


def test_bad_name_falls_back_to_bare_address(rendered: RenderedEdition) -> None:
    for name in ['"\\', "\ud800", "<>@,;:"]:
        msg = parse(build(rendered, sample_subscriber(name=name)))
        assert msg["To"].addresses[0].addr_spec == "ada@example.com"


def test_bad_address_raises_delivery_error(rendered: RenderedEdition) -> None:
    with pytest.raises(DeliveryError) as info:
        build(rendered, sample_subscriber(email="not an address@@"))
    assert info.value.recipient


def test_empty_name_greets_there(rendered: RenderedEdition) -> None:
    msg = parse(build(rendered, sample_subscriber(name="")))
    assert msg["To"] == "ada@example.com"
    assert "Hello there." in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_clean_header_value() -> None:
    assert clean_header_value("a\r\nb\u2028c\u2029d\u0085e\tf\x00g") == "a b c d e f g"
    assert clean_header_value("  many   spaces ") == "many spaces"
    assert clean_header_value(None) == ""
    assert clean_header_value("emoji 👩‍💻 kept") == "emoji 👩‍💻 kept"


def test_personalise_replaces_every_field_and_escapes_for_html() -> None:
    text = " ".join(placeholder(f) for f in PERSONAL_FIELDS)
    out = personalise(text, {"name": '"A" <b>', "unsubscribe_url": "https://u?a=1&b=2"}, html=True)
    assert out == "&quot;A&quot; &lt;b&gt;  https://u?a=1&amp;b=2 "
    plain = personalise(text, {"name": '"A" <b>', "email": "a@b.c"}, html=False)
    assert plain == '"A" <b> a@b.c  '
    # a value containing a placeholder is not expanded again
    assert personalise("%%name%%", {"name": "%%email%%", "email": "x"}, html=False) == "%%email%%"


def test_internationalised_domain_is_punycode_and_utf8_local_part_fails(
    rendered: RenderedEdition,
) -> None:
    msg = parse(build(rendered, sample_subscriber(email="user@bücher.example")))
    assert msg["To"].addresses[0].addr_spec == "user@xn--bcher-kva.example"
    with pytest.raises(DeliveryError):
        build(rendered, sample_subscriber(email="jörg@example.com"))  # needs SMTPUTF8


def test_message_id_without_brackets_and_naive_now(rendered: RenderedEdition) -> None:
    from datetime import datetime

    msg = parse(
        build(rendered, message_id="x1@digest.example.org", now=datetime(2026, 2, 18, 7, 0))
    )
    assert msg["Message-ID"] == "<x1@digest.example.org>"
    assert msg["Date"] == "Wed, 18 Feb 2026 07:00:00 +0000"


@pytest.mark.parametrize(
    "subject",
    [
        # fits on a line of its own but not after "Subject: ": CPython moved it all to line 2
        "World news: First day of Russia-Ukraine peace talks ends in Geneva (+29 more)",
        "World news: Trump Said He’d End the War in Ukraine in a Day. It’s Harder Than He Thought.",
        "Новости мира: переговоры об Украине возобновятся на следующей неделе после встреч",
        "Short",
    ],
)
def test_subject_is_never_folded_right_after_the_colon(rendered: RenderedEdition, subject: str) -> None:
    """Issue 15: parsers must read the Subject without a leading space or line break, with
    the SMTP policy (what every transport writes) and lines at most 78 characters."""
    from digest.message import POLICY

    msg = build(dataclasses.replace(rendered, subject=subject))
    raw = msg.as_bytes(policy=POLICY)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    line = next(x for x in head.split("\r\n") if x.startswith("Subject:"))
    assert line.startswith("Subject: ") and len(line) > len("Subject: ")
    assert all(len(x) <= 78 for x in head.split("\r\n") if not x.startswith("List-"))
    assert str(message_from_bytes(raw, policy=policy.default)["Subject"]) == subject
    old = message_from_bytes(raw, policy=policy.compat32)["Subject"]
    assert not str(old).startswith((" ", "\r", "\n"))
