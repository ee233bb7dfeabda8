"""The editor on the real pipeline: the captured World news feeds polled into a store, the
preview built by ``digest.pipeline.build`` through the default backend."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from starlette.applications import Starlette

from digest import pipeline
from digest.adjust import Adjustment, apply_adjustments
from digest.config import parse_config
from digest.web.editor import editor_routes, preview_values
from digest.message import personalise
from digest.render import render_edition
from digest.store import Store
from tests.conftest import REPO
from tests.editor_support import TOKEN

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
POLLED = AT - timedelta(hours=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("editor-world")
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{tmp / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp / "outbox")
    config = parse_config(data, REPO)
    store = Store.open(config.database.url)
    pipeline.poll(config, store, now=POLLED)
    app = Starlette(routes=editor_routes(config, store, clock=lambda: POLLED, token=TOKEN))
    client = TestClient(app)
    r = client.post("/editor/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303
    yield config, store, client
    client.close()
    store.close()


def test_the_preview_is_exactly_the_email_publish_would_send(world) -> None:
    config, store, client = world
    built = pipeline.build(config, store, config.list("world"), at=AT, now=POLLED)
    assert built is not None and built.edition.stories
    frame = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
    assert frame == personalise(built.main.html, preview_values(config), html=True)
    page = client.get("/editor/lists/world/preview").text  # default: the next send, 07:00
    assert built.main.subject.replace("'", "&#39;") in page
    assert built.edition.period in page


def test_why_here_shows_the_rankers_reasons_and_section_rules(world) -> None:
    config, store, client = world
    built = pipeline.build(config, store, config.list("world"), at=AT, now=POLLED)
    html = client.get("/editor/lists/world/why?at=2026-02-18T07:00:00Z").text
    top = built.edition.stories[0]
    for reason in top.reasons:
        assert f"<td>{reason.name}</td>" in html
    assert top.section_reason.replace("'", "&#39;") in html
    assert len(re.findall(r'<article class="why-story', html)) == len(built.edition.stories)


def test_stored_adjustments_change_the_preview_like_apply_adjustments(world) -> None:
    config, store, client = world
    lst = config.list("world")
    built = pipeline.build(config, store, lst, at=AT, now=POLLED)
    last = built.edition.sections[-1].stories[-1]
    first = built.edition.stories[0]
    adjustments = [Adjustment(last.key, "pin", lead_source=last.lead.source, lead_entry_id=last.lead.entry_id),
                   Adjustment(first.key, "drop")]  # fmt: skip
    for adj in adjustments:
        store.set_adjustment("world", built.edition.period, adj, now=POLLED)
    try:
        expected = render_edition(apply_adjustments(built.edition, adjustments), config=config, list_config=lst, now=POLLED)
        frame = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
        assert frame == personalise(expected.html, preview_values(config), html=True)
        assert expected.subject != built.main.subject
    finally:
        for adj in adjustments:
            store.clear_adjustment("world", built.edition.period, adj.story_key, adj.action)


def test_send_a_test_through_the_pipelines_transport(world) -> None:
    config, _, client = world
    page = client.get("/editor/lists/world/preview").text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    r = client.post("/editor/lists/world/test", data={"csrf": token, "at": "2026-02-18T07:00:00Z",
                                                      "address": "desk@example.net"})  # fmt: skip
    assert "Test sent to desk@example.net." in r.text, r.text[:2000]
    assert list((config.delivery.outbox_dir / "world" / "tests").glob("*-desk_at_example.net.eml"))
