"""Issue 14: premailer runs at most once per rendering, plus once for the whole edition, and
the size budget it chooses is the one a search that inlined every candidate would find."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from digest import render
from digest.edition import for_topics
from digest.pipeline import finish_build
from digest.render import PERSONAL_RESERVE, SizeModel, render_edition
from digest.types import Edition, RenderedEdition
from tests.sample_edition import NOW, huge_edition, sample_config, sample_list


@pytest.fixture()
def premailer_calls() -> Iterator[list[int]]:
    """Counts ``Premailer.transform`` runs (the expensive step)."""
    calls: list[int] = []
    original = render.Premailer.transform

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, *args, **kwargs)

    with mock.patch.object(render.Premailer, "transform", counting):
        yield calls


def _by_inlining_every_candidate(edition: Edition, budget: int) -> RenderedEdition:
    """The search before issue 14: inline the whole edition, then binary-search the number of
    top stories by inlining each candidate."""
    config = sample_config()
    lst = sample_list(config)
    env = render.template_environment(None)
    order = render._rank_order(edition.stories)
    limit = budget - PERSONAL_RESERVE
    n = len(edition.stories)

    def attempt(keep: int) -> RenderedEdition:
        kept = set(order[:keep])
        return render._finish(render._compose(
            edition, env, config=config, list_config=lst, now=NOW,
            web_url=render.archive_url(config.site.base, edition.list_name, edition.period),
            kept=kept, omitted=n - keep, zone=ZoneInfo("UTC"), delivered_at=edition.window_end,
        ))  # fmt: skip

    best = attempt(n)
    if len(best.html.encode()) <= limit:
        return best
    lo, hi, best = 0, n - 1, attempt(0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = attempt(mid)
        if len(candidate.html.encode()) <= limit:
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best


@pytest.mark.parametrize("budget", [30_000, 52_000])
def test_budget_matches_inlining_every_candidate(
    budget: int, premailer_calls: list[int]
) -> None:
    edition = huge_edition(16)
    config = sample_config()
    ours = render_edition(edition, config=config, list_config=sample_list(config), now=NOW,
                          budget_bytes=budget)  # fmt: skip
    used = len(premailer_calls)
    expected = _by_inlining_every_candidate(edition, budget)
    assert ours.omitted == expected.omitted > 0
    assert ours.html == expected.html and ours.text == expected.text
    assert used == 2  # the whole edition (measured), then the chosen one


def test_one_premailer_run_per_variant_plus_the_whole_edition(premailer_calls: list[int]) -> None:
    edition = huge_edition(40)  # over the budget: the email leaves stories out
    config = sample_config()
    lst = sample_list(config)
    choices = [("sec0",), ("sec1", "sec2"), ("sec3",), ("sec0",)]
    built = finish_build(config, lst, base=edition, edition=edition, scheduled=NOW,
                         choices=choices, now=NOW)  # fmt: skip
    assert len(built.variants) == 4
    assert built.main.omitted > 0
    # three narrower variants once each; the whole edition once measured, once as sent
    assert len(premailer_calls) == 3 + 2
    # the measured rendering is the archive's copy: the same as rendering without a budget
    assert built.unbudgeted is not None
    del premailer_calls[:]
    archive = render_edition(edition, config=config, list_config=lst, now=NOW, budget_bytes=None)
    assert built.unbudgeted.html == archive.html and built.unbudgeted.omitted == 0
    # and a variant is what its own render (with its own measuring run) gives
    key = ("sec1", "sec2")
    alone = render_edition(for_topics(edition, key), config=config, list_config=lst, now=NOW)
    assert built.variants[key].html == alone.html


def test_size_model_predicts_what_premailer_gives() -> None:
    edition = huge_edition(12)
    config = sample_config()
    lst = sample_list(config)
    env = render.template_environment(None)

    def draft(keep: int) -> render._Draft:
        order = render._rank_order(edition.stories)
        return render._compose(
            edition, env, config=config, list_config=lst, now=NOW, web_url="https://x.example/a",
            kept=set(order[:keep]), omitted=12 - keep, zone=ZoneInfo("UTC"), delivered_at=NOW,
        )  # fmt: skip

    model = SizeModel()
    assert not model.ready
    full = draft(12)
    model.learn(full.html, render._finish(full).html)
    predicted, exact = model.predict(full.html)
    assert exact and predicted == len(render._finish(full).html.encode())
    fewer = draft(7)
    model.learn(fewer.html, render._finish(fewer).html)  # now has seen the "more" block
    predicted, exact = model.predict(draft(5).html)
    assert exact and predicted == len(render._finish(draft(5)).html.encode())


@pytest.mark.parametrize("error", [-2_500, 2_500])
def test_a_wrong_prediction_is_corrected_by_inlining(error: int) -> None:
    edition = huge_edition(16)
    config = sample_config()
    lst = sample_list(config)
    model = SizeModel()
    render_edition(edition, config=config, list_config=lst, now=NOW, sizes=model)  # calibrates
    assert model.constant is not None
    model.constant += error  # predictions about one story too small, or too large
    ours = render_edition(edition, config=config, list_config=lst, now=NOW, budget_bytes=40_000,
                          sizes=model)  # fmt: skip
    expected = _by_inlining_every_candidate(edition, 40_000)
    assert ours.omitted == expected.omitted and ours.html == expected.html


def test_a_variant_that_fits_whole_is_drafted_once() -> None:
    """Once the build's model is calibrated, a narrower variant predicted to fit whole is
    composed once (Jinja, MJML, a parse), not once per step of the budget's binary search;
    the same rendering as its own render gives."""
    edition = huge_edition(40)  # over the budget: the whole edition calibrates the model
    config = sample_config()
    lst = sample_list(config)
    model = SizeModel()
    render_edition(edition, config=config, list_config=lst, now=NOW, sizes=model)
    narrow = for_topics(edition, ("sec1",))
    composed: list[int] = []
    original = render._compose

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        composed.append(1)
        return original(*args, **kwargs)

    with mock.patch.object(render, "_compose", counting):
        ours = render_edition(narrow, config=config, list_config=lst, now=NOW, sizes=model)
    assert ours.omitted == 0 and len(composed) == 1
    alone = render_edition(narrow, config=config, list_config=lst, now=NOW)
    assert ours.html == alone.html and ours.text == alone.text


def test_each_document_of_a_budget_search_is_parsed_once() -> None:
    """The size model reads each MJML output once (lxml parse, serialisation, a walk of its
    ~800 elements), whether it predicts its size, learns from it or both, and the result is
    the one inlining every candidate gives (issue 14)."""
    edition = huge_edition(40)
    config = sample_config()
    lst = sample_list(config)
    parsed: list[str] = []
    original = render._elements

    def counting(html: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(html)
        return original(html, *args, **kwargs)

    with mock.patch.object(render, "_elements", counting):
        ours = render_edition(edition, config=config, list_config=lst, now=NOW,
                              budget_bytes=40_000)  # fmt: skip
    assert ours.omitted > 0 and len(parsed) >= 4
    assert len(parsed) == len(set(parsed))
    expected = _by_inlining_every_candidate(edition, 40_000)
    assert ours.omitted == expected.omitted and ours.html == expected.html
