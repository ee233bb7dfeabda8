"""parse_date: RFC 822 and ISO 8601 variants, six European languages, zone abbreviations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.parse import parse_date


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # RFC 822 / 5322
        ("Mon, 10 Feb 2025 08:00:00 +0000", utc(2025, 2, 10, 8)),
        ("Mon, 10 Feb 2025 08:00:00 GMT", utc(2025, 2, 10, 8)),
        ("10 Feb 2025 08:00 +0100", utc(2025, 2, 10, 7)),
        ("Wed, 5 Mar 2025 10:00:00 +0000", utc(2025, 3, 5, 10)),
        ("Tue, 18 Mar 25 08:00:00 GMT", utc(2025, 3, 18, 8)),
        ("Sat, 12 Jan 2025 10:00:00 +0100", utc(2025, 1, 12, 9)),  # wrong weekday ignored
        # zone abbreviations
        ("Mon, 10 Feb 2025 08:00:00 EST", utc(2025, 2, 10, 13)),
        ("Mon, 10 Feb 2025 08:00:00 EDT", utc(2025, 2, 10, 12)),
        ("Mon, 10 Feb 2025 08:00:00 PDT", utc(2025, 2, 10, 15)),
        ("Mon, 10 Feb 2025 08:00 PST", utc(2025, 2, 10, 16)),
        ("Mon, 10 Feb 2025 08:00:00 CET", utc(2025, 2, 10, 7)),
        ("Mon, 10 Feb 2025 08:00:00 CEST", utc(2025, 2, 10, 6)),
        ("Mon, 10 Feb 2025 08:00:00 BST", utc(2025, 2, 10, 7)),
        ("Mon, 10 Feb 2025 08:00:00 JST", utc(2025, 2, 9, 23)),
        ("Mon, 10 Feb 2025 08:00:00 AEDT", utc(2025, 2, 9, 21)),
        # ISO 8601 / RFC 3339 / W3C-DTF
        ("2025-02-10T08:00:00Z", utc(2025, 2, 10, 8)),
        ("2025-02-10T08:00:00+01:00", utc(2025, 2, 10, 7)),
        ("2025-02-10T08:00:00+0100", utc(2025, 2, 10, 7)),
        ("2025-02-10T08:00:00.123456789Z", utc(2025, 2, 10, 8, 0, 0, 123456)),
        ("2025-02-10 08:00:00", utc(2025, 2, 10, 8)),  # naive counts as UTC
        ("2025-02-10 08:00:00 +0100", utc(2025, 2, 10, 7)),
        ("2025-02-10", utc(2025, 2, 10)),
        ("20250210T080000Z", utc(2025, 2, 10, 8)),
        # German
        ("Do, 24 Okt 2024 18:30:00 -0400", utc(2024, 10, 24, 22, 30)),
        ("Sa, 15 Mär 2025  6:05:09 GMT", utc(2025, 3, 15, 6, 5, 9)),
        ("Mo, 05 Mai 2025 12:00:00 +0200", utc(2025, 5, 5, 10)),
        ("Mi, 03 Dez 2025 08:00:00 MEZ", utc(2025, 12, 3, 7)),
        ("Donnerstag, 24. Oktober 2024 18:30 MESZ", utc(2024, 10, 24, 16, 30)),
        # French
        ("mar., 11 févr. 2025 10:00:00 +0100", utc(2025, 2, 11, 9)),
        ("lundi 10 février 2025 08:00", utc(2025, 2, 10, 8)),
        ("Jeu, 14 août 2025 10:00:00 +0200", utc(2025, 8, 14, 8)),
        # Spanish
        ("Mié, 12 Mar 2025 10:00:00 +0100", utc(2025, 3, 12, 9)),
        ("vie, 03 ene 2025 10:00:00 +0000", utc(2025, 1, 3, 10)),
        ("sáb, 15 dic 2025 10:00:00 +0000", utc(2025, 12, 15, 10)),
        # Italian
        ("gio, 13 mag 2025 10:00:00 +0200", utc(2025, 5, 13, 8)),
        ("Lun, 07 lug 2025 10:00:00 +0000", utc(2025, 7, 7, 10)),
        # Dutch
        ("za, 15 mrt 2025 10:00:00 +0100", utc(2025, 3, 15, 9)),
        ("wo, 01 okt 2025 10:00:00 +0000", utc(2025, 10, 1, 10)),
        # Portuguese
        ("Seg, 24 Set 2018 19:42:40 -0300", utc(2018, 9, 24, 22, 42, 40)),
        ("Qui, 13 Mar 2025 10:00:00 -0300", utc(2025, 3, 13, 13)),
        ("Sex, 10 Out 2025 10:00:00 +0000", utc(2025, 10, 10, 10)),
        # English long forms
        ("March 15, 2025", utc(2025, 3, 15)),
        ("Tuesday, March 11, 2025 10:00 AM", utc(2025, 3, 11, 10)),
    ],
)
def test_parse_date(raw: str, expected: datetime) -> None:
    got = parse_date(raw)
    assert got == expected
    assert got is not None and got.tzinfo == UTC


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "Invalid Date",
        "0000-00-00 00:00:00",
        "Mon, 01 Jan 0001 00:00:00 +0000",
        "0001-01-01T00:00:00Z",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "1970-01-01T00:00:00Z",
        "2025-13-45",
        "Sun, 31 Feb 2025 10:00:00 GMT",
        "yesterday",
        "x" * 500,
        "NaN",
        "Mon, 10 Feb 99999 08:00:00 +0000",
    ],
)
def test_unusable_dates_are_none(raw: str | None) -> None:
    assert parse_date(raw) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_property_parse_date_never_raises(raw: str) -> None:
    got = parse_date(raw)
    assert got is None or (got.tzinfo == UTC and got.year >= 1971)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1971, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_property_rfc822_and_iso_round_trip(when: datetime) -> None:
    when = when.replace(microsecond=0)
    assert parse_date(when.strftime("%a, %d %b %Y %H:%M:%S +0000")) == when
    assert parse_date(when.isoformat()) == when


_DAYS = st.sampled_from(["", "Mon, ", "Sun, ", "Wed, "])
_MONTHS = st.sampled_from("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
_ZONES = st.one_of(
    st.sampled_from(["GMT", "UT", "UTC", "Z"]),
    st.sampled_from(["EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "PT", "AST"]),
    st.tuples(st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99)).map(
        lambda t: f"{t[0]}{t[1]:02d}{t[2]:02d}"
    ),
)


@given(
    _DAYS, st.integers(0, 39), _MONTHS, st.integers(0, 9999), st.integers(0, 99),
    st.integers(0, 99), st.integers(0, 99), _ZONES,
)
def test_the_common_rfc822_shape_is_read_as_the_general_reader_reads_it(
    day: str, d: int, month: str, year: int, hh: int, mm: int, ss: int, zone: str
) -> None:
    """The fast path for "Wed, 18 Feb 2026 06:30:00 GMT" (and "... PST", issue 14) changes no
    value, impossible dates and offsets included (they fall through to the general reader)."""
    from digest.parse import _parse_date_general

    raw = f"{day}{d} {month} {year:04d} {hh:02d}:{mm:02d}:{ss:02d} {zone}"
    assert parse_date(raw) == _parse_date_general(raw)


def test_a_us_zone_date_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """"Tue, 13 Jun 2023 10:00:00 PST" (700 of the bench's 1,882 dates) is read without the
    general reader's dozen expressions (issue 14)."""
    import digest.parse

    def general(value: str) -> None:
        raise AssertionError(f"general path for {value!r}")

    monkeypatch.setattr(digest.parse, "_parse_date_general", general)
    assert parse_date("Tue, 13 Jun 2023 10:00:00 PST") == datetime(2023, 6, 13, 18, tzinfo=UTC)
    assert parse_date("13 Jun 2023 10:00:00 EDT") == datetime(2023, 6, 13, 14, tzinfo=UTC)
