"""Issue 14, render: what an edition costs besides premailer's own inlining (the subject
compiled once, cssutils without its validation) and that the output does not change."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import jinja2

from digest import render
from digest.render import render_edition
from tests.conftest import REPO
from tests.sample_edition import NOW, huge_edition, sample_config, sample_list


def test_the_subject_is_compiled_once_for_every_candidate_of_the_budget_search() -> None:
    config = sample_config()
    subject = "Cost test: {{ top_story.lead.title }}"
    lst = sample_list(config).model_copy(update={"subject": subject})
    compiled: list[str] = []
    original = jinja2.Environment.from_string

    def counting(self, source, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(source)
        return original(self, source, *args, **kwargs)

    with mock.patch.object(jinja2.Environment, "from_string", counting):
        rendered = render_edition(huge_edition(40), config=config, list_config=lst, now=NOW,
                                  budget_bytes=40_000)  # fmt: skip
    assert rendered.omitted > 0  # a search over several candidates, each composed
    assert rendered.subject.startswith("Cost test: ")
    assert compiled.count(lst.subject) == 1


_INLINE = """
import hashlib, sys
from unittest import mock
from digest import render
from tests.sample_edition import NOW, sample_config, sample_edition, sample_list
config = sample_config()
html = render._compose(
    sample_edition(), render.template_environment(None), config=config,
    list_config=sample_list(config), now=NOW, web_url="https://example.org/a", kept=set(range(9)),
    omitted=0, zone=render.ZoneInfo("UTC"), delivered_at=NOW,
).html
import cssutils
calls = []
real = cssutils.profiles.Profiles.validateWithProfile
def counting(self, *a, **k):
    calls.append(1)
    return real(self, *a, **k)
cssutils.profiles.Profiles.validateWithProfile = counting
if sys.argv[1] == "validating":
    with mock.patch.object(render, "_cssutils_without_validation", lambda: None, create=True):
        out = render.inline_css(html)
else:
    out = render.inline_css(html)
print(hashlib.sha256(out.encode()).hexdigest(), len(calls))
"""


def test_inlining_skips_cssutils_validation_and_gives_the_same_bytes() -> None:
    """Each in a fresh interpreter (cssutils' profiles are process-wide): premailer with
    cssutils validating every property, and :func:`render.inline_css` as it runs."""

    def run(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _INLINE, mode], capture_output=True,
                             text=True, check=True, cwd=REPO)  # fmt: skip
        digest, calls = out.stdout.split()
        return digest, int(calls)

    validating, checked = run("validating")
    ours, ours_checked = run("ours")
    assert checked > 20  # cssutils validated each property premailer parsed
    assert ours_checked == 0
    assert ours == validating
