"""Delivery safety through the CLI: the recovery commands never send to a suppressed
address, a complaint is not lifted by a casual remove, a full PostgreSQL disk reads like a
full SQLite one, and a SendGrid drop without our delivery reference still finds its row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def _digest(config: Path, *args: str, code: int = 0) -> str:
    """Run ``digest -c CONFIG ARGS`` in-process; its output on one line (whitespace folded)."""
    from digest.cli import cli

    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def _unknown_two_kept(db_url: str, tmp_path: Path) -> tuple[int, list[str], Path]:
    """Three rows left ``unknown`` (timeout) by a crash; then the first address bounced (from
    another edition) and the second subscriber unsubscribed. The edition id, the addresses
    and the config."""
    from digest.store import Store
    from tests.worker_support import seed_settled, write_config

    edition, emails = seed_settled(db_url, 3, "unknown", "timeout")
    with Store.open(db_url) as store:
        store.suppress(emails[0], "bounce", now=AT)
    config = write_config(tmp_path, db_url, "http://127.0.0.1:9")
    _digest(config, "subscribers", "remove", "world", emails[1])
    return edition, emails, config


def test_retry_unknown_leaves_suppressed_addresses_unknown_and_says_why(
    db_url: str, tmp_path: Path
) -> None:
    """`deliveries retry-unknown` after a crash, when one address bounced meanwhile (from
    another edition) and one subscriber unsubscribed: only the third row is queued again; the
    two stay unknown (never sent) and the output counts them by reason."""
    from digest.store import Store

    edition, emails, config = _unknown_two_kept(db_url, tmp_path)

    said = _digest(config, "deliveries", "retry-unknown")
    assert said.startswith("1 deliveries queued again;"), said
    assert "1 unknown deliveries stay unknown (address suppressed)" in said, said
    assert "`digest suppressions remove EMAIL` lifts one, then run retry-unknown again" in said
    assert "1 unknown deliveries stay unknown (subscriber unsubscribed)" in said, said
    with Store.open(db_url) as store:
        assert store.delivery_counts(edition) == {"queued": 1, "unknown": 2}


def test_suppressions_remove_keeps_a_complaint_without_the_flag(
    db_url: str, tmp_path: Path
) -> None:
    """A subscriber who marked the mail as spam stays suppressed and `complained` after a
    plain `suppressions remove` (exit 1, the message names the flag); a bounce recorded before
    the complaint does not hide it; `--complaint` lifts it and the subscriber is active again;
    a bounced address is lifted by the plain command as before."""
    from sqlalchemy import select

    from digest.store import Store, subscribers
    from digest.types import SubscriberStatus
    from tests.worker_support import seed, write_config

    seed(db_url, 2, html_size=200)
    with Store.open(db_url) as store:
        with store.begin() as conn:
            emails = sorted(conn.scalars(select(subscribers.c.email)))
        for email, status in ((emails[0], SubscriberStatus.COMPLAINED),
                              (emails[1], SubscriberStatus.BOUNCED)):
            sub = store.subscriber_by_email("world", email)
            assert sub is not None and sub.id is not None
            store.set_subscriber_status(sub.id, status, now=AT)
        store.suppress(emails[0], "bounce", now=AT)  # first a bounce, then the complaint
        store.suppress(emails[0], "spamreport", now=AT)
        store.suppress(emails[1], "bounce", now=AT)
    config = write_config(tmp_path, db_url, "http://127.0.0.1:9")

    said = _digest(config, "suppressions", "remove", emails[0], code=1)
    assert f"{emails[0]} marked your mail as spam" in said, said
    assert f"`digest suppressions remove {emails[0]} --complaint`" in said, said
    with Store.open(db_url) as store:
        assert store.is_suppressed(emails[0], "world")
        sub = store.subscriber_by_email("world", emails[0])
        assert sub is not None and sub.status == SubscriberStatus.COMPLAINED
    said = _digest(config, "suppressions", "remove", emails[1])
    assert "1 suppression(s) lifted, 1 subscriber(s) active again" in said, said
    said = _digest(config, "suppressions", "remove", emails[0], "--complaint")
    assert "1 suppression(s) lifted, 1 subscriber(s) active again" in said, said
    with Store.open(db_url) as store:
        assert not store.is_suppressed(emails[0], "world")
        sub = store.subscriber_by_email("world", emails[0])
        assert sub is not None and sub.status == SubscriberStatus.ACTIVE


def test_liftable_complaints_and_unsubscribes() -> None:
    """The one rule of `suppressions remove`: bounces and drops go; a complaint (spamreport,
    or SendGrid's drop for a 'Spam Reporting Address') only with the flag; an unsubscribe
    never; a complaint outranks an earlier bounce, not an unsubscribe."""
    from digest.suppression import liftable, outranks

    assert liftable("bounce") and liftable("dropped", "Bounced Address")
    assert not liftable("spamreport") and liftable("spamreport", complaint=True)
    assert not liftable("dropped", "Spam Reporting Address")
    assert not liftable("unsubscribe", complaint=True)
    assert outranks("spamreport", None, "bounce", "550 5.1.1")
    assert not outranks("spamreport", None, "unsubscribe", None)
    assert not outranks("bounce", None, "spamreport", None)


def test_a_full_postgresql_disk_reads_like_a_full_sqlite_disk(pg_url: str, tmp_path: Path) -> None:
    """A poll whose inserts PostgreSQL refuses with SQLSTATE 53100 (psycopg's ``DiskFull``,
    raised here by the driver's cursor as the server would) stops with one line naming the
    database and server (no password) and what to do, exit 1, as SQLite's full disk does;
    53200 (out of memory) the same, with its own words; the entries stored before stay."""
    import psycopg.errors
    from sqlalchemy.engine import Engine, make_url

    from tests.cron_support import install

    inst = install(tmp_path, pg_url, {"world": ("0 7 * * *", "UTC")})
    inst.add_item(AT.replace(hour=5))
    assert inst.cli("poll").exit_code == 0
    before = inst._query("SELECT count(*) FROM entries")
    url = make_url(pg_url)
    for k in range(1, 5):
        inst.add_item(AT.replace(hour=5, minute=k))
    for error, words in ((psycopg.errors.DiskFull, "the disk of the PostgreSQL server of"),
                         (psycopg.errors.OutOfMemory, "the PostgreSQL server of")):
        def refuse(conn, cursor, statement, *rest, error=error):  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("INSERT INTO ENTRIES"):
                raise error("could not extend file \"base/1/2\": No space left on device")

        code, said = inst.main_with(Engine, "before_cursor_execute", refuse, "poll")
        assert code == 1
        where = f"database {url.database} on {url.host}:{url.port or 5432}"
        assert f"error: {words} {where}" in said, said
        assert f"(SQLSTATE {error.sqlstate})" in said, said
        assert "it refused the write and rolled it back, so nothing stored before was lost" in said
        assert "sqlalche.me" not in said and "Traceback" not in said, said
        assert inst._query("SELECT count(*) FROM entries") == before


def test_a_drop_without_our_reference_finds_its_row_by_message_id_or_is_listed(
    db_url: str, tmp_path: Path
) -> None:
    """SendGrid drops a message (about its content) and the event carries no
    ``digest_delivery``: its ``sg_message_id`` (the request's ``X-Message-Id`` and SendGrid's
    suffix) and address find the row, which becomes failed (retry-failed re-sends it); a
    drop no row matches is listed by `digest deliveries` with its address and reason, where
    it was only logged."""
    from digest.deliver import Ledger
    from digest.store import Store
    from digest.transports.sendgrid import message_id_candidates
    from digest.types import Subscriber
    from tests.deliver_helpers import MemoryTransport, compose, make_edition
    from tests.test_ledger_webhook import _post_events, _world
    from tests.worker_support import write_config

    assert message_id_candidates("ab.cd.filter01.2") == ["ab.cd.filter01.2", "ab.cd.filter01", "ab.cd", "ab"]
    with Store.open(db_url) as store:
        subs = [store.add_subscriber(Subscriber("world", f"{n}@example.com"), now=AT)[0]
                for n in ("ada", "bob")]
        led = Ledger(store, clock=lambda: AT)
        edition = make_edition(store)
        led.queue(edition, subs)
        assert led.run(edition, list_name="world", transport=MemoryTransport(),
                       compose=compose) == {"sent": 2}
        ada = next(r for r in store.deliveries_in(edition, ["sent"]) if r.email == "ada@example.com")
        _post_events(_world(tmp_path), store, [
            {"event": "dropped", "email": "ADA@example.com", "sg_event_id": "d1",
             "reason": "Spam Content", "sg_message_id": f"{ada.provider_id}.filterdrecv-5.7.0"},
            {"event": "dropped", "email": "cy@example.com", "sg_event_id": "d2",
             "reason": "Recipient List over Package Quota", "sg_message_id": "zz.filter0.1"},
        ])
        assert store.delivery_counts(edition) == {"sent": 1, "failed": 1}
        assert [r.email for r in store.deliveries_in(edition, ["failed"])] == ["ada@example.com"]
    config = write_config(tmp_path, db_url, "http://127.0.0.1:9")
    said = _digest(config, "deliveries")
    assert "dropped by SendGrid, matching no delivery (1;" in said, said
    assert "cy@example.com: Recipient List over Package Quota (message zz.filter0.1)" in said, said


def test_deliveries_lists_rows_retry_unknown_keeps_apart_from_those_it_resends(
    db_url: str, tmp_path: Path
) -> None:
    """`digest deliveries` after a `retry-unknown` that kept a suppressed address's row and an
    unsubscribed one's unknown: they are no longer listed under "retry-unknown re-sends"
    (the command would not re-send them) but apart, with their reason and the same per-reason
    lines the command printed; failed rows of a suppressed address likewise for retry-failed."""
    from digest.store import Store

    edition, emails, config = _unknown_two_kept(db_url, tmp_path)
    retried = _digest(config, "deliveries", "retry-unknown")

    said = _digest(config, "deliveries")
    assert "`digest deliveries retry-unknown` re-sends" not in said, said
    assert "unknown outcome, not re-sent (2; `digest deliveries retry-unknown` leaves them unknown)" in said
    assert f"{emails[0]}: address suppressed (timeout)" in said, said
    assert f"{emails[1]}: subscriber unsubscribed (timeout)" in said, said
    for line in ("1 unknown deliveries stay unknown (address suppressed)",
                 "1 unknown deliveries stay unknown (subscriber unsubscribed)"):
        assert line in said and line in retried, (said, retried)

    from sqlalchemy import update

    from digest.store import deliveries

    with Store.open(db_url) as store, store.begin() as conn:  # the same rows failed instead
        conn.execute(update(deliveries).values(state="failed", last_error="550 refused"))
    said = _digest(config, "deliveries")
    assert "failed (1; `digest deliveries retry-failed` re-sends)" in said, said
    assert "failed, not re-sent (2; `digest deliveries retry-failed` leaves them failed)" in said
    assert "1 failed deliveries stay failed (address suppressed)" in said, said
