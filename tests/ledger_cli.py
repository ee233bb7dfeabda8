"""Support for the operator-level ledger tests: a World edition built once per session and
stored with ``n`` subscribers' rows (not yet due), copied into each test's folder with a
config of its own; ``digest`` run as a subprocess, as an operator (or cron) runs it."""

from __future__ import annotations

import os
import shutil
import sqlite3
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

REPO = Path(__file__).resolve().parent.parent
AT = "2026-02-18T07:00:00Z"
_AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def config_data(folder: Path, subscribers: Path, delivery: dict[str, Any]) -> dict[str, Any]:
    """The shipped config with the database, outbox and subscriber file in ``folder``, the
    captured feeds read from the repository and ``delivery`` merged in."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{folder / 'digest.db'}"}
    data["delivery"] = {**data.get("delivery", {}), "outbox_dir": str(folder / "outbox"), **delivery}
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(subscribers)
    return data


def build_template(folder: Path, n: int) -> Path:
    """A database in ``folder`` holding the World edition of :data:`AT` with ``n``
    subscribers' rows queued but not due (so nothing is sent while building)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "subscribers.csv"
    csv.write_text(
        "email,name,topics,timezone,status\n"
        + "".join(f"user{i:05d}@example.com,User {i},,UTC,active\n" for i in range(n)),
        encoding="utf-8",
    )
    config = parse_config(config_data(folder, csv, {}), REPO)
    now = datetime.now(UTC)
    with Store.open(config.database.url) as store:
        pipeline.poll(config, store, now=now)
        report = pipeline.publish(
            config, store, config.list("world"), at=_AT, now=now, not_before=lambda s: _FAR
        )
        assert report.status == "scheduled", report
    return folder / "digest.db"


@dataclass
class Install:
    """One test's installation: ``folder`` with ``config.yaml`` and ``digest.db``."""

    folder: Path
    config: Path
    env: dict[str, str]

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

    def rows(self) -> dict[str, str]:
        """email -> ledger state of the edition's rows, read straight from the database."""
        with sqlite3.connect(self.db) as conn:
            return dict(
                conn.execute(
                    "SELECT s.email, d.state FROM deliveries d JOIN subscribers s "
                    "ON s.id = d.subscriber_id"
                ).fetchall()
            )

    def errors(self) -> dict[str, str | None]:
        with sqlite3.connect(self.db) as conn:
            return dict(
                conn.execute(
                    "SELECT s.email, d.last_error FROM deliveries d JOIN subscribers s "
                    "ON s.id = d.subscriber_id"
                ).fetchall()
            )


def install(
    template: Path, folder: Path, delivery: dict[str, Any], *, keep: int | None = None,
    **env: str,
) -> Install:
    """Copy the ``template`` database into ``folder``, keep the rows of the first ``keep``
    subscribers (all when None), make them due now, and write a config sending through
    ``delivery``; ``env`` is added to the environment of every command."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / "digest.db")
    for suffix in ("-wal", "-shm"):
        if Path(f"{template}{suffix}").exists():
            shutil.copy(f"{template}{suffix}", folder / f"digest.db{suffix}")
    with sqlite3.connect(folder / "digest.db") as conn:
        conn.execute("UPDATE deliveries SET not_before = NULL")
        if keep is not None:
            conn.execute("DELETE FROM deliveries WHERE subscriber_id > ?", (keep,))
            conn.execute("DELETE FROM subscribers WHERE id > ?", (keep,))
    data = config_data(folder, template.parent / "subscribers.csv", delivery)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return Install(folder, path, environ)


def fresh(folder: Path, n: int, delivery: dict[str, Any], **env: str) -> Install:
    """A new installation in ``folder`` (no database yet) with ``n`` subscribers."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "subscribers.csv"
    csv.write_text(
        "email,name,topics,timezone,status\n"
        + "".join(f"user{i:05d}@example.com,User {i},,UTC,active\n" for i in range(n)),
        encoding="utf-8",
    )
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config_data(folder, csv, delivery)), encoding="utf-8")
    return Install(folder, path, {**os.environ, "PYTHONPATH": str(REPO), **env})


_TEMPLATE: Path | None = None


def shared_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`build_template` with 600 subscribers, built once per test session (the test
    modules' ``template`` fixtures share it)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = build_template(tmp_path_factory.mktemp("ledger-template"), 600)
    return _TEMPLATE
