"""Shared pieces of the editor tests: a config with topics, a backend that serves the
hand-made sample edition (so the editor is tested without the fetch/cluster/rank stages),
an app factory and a live uvicorn server for the browser tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from starlette.applications import Starlette
from starlette.middleware import Middleware

from digest.adjust import apply_adjustments
from digest.config import Config, ListConfig, parse_config
from digest.web.editor import editor_routes
from digest.web.headers import SecurityHeadersMiddleware
from digest.pipeline import Build, finish_build
from digest.store import Store
from digest.transports import Transport
from digest.transports.outbox import OutboxTransport
from digest.types import Edition
from tests.sample_edition import NOW, SOURCES, sample_edition

TOKEN = "test-editor-token-0123456789abcdef-xyz"


def editor_config(root: Path, db_url: str | None = None, **list_changes: object) -> Config:
    """The sample ``world`` list with the sample edition's topics, rooted at ``root``, on the
    database ``db_url`` (default: the config default under ``root``); ``list_changes``
    override keys of the list."""
    data: dict[str, object] = {
        "site": {
            "name": "digest",
            "base_url": "https://digest.example.org",
            "postal_address": "Digest Example Ltd, 1 Example Street, London EC1A 1AA, United Kingdom",
        },
        "sources": [
            {"name": info.name, "title": info.title, "url": f"https://feeds.example.org/{info.name}.xml",
             "weight": info.weight}
            for info in SOURCES.values()
        ],
        "topics": [
            {"name": "ukraine", "title": "Russia–Ukraine war and diplomacy", "keywords": ["Ukraine"]},
            {"name": "middle-east", "title": "Middle East", "keywords": ["Iran"]},
            {"name": "americas", "title": "Americas", "keywords": ["Venezuela"]},
        ],
        "lists": [
            {
                "name": "world",
                "title": "World news",
                "description": "The day's main world stories, merged across outlets.",
                "sender": "World news from digest <world@digest.example.org>",
                "topics": ["ukraine", "middle-east", "americas"],
                "fallback": {"name": "more", "title": "Elsewhere in the world"},
                "schedule": {"cron": "0 7 * * *", "timezone": "UTC"},
                **list_changes,
            }
        ],
    }
    if db_url is not None:
        data["database"] = {"url": db_url}
    return parse_config(data, root)


class SampleBackend:
    """An :class:`~digest.web.editor.EditorBackend` over a fixed edition (default: the sample)."""

    def __init__(self, edition: Edition | None = None) -> None:
        self.edition = edition or sample_edition()
        self.builds = 0

    def build(self, config: Config, store: Store, list_config: ListConfig, *, at: datetime,
              now: datetime, topics: Sequence[str] = ()) -> Build | None:  # fmt: skip
        self.builds += 1
        base = self.edition
        edition = apply_adjustments(base, store.adjustments(list_config.name, base.period))
        return finish_build(config, list_config, base=base, edition=edition,
                            scheduled=base.window_end, choices=[topics] if topics else (), now=now)  # fmt: skip

    def next_send(self, list_config: ListConfig, after: datetime) -> datetime | None:
        trigger = CronTrigger.from_crontab(list_config.schedule.cron, timezone="UTC")
        return trigger.get_next_fire_time(None, after + timedelta(seconds=1))

    def narrow(self, edition: Edition, topics: Sequence[str]) -> Edition:
        chosen = set(topics)
        sections = tuple(s for s in edition.sections if s.name in chosen)
        if not chosen or not sections:
            return edition
        return dataclasses.replace(edition, sections=sections, topics=tuple(sorted(chosen)))

    def transport(self, config: Config, store: Store, list_config: ListConfig, folder: Path) -> Transport:
        return OutboxTransport(folder)


def clock_at(when: datetime = NOW - timedelta(hours=1)) -> Callable[[], datetime]:
    """A clock fixed at ``when`` (default: an hour before the sample edition's send)."""
    return lambda: when


def make_app(
    root: Path, *, backend: object | None = None, token: str | None = TOKEN,
    clock: Callable[[], datetime] | None = None, db_url: str | None = None,
    **list_changes: object,
) -> tuple[Starlette, Store, Config]:  # fmt: skip
    """A Starlette app with only the editor routes, a fresh store (on ``db_url``, else under
    ``root``) and the security middleware, as ``digest.web.create_app`` would mount them."""
    config = editor_config(root, db_url, **list_changes)
    store = Store.open(config.database.url)
    routes = editor_routes(
        config, store, clock=clock or clock_at(), backend=backend or SampleBackend(), token=token
    )  # type: ignore[arg-type]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware)])
    return app, store, config


