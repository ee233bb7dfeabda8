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
from digest.message import personalise
from digest.render import render_edition
from digest.store import Store
from digest.web.editor import editor_routes, preview_values
from tests import databases
from tests.conftest import REPO
from tests.editor_support import TOKEN

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
POLLED = AT - timedelta(hours=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dialect: str):
    tmp = tmp_path_factory.mktemp("editor-world")
    with databases.database(dialect, tmp) as url:
        data = yaml.safe_load((REPO / "config.yaml").read_text())
        data["database"] = {"url": url}
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


# -- reshaping on the real pipeline: the same build for preview and send; refused once sent


def _cli_config(tmp, db_url: str | None = None) -> tuple[object, object]:
    """The shipped config with its files made absolute and the store under ``tmp`` (or at
    ``db_url``): a file the ``digest`` command can be run on."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url or f"sqlite:///{tmp / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp / "outbox")
    for source in data["sources"]:
        if source.get("path"):
            source["path"] = str((REPO / source["path"]).resolve())
    for lst in data["lists"]:
        lst["subscribers"] = str((REPO / lst["subscribers"]).resolve())
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path, parse_config(data, tmp)


def _digest(config_path, *args: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_split_move_merge_apply_alike_in_preview_and_send_and_are_refused_after(
    tmp_path, db_url: str
) -> None:
    from digest.adjust import entry_ref

    config_path, config = _cli_config(tmp_path, db_url)
    store = Store.open(config.database.url)
    pipeline.poll(config, store, now=POLLED)
    lst = config.list("world")
    before = pipeline.build(config, store, lst, at=AT, now=POLLED)
    stories = before.edition.stories
    multi = [s for s in stories if len(s.entries) >= 2]
    single = [s for s in stories if len(s.entries) == 1]
    assert len(multi) >= 2 and len(single) >= 3
    split_entry = multi[0].others[-1]
    move_entry, move_into = multi[1].others[-1], single[0]
    merge_story, merge_into = single[1], single[2]

    app = Starlette(routes=editor_routes(config, store, clock=lambda: POLLED, token=TOKEN))
    with TestClient(app) as client:
        client.post("/editor/login", data={"token": TOKEN})
        why = client.get("/editor/lists/world/why?at=2026-02-18T07:00:00Z").text
        assert "Split off" in why and "Merge into" in why and 'id="sent-note"' not in why
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', why).group(1)
        common = {"csrf": token, "at": "2026-02-18T07:00:00Z", "period": before.edition.period, "back": "why"}
        r = client.post("/editor/lists/world/adjust", data={**common, "action": "split", "story": multi[0].key, "entry": entry_ref(split_entry)})
        assert r.status_code == 200 and "Split off: the entry" in r.text
        r = client.post("/editor/lists/world/adjust", data={**common, "action": "move", "story": multi[1].key, "entry": entry_ref(move_entry), "into": entry_ref(move_into.lead)})
        assert r.status_code == 200 and "Reshaped by an editor" in r.text
        # the same adjustments through the command line, as an operator would
        done = _digest(config_path, "adjust", "world", "merge", merge_story.key, "--into", merge_into.key, "--at", "2026-02-18T07:00:00Z")
        assert done.returncode == 0, done.stderr
        assert [a.action for a in store.adjustments("world", before.edition.period)] == ["split", "move", "merge"]
        shown = _digest(config_path, "adjust", "world", "show", "--at", "2026-02-18T07:00:00Z")
        assert shown.returncode == 0 and f"      {entry_ref(split_entry)}" in shown.stdout
        assert "adjustment merge " + merge_story.key in shown.stdout

        built = pipeline.build(config, store, lst, at=AT, now=POLLED)
        by_lead = {s.lead: s for s in built.edition.stories}
        assert split_entry in by_lead and by_lead[split_entry].others == ()
        target = next(s for s in built.edition.stories if move_into.lead in s.entries)
        assert move_entry in target.entries
        merged = next(s for s in built.edition.stories if merge_into.lead in s.entries)
        assert merge_story.lead in merged.entries
        assert built.base.stories == before.edition.stories  # the base is what clustering made
        frame = client.get("/editor/lists/world/preview/email?at=2026-02-18T07:00:00Z").text
        assert frame == personalise(built.main.html, preview_values(config), html=True)

        report = pipeline.publish(config, store, lst, at=AT, now=POLLED, clock=lambda: POLLED)
        assert report.status == "sent", report
        stored = store.edition("world", before.edition.period)
        assert store.variants(stored.id)[()].html == built.main.html  # what the preview showed

        # an editor sees the edition was sent before trying to change it: the lists page
        # said "sending" (the stored flag) and the pages "Sends …" with every form offered
        overview = client.get("/editor/").text
        assert "2026-02-18</a> · delivered" in overview and "· sending" not in overview
        for page in ("preview", "why"):
            shown_page = client.get(f"/editor/lists/world/{page}?at=2026-02-18T07:00:00Z").text
            assert 'id="sent-note"' in shown_page and "world/2026-02-18 was sent" in shown_page
            assert "Sent Wed 18 Feb" in shown_page and "Sends " not in shown_page
        r = client.post("/editor/lists/world/adjust", data={**common, "action": "pin", "story": stories[0].key})
        assert r.status_code == 409 and "was sent" in r.text and "world/2026-02-18" in r.text
    refused = _digest(config_path, "adjust", "world", "pin", stories[0].key, "--at", "2026-02-18T07:00:00Z")
    assert refused.returncode == 1 and "world/2026-02-18 was sent" in refused.stderr
    assert [a.action for a in store.adjustments("world", before.edition.period)] == ["split", "move", "merge"]
    store.close()


def test_build_returns_what_the_email_left_out_for_size(world, monkeypatch) -> None:
    """With a tight size budget the build says which stories the email left out, from the
    one rendering (the archive and the editor need no second render to find out)."""
    import functools

    config, store, _ = world
    monkeypatch.setattr(
        pipeline, "render_edition", functools.partial(pipeline.render_edition, budget_bytes=60_000)
    )
    built = pipeline.build(config, store, config.list("world"), at=AT, now=POLLED)
    left = built.left_out_for_size
    assert built.main.omitted == len(left) > 0
    assert {s.key for s in left} == set(built.main.left_out)
    for story in left:
        assert story in built.edition.stories and story.lead.title not in built.main.text
    lowest = sorted(built.edition.stories, key=lambda s: (not s.pinned, -s.score))[-len(left):]
    assert {s.key for s in lowest} == {s.key for s in left}
