"""Subscriber CSV import and export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.store import Store
from digest.subscribers import SubscriberFileError, export_csv, import_csv, safe_cell
from digest.types import SubscriberStatus

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_imports_the_shipped_world_list(store: Store) -> None:
    report = import_csv(store, "world", REPO / "subscribers" / "world.csv", now=NOW)
    assert report.problems == []
    subs = store.subscribers_of("world")
    assert report.added == len(subs) >= 4
    ken = next(s for s in subs if s.email == "ken@example.com")
    assert ken.topics == ("ukraine", "middle-east", "americas", "europe")
    assert ken.timezone == "America/Los_Angeles"


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_import(
    store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "email,name,topics,timezone,status\n"
        "good@example.com,Good,,UTC,active\n"
        "not-an-address,Bad,,UTC,active\n"
        "tz@example.com,Bad tz,,Mars/Olympus,active\n"
        ",No email,,UTC,active\n"
        "st@example.com,Bad status,,UTC,sleeping\n"
        "\n"
        "also@example.com,Also good,a;b,Europe/Paris,\n",
    )
    report = import_csv(store, "world", path, now=NOW)
    assert report.added == 2
    lines = [p.split(": ")[0] for p in report.problems]
    assert lines == [f"{path}:3", f"{path}:4", f"{path}:5", f"{path}:6"]
    assert "not-an-address" in report.problems[0]
    assert "Mars/Olympus" in report.problems[1]
    assert {s.email for s in store.subscribers_of("world")} == {
        "good@example.com", "also@example.com"
    }


def test_addresses_compare_case_insensitively_and_a_repeat_is_reported_with_its_line(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,name\nAda@Example.com,Ada\nada@example.COM,Ada again\n")
    report = import_csv(store, "world", path, now=NOW)
    assert report.added == 1 and report.existing == 0
    assert report.problems == [f"{path}:3: ada@example.com is already on line 2; this row is ignored"]
    assert [s.name for s in store.subscribers_of("world")] == ["Ada"]


def test_a_topic_the_list_does_not_have_is_reported_with_its_line(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "email,topics\na@example.com,europe\nb@example.com,europe;sprots\n")
    report = import_csv(store, "world", path, now=NOW, topics={"europe", "asia", "more"})
    assert report.added == 1
    [problem] = report.problems
    assert problem.startswith(f"{path}:3: unknown topic 'sprots' (topics of list world: asia, europe, more)")


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_import_never_resubscribes_someone_who_left(
    store: Store, tmp_path: Path, status: str
) -> None:
    path = write(tmp_path, "email,name\nleft@example.com,Left\n")
    import_csv(store, "world", path, now=NOW)
    (sub,) = store.subscribers_of("world")
    assert sub.id is not None
    store.set_subscriber_status(sub.id, SubscriberStatus(status), now=NOW)
    path = write(tmp_path, "email,name,status\nLEFT@example.com,Left,active\n")
    report = import_csv(store, "world", path, now=NOW)
    assert report.kept_status == 1 and report.added == 0
    assert store.subscribers_of("world") == []
    assert store.subscriber(sub.id).status == SubscriberStatus(status)  # type: ignore[union-attr]


def test_a_departure_in_the_file_is_applied(store: Store, tmp_path: Path) -> None:
    import_csv(store, "world", write(tmp_path, "email\nx@example.com\n"), now=NOW)
    import_csv(store, "world", write(tmp_path, "email,status\nx@example.com,unsubscribed\n"), now=NOW)
    assert store.subscribers_of("world") == []


def test_missing_file_or_email_column_is_a_typed_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(SubscriberFileError):
        import_csv(store, "world", tmp_path / "nope.csv", now=NOW)
    with pytest.raises(SubscriberFileError, match="email"):
        import_csv(store, "world", write(tmp_path, "name\nAda\n"), now=NOW)


@pytest.mark.parametrize("value", ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_safe_cell_defuses_formulas(value: str) -> None:
    assert safe_cell(value) == "'" + value


def test_export_round_trips_and_defuses_formulas(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'email,name,topics\nevil@example.com,"=HYPERLINK(""http://x"",""y"")",a;b\n'
        "ok@example.com,Plain Name,\n",
    )
    import_csv(store, "world", path, now=NOW)
    out = io.StringIO()
    assert export_csv(store.subscribers_of("world"), out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["name"].startswith("'=")
    assert rows[0]["topics"] == "a;b"
    assert rows[1]["name"] == "Plain Name"


def test_an_import_racing_another_processs_import_keeps_the_row_it_inserted(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `digest run`s at once both import a list's file before its first edition: the
    second one's insert of an address the first had just inserted crashed that run with a
    raw IntegrityError traceback (PostgreSQL, uq_subscribers_list_email). It now finds the
    row the other process stored and imports on."""
    import importlib

    import sqlalchemy

    # (the package's name ``subscribers`` is the table; the module is asked for by name)
    module = importlib.import_module("digest.store.subscribers")

    path = write(tmp_path, "email,name\nada@example.com,Ada\n")
    import_csv(store, "world", path, now=NOW)  # the other process, first
    real = module.select
    raced: list[bool] = []

    def select_before_the_other_commit(*args: object) -> sqlalchemy.Select:  # type: ignore[type-arg]
        query = real(*args)  # type: ignore[call-overload]
        if not raced:  # the first look does not see the other process's row yet
            raced.append(True)
            return query.where(sqlalchemy.false())  # type: ignore[no-any-return]
        return query  # type: ignore[no-any-return]

    monkeypatch.setattr(module, "select", select_before_the_other_commit)
    report = import_csv(store, "world", path, now=NOW)
    assert raced and report.added == 0 and not report.problems
    assert [s.email for s in store.subscribers_of("world")] == ["ada@example.com"]
