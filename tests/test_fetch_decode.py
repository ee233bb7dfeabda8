"""fetch() body decoding, through a mock transport that delivers the body in chosen chunk sizes.

Chunk boundaries are where streaming decoders break (a gzip magic split in two, output that
fills the step buffer exactly), so each case runs with several chunkings.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from digest.config import FetchConfig
from digest.exceptions import FetchError
from digest.fetch import fetch

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
STEP = 64 * 1024  # the decoder's output step


class _Chunks(httpx.SyncByteStream):
    def __init__(self, body: bytes, size: int) -> None:
        self._body = body
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self._body), self._size):
            yield self._body[i : i + self._size]


def _fetch(
    body: bytes, size: int, *, max_bytes: int = 10_000_000, encoding: str | None = None
) -> bytes:
    headers = {"Content-Encoding": encoding} if encoding else {}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=_Chunks(body, size))

    result = fetch(
        "https://feeds.example.org/rss",
        source="s",
        settings=FetchConfig(max_bytes=max_bytes),
        now=NOW,
        transport=httpx.MockTransport(answer),
    )
    return result.content


SIZES = [1, 2, 3, 7, 4096, STEP, 10**9]


@pytest.mark.parametrize("size", SIZES)
def test_gzip_members_split_anywhere(size: int) -> None:
    body = gzip.compress(b"<rss>") + gzip.compress(b"</rss>")
    assert _fetch(body, size) == b"<rss></rss>"


@pytest.mark.parametrize("size", [7, 4096, STEP, 10**9])
def test_large_mixed_body(size: int) -> None:
    data = os.urandom(200_000) + bytes(2_000_000) + b"end"
    assert _fetch(gzip.compress(data), size, encoding="gzip") == data


@pytest.mark.parametrize("size", [3, STEP, 10**9])
def test_output_exactly_filling_the_step_is_drained(size: int) -> None:
    data = bytes(STEP * 3)
    assert _fetch(gzip.compress(data), size) == data


def test_trailing_padding_after_gzip_is_ignored_and_not_read() -> None:
    body = gzip.compress(b"<rss/>") + bytes(50_000_000)  # far beyond the raw cap below
    assert _fetch(body, STEP, max_bytes=200_000) == b"<rss/>"


def test_trailing_garbage_after_gzip_is_ignored() -> None:
    assert _fetch(gzip.compress(b"<rss/>") + b"<html>oops</html>", 5) == b"<rss/>"


@pytest.mark.parametrize("size", [1, 999, 10**9])
def test_truncated_gzip_is_an_error(size: int) -> None:
    body = gzip.compress(os.urandom(5000))[:-10]
    with pytest.raises(FetchError, match="truncated gzip body"):
        _fetch(body, size)


def test_plain_body_starting_with_one_magic_byte_is_untouched() -> None:
    body = b"\x1f<rss/>"
    assert _fetch(body, 1) == body


def test_decoded_cap_counts_decoded_bytes() -> None:
    data = bytes(300_000)
    packed = gzip.compress(data)
    assert len(packed) < 1000
    assert _fetch(packed, STEP, max_bytes=300_000) == data
    with pytest.raises(FetchError, match="once decoded"):
        _fetch(packed, STEP, max_bytes=299_999)


@pytest.mark.parametrize("size", [1, 4096])
def test_deflate_split_anywhere(size: int) -> None:
    assert _fetch(zlib.compress(b"<rss/>" * 1000), size, encoding="deflate") == b"<rss/>" * 1000
