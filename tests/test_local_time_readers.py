"""Issue 15, local time: with ``send_at`` each subscriber's email is dated and timed in their
own timezone (the day they receive it), not the list's. Run as cron would, through the CLI."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from digest.pipeline import variant_key
from tests.cron_support import install

READERS = [("kim@example.org", "Asia/Tokyo"), ("ada@example.org", "Europe/London")]


def _text_parts(outbox: Path) -> dict[str, str]:
    texts = {}
    for path in sorted(outbox.rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        texts[str(message["To"])] = body.get_content() if body else ""
    return texts


def test_send_at_readers_get_their_own_date_and_times(db_url: str, tmp_path: Path) -> None:
    # Built at 22:00 UTC on Wednesday 18 February: 07:00 on Thursday 19 in Tokyo (at once),
    # 07:00 on Thursday 19 in London (nine hours later).
    inst = install(
        tmp_path, db_url, {"evening": ("0 22 * * *", "UTC")}, send_at="07:00", subscribers=READERS
    )
    inst.add_item(datetime(2026, 2, 18, 21, 0, tzinfo=UTC))
    for at in (datetime(2026, 2, 18, 22, 0, tzinfo=UTC), datetime(2026, 2, 19, 7, 0, tzinfo=UTC)):
        result = inst.cli("run", at=at)
        assert result.exit_code == 0, result.output
    texts = _text_parts(tmp_path / "outbox")
    tokyo = next(t for to, t in texts.items() if "kim@" in to)
    london = next(t for to, t in texts.items() if "ada@" in to)
    assert "Thursday 19 February" in tokyo and "Wednesday 18 February" not in tokyo
    assert "JST" in tokyo and "JST" not in london
    assert "Thursday 19 February" in london


def test_list_without_send_at_renders_in_the_list_timezone_only(
    db_url: str, tmp_path: Path
) -> None:
    inst = install(tmp_path, db_url, {"evening": ("0 22 * * *", "UTC")}, subscribers=READERS)
    inst.add_item(datetime(2026, 2, 18, 21, 0, tzinfo=UTC))
    assert inst.cli("run", at=datetime(2026, 2, 18, 22, 0, tzinfo=UTC)).exit_code == 0
    for text in _text_parts(tmp_path / "outbox").values():
        assert "Wednesday 18 February" in text and "JST" not in text


def test_variant_keys_keep_topics_and_timezone_apart() -> None:
    assert variant_key(["b", "a", "a"]) == ("a", "b")
    assert variant_key([], "Asia/Tokyo") == ("@Asia/Tokyo",)
    assert variant_key(variant_key(["a"], "UTC")) == ("a",)
