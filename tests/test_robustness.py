"""Bad input found by trying to break digest: each case must end in a clear message and the
rest of the run must go on, never a traceback or lost deliveries."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from click.testing import CliRunner

from digest import pipeline
from digest.cli import cli, main
from digest.config import load_config
from digest.render import subject_problems
from digest.exceptions import ConfigError, RenderError
from digest.store import Store
from tests.test_cli import _write_config
from tests.test_world_edition import AT, NOW, world_config


def test_a_crash_after_the_edition_is_stored_never_loses_its_deliveries(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = world_config(tmp_path, db_url)
    store = Store.open(config.database.url)
    pipeline.poll(config, store, now=NOW)
    real = pipeline.deliver_edition

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies right after the edition was stored

    monkeypatch.setattr(pipeline, "deliver_edition", crash)
    with pytest.raises(KeyboardInterrupt):
        pipeline.publish(config, store, config.list("world"), at=AT, now=NOW, clock=lambda: NOW)
    monkeypatch.setattr(pipeline, "deliver_edition", real)
    again = pipeline.publish(config, store, config.list("world"), at=AT, now=NOW, clock=lambda: NOW)
    assert again.status == "sent", again
    assert again.deliveries == {"sent": 5}
    store.close()


def test_edition_files_that_cannot_be_written_do_not_stop_delivery(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = world_config(tmp_path, db_url)
    store = Store.open(config.database.url)

    def refuse(folder, rendered):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(pipeline, "write_edition_files", refuse)
    report = pipeline.run(config, store, now=NOW, at=AT, clock=lambda: NOW)
    assert report.lists[0].status == "sent" and report.lists[0].deliveries == {"sent": 5}
    store.close()


def test_markup_in_feed_errors_is_printed_not_interpreted(tmp_path: Path) -> None:
    page = tmp_path / "page.xml"
    page.write_text("<html><head><title>[/] [link=http://evil]click[/link]</title></head></html>")
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["sources"].append({"name": "hostile", "title": "[bold]Hostile[/]", "path": str(page)})
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    runner = CliRunner()
    polled = runner.invoke(cli, ["-c", str(path), "poll"])
    assert polled.exit_code == 1, polled.output
    assert "hostile" in polled.output and "MarkupError" not in repr(polled.exception)
    for command in (["sources"], ["status"]):
        result = runner.invoke(cli, ["-c", str(path), *command])
        assert result.exception is None or isinstance(result.exception, SystemExit), command


def test_config_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)
    assert CliRunner().invoke(cli, ["-c", str(path), "config", "check"]).exit_code == 2


@pytest.mark.parametrize(
    ("sender", "expected"),
    [("not an address", "a sender address"), ("A <a@b.example>\r\nBcc: x@evil.example", "one line")],
)
def test_sender_must_be_one_address(tmp_path: Path, sender: str, expected: str) -> None:
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["sender"] = sender
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_subject_template_errors_show_at_config_check_and_it_is_sandboxed(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["subject"] = "{{ list.title "
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    # checked by `digest config check` and at each build, not at every load (a cron no-op
    # would import Jinja2 for it: issue 14)
    broken = load_config(path)
    assert [p.split(":")[0] for p in subject_problems(broken)] == ["lists[0].subject"]
    with Store.open(broken.database.url) as store:
        with pytest.raises(RenderError, match="subject"):
            pipeline.build(broken, store, broken.list("world"), at=AT, now=NOW)
    data["lists"][0]["subject"] = "{{ list.title }} {{ ''.__class__.__mro__[1].__subclasses__() }}"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    config = load_config(path)
    with Store.open(config.database.url) as store:
        pipeline.poll(config, store, now=NOW)
        try:
            built = pipeline.build(config, store, config.list("world"), at=AT, now=NOW)
        except Exception as exc:  # a refused template is a RenderError, never Python's classes
            assert "subclasses" not in str(exc) or "unsafe" in str(exc).lower()
        else:
            assert "<class" not in built.main.subject


def test_unclosed_quote_huge_cell_and_non_ascii_local_part(db_url: str, tmp_path: Path) -> None:
    from digest.subscribers import import_csv

    csv_file = tmp_path / "subs.csv"
    csv_file.write_text(
        "email,name,topics,timezone,status\n"
        'q@example.com,"unterminated,,UTC,active\n'
        "r@example.com,R,,UTC,active\n"
        f"big@example.com,{'x' * 200_000},,UTC,active\n"
        "üser@example.com,U,,UTC,active\n"
        "s@example.com,\"Smith, S.\",,UTC,active\n"
    )
    with Store.open(db_url) as store:
        report = import_csv(store, "world", csv_file, now=NOW)
        emails = {s.email for s in store.subscribers_of("world")}
    assert emails == {"r@example.com", "s@example.com"}
    assert [p.split(":")[1] for p in report.problems] == ["2", "4", "5"]
    assert "unclosed quote" in report.problems[0]


def test_times_at_the_edge_of_the_calendar(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    result = CliRunner().invoke(cli, ["-c", str(path), "build", "world", "--at", "0001-01-01T00:00Z"])
    assert result.exit_code == 1 and not isinstance(result.exception, OverflowError)
    assert "no send time" in result.output


def test_unwritable_build_folder(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(
        cli, ["-c", str(path), "build", "world", "--at", "2026-02-18T07:00Z", "--out", str(blocker / "x")]
    )
    assert result.exit_code == 1 and "cannot write" in result.output


def test_a_damaged_database_is_one_line_and_exit_1(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_config(tmp_path, db_url)
    with Store.open(db_url) as store, store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zzzz'"))
    monkeypatch.setattr("sys.argv", ["digest", "-c", str(path), "deliveries"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "database" in err and "Traceback" not in err


def test_eval_on_a_binary_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(bytes(range(256)) * 4)
    result = CliRunner().invoke(cli, ["eval", "clusters", str(junk)])
    assert result.exit_code == 2 and "not UTF-8" in result.output


def test_deeply_nested_webhook_body_is_a_400(tmp_path: Path) -> None:
    import base64
    import time

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from starlette.testclient import TestClient

    from digest.web import create_app

    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    config = world_config(tmp_path)
    body = b"[" * 100_000 + b"]" * 100_000
    stamp = str(int(time.time()))
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    with Store.open(config.database.url) as store:
        client = TestClient(create_app(config, store, webhook_public_key=public))
        response = client.post(
            "/webhooks/sendgrid",
            content=body,
            headers={
                "X-Twilio-Email-Event-Webhook-Signature": signature,
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            },
        )
    assert response.status_code == 400 and response.json() == {"error": "not JSON"}


def test_at_is_checked_for_range(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    result = CliRunner().invoke(cli, ["-c", str(path), "send", "world", "--at", "9999-12-31T23:59Z"])
    assert not isinstance(result.exception, OverflowError)


def test_bad_subscriber_rows_are_reported_and_the_edition_goes_out_a_missing_file_fails_the_list(
    db_url: str, tmp_path: Path,
) -> None:
    subs = tmp_path / "subs.csv"
    subs.write_text("email,name\nok@example.com,Ok\nnot-an-address,Bad\n")
    data = yaml.safe_load((Path(__file__).parent.parent / "config.yaml").read_text())
    data["lists"][0]["subscribers"] = str(subs)
    config = world_config(tmp_path, db_url, lists=data["lists"])
    with Store.open(config.database.url) as store:
        report = pipeline.run(config, store, now=NOW, at=AT, clock=lambda: NOW)
        [lst] = report.lists
        assert lst.status == "sent" and lst.deliveries == {"sent": 1}
        assert "1 subscriber row(s) rejected" in lst.message and "subs.csv:3" in lst.message
        subs.unlink()
        later = pipeline.run(
            config, store, now=NOW, at=AT.replace(day=19), clock=lambda: NOW
        )
        assert later.lists[0].status == "failed" and str(subs) in later.lists[0].message
        assert store.edition("world", "2026-02-19") is None  # nothing stored: the next run sends