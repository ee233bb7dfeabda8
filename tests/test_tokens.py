"""Unsubscribe tokens: signed, opaque, tamper-evident."""

from __future__ import annotations

import base64
import time

import pytest

from digest.exceptions import DigestError
from digest.tokens import BadToken, make_token, preferences_url, read_token, unsubscribe_url

SECRET = "s3cret-for-tests"


def test_round_trip() -> None:
    for sid in (1, 2, 42, 10**6, 2**40 + 7):
        assert read_token(SECRET, make_token(SECRET, sid)) == sid


def test_token_shows_neither_the_id_nor_a_sequence() -> None:
    t1, t2 = make_token(SECRET, 1000), make_token(SECRET, 1001)
    payload1 = base64.urlsafe_b64decode(t1.split(".")[0] + "==").decode()
    assert "1000" not in payload1
    # neighbouring ids do not give neighbouring payloads
    assert t1.split(".")[0][:8] != t2.split(".")[0][:8]


def test_tampered_token_is_refused() -> None:
    token = make_token(SECRET, 7)
    head, rest = token[0], token[1:]
    bad = ("A" if head != "A" else "B") + rest
    with pytest.raises(BadToken):
        read_token(SECRET, bad)
    with pytest.raises(BadToken):
        read_token("another-secret", token)
    with pytest.raises(BadToken):
        read_token(SECRET, "garbage")
    assert issubclass(BadToken, DigestError)


def test_other_purpose_does_not_read() -> None:
    token = make_token(SECRET, 7, purpose="something-else")
    with pytest.raises(BadToken):
        read_token(SECRET, token)


def test_expired_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = make_token(SECRET, 7)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(BadToken):
        read_token(SECRET, token, max_age=60)
    assert read_token(SECRET, token, max_age=7200) == 7


def test_urls() -> None:
    assert unsubscribe_url("https://x.org/", "abc.def") == "https://x.org/u/abc.def"
    assert preferences_url("https://x.org", "abc") == "https://x.org/p/abc"
