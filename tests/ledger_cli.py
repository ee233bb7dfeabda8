"""Support for the operator-level ledger tests: a World edition built once per session and
stored with ``n`` subscribers' rows (not yet due), copied into each test's folder with a
config of its own; ``digest`` run as a subprocess, as an operator (or cron) runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from digest import pipeline
from digest.config import parse_config
from digest.store import Store
from tests import databases

REPO = Path(__file__).resolve().parent.parent
AT = "2026-02-18T07:00:00Z"
_AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def config_data(
    folder: Path, subscribers: Path, delivery: dict[str, Any], url: str | None = None
) -> dict[str, Any]:
    """The shipped config with the database (``url``, else ``digest.db``), outbox and
    subscriber file in ``folder``, the captured feeds read from the repository and
    ``delivery`` merged in."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": url or f"sqlite:///{folder / 'digest.db'}"}
    data["delivery"] = {**data.get("delivery", {}), "outbox_dir": str(folder / "outbox"), **delivery}
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(subscribers)
    return data


@dataclass(frozen=True)
class Template:
    """A database holding the World edition with its rows queued: ``url``, and ``folder``
    with the subscriber file; ``pg_name`` is the PostgreSQL database to copy (else SQLite)."""

    url: str
    folder: Path
    pg_name: str | None = None


def build_template(folder: Path, n: int, dialect: str = "sqlite") -> Template:
    """A database (SQLite: in ``folder``) holding the World edition of :data:`AT` with
    ``n`` subscribers' rows queued but not due (so nothing is sent while building)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "subscribers.csv"
    csv.write_text(
        "email,name,topics,timezone,status\n"
        + "".join(f"user{i:05d}@example.com,User {i},,UTC,active\n" for i in range(n)),
        encoding="utf-8",
    )
    pg_name = None
    url = None
    if dialect == "postgresql":
        pg = databases.server()
        if pg.unavailable():
            pytest.skip(pg.unavailable())
        pg_name = pg.take(at_head=True)  # kept for the session, dropped when it ends
        url = pg.url_of(pg_name)
    config = parse_config(config_data(folder, csv, {}, url), REPO)
    now = datetime.now(UTC)
    with Store.open(config.database.url) as store:
        pipeline.poll(config, store, now=now)
        report = pipeline.publish(
            config, store, config.list("world"), at=_AT, now=now, not_before=lambda s: _FAR
        )
        assert report.status == "scheduled", report
    return Template(config.database.url, folder, pg_name)


@dataclass
class Install:
    """One test's installation: ``folder`` with ``config.yaml`` and ``digest.db``."""

    folder: Path
    config: Path
    env: dict[str, str]
    url: str = ""

    @property
    def db(self) -> Path:
        return self.folder / "digest.db"

    def digest(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``digest -c config.yaml ARGS...`` to its end."""
        return subprocess.run(
            self.command(*args), cwd=self.folder, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "digest", "-c", str(self.config), *args]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args), cwd=self.folder, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run ``query`` (``:name`` parameters) straight on the database, committed; its rows."""
        return run_sql(self.url or f"sqlite:///{self.db}", query, **params)

    def rows(self) -> dict[str, str]:
        """email -> ledger state of the edition's rows, read straight from the database."""
        return dict(self.sql(  # type: ignore[arg-type]
            "SELECT s.email, d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        ))

    def errors(self) -> dict[str, str | None]:
        return dict(self.sql(  # type: ignore[arg-type]
            "SELECT s.email, d.last_error FROM deliveries d JOIN subscribers s "
            "ON s.id = d.subscriber_id"
        ))


def run_sql(url: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the database at ``url`` in its own transaction; its rows."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def install(
    template: Template, folder: Path, delivery: dict[str, Any], *, keep: int | None = None,
    **env: str,
) -> Install:
    """Copy the ``template`` database (SQLite: into ``folder``; PostgreSQL: a new database,
    dropped when the session ends), keep the rows of the first ``keep`` subscribers (all
    when None), make them due now, and write a config sending through ``delivery``; ``env``
    is added to the environment of every command."""
    folder.mkdir(parents=True, exist_ok=True)
    if template.pg_name is None:
        db = Path(template.url[len("sqlite:///") :])
        shutil.copy(db, folder / "digest.db")
        for suffix in ("-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", folder / f"digest.db{suffix}")
        url = f"sqlite:///{folder / 'digest.db'}"
    else:
        pg = databases.server()
        url = pg.url_of(pg.copy(template.pg_name))
    run_sql(url, "UPDATE deliveries SET not_before = NULL")
    if keep is not None:
        run_sql(url, "DELETE FROM deliveries WHERE subscriber_id > :keep", keep=keep)
        run_sql(url, "DELETE FROM subscribers WHERE id > :keep", keep=keep)
    data = config_data(folder, template.folder / "subscribers.csv", delivery, url)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environ.pop("DIGEST_DATABASE_URL", None)
    return Install(folder, path, environ, url)


def fresh(
    folder: Path, n: int, delivery: dict[str, Any], *, url: str | None = None, **env: str
) -> Install:
    """A new installation in ``folder`` with ``n`` subscribers, on the database at ``url``
    (a test's ``db_url``: nothing stored yet), else a ``digest.db`` not yet created."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "subscribers.csv"
    csv.write_text(
        "email,name,topics,timezone,status\n"
        + "".join(f"user{i:05d}@example.com,User {i},,UTC,active\n" for i in range(n)),
        encoding="utf-8",
    )
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config_data(folder, csv, delivery, url)), encoding="utf-8")
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environ.pop("DIGEST_DATABASE_URL", None)
    return Install(folder, path, environ, url or "")


_TEMPLATES: dict[str, Template] = {}


def shared_template(tmp_path_factory: pytest.TempPathFactory, dialect: str = "sqlite") -> Template:
    """:func:`build_template` with 600 subscribers, built once per test session and dialect
    (the test modules' ``template`` fixtures share it)."""
    if dialect not in _TEMPLATES:
        folder = tmp_path_factory.mktemp(f"ledger-template-{dialect}")
        _TEMPLATES[dialect] = build_template(folder, 600, dialect)
    return _TEMPLATES[dialect]
