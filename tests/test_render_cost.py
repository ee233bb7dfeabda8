"""Issue 14, render: what an edition costs besides premailer's own inlining (the subject
compiled once, cssutils without its validation) and that the output does not change."""

from __future__ import annotations

import logging
import re
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
    assert checked > 0  # cssutils validated each property premailer parsed
    assert ours_checked == 0
    assert ours == validating


def _premailer_with_every_step(html: str) -> str:
    """What :func:`render.inline_css` gave before it skipped premailer's
    ``align_floating_images`` step: premailer's defaults for it."""
    from premailer import Premailer

    html = html.replace('<style type="text/css">\n#outlook a',
                        '<style type="text/css" data-premailer="ignore">\n#outlook a', 1)  # fmt: skip
    out = Premailer(
        html, keep_style_tags=True, strip_important=False, allow_network=False,
        allow_loading_external_files=False, disable_validation=True,
        cssutils_logging_level=logging.CRITICAL, remove_classes=False,
        disable_basic_attributes=["width", "height"],
    ).transform()  # fmt: skip
    return out if out.lstrip()[:9].lower() == "<!doctype" else "<!doctype html>\n" + out


def test_inlining_parses_no_image_style_again_and_gives_the_same_bytes() -> None:
    """Premailer parsed every image's inlined style once more with cssutils, only to align an
    image floated left or right (none in the theme): 0.07 s of its 0.09 s per rendering on
    the demo edition (issue 14). The step is skipped when no image can float."""
    import cssutils

    from tests.sample_edition import sample_edition

    config = sample_config()
    html = render._compose(
        sample_edition(), render.template_environment(None), config=config,
        list_config=sample_list(config), now=NOW, web_url="https://example.org/a",
        kept=set(range(9)), omitted=0, zone=render.ZoneInfo("UTC"), delivered_at=NOW,
    ).html  # fmt: skip
    assert "<img" in html
    expected = _premailer_with_every_step(html)
    with mock.patch.object(cssutils, "parseStyle", wraps=cssutils.parseStyle) as parsed:
        out = render.inline_css(html)
    assert parsed.call_count == 0
    assert out == expected


FLOATED = """<!doctype html>
<html><head><style type="text/css">
img.right { float: right; width: 10px }
</style></head><body>
<img class="right" src="https://example.org/a.png" alt="a">
<img style="FLOAT: left" src="https://example.org/b.png" alt="b">
<img style="fl\\6f at: left" src="https://example.org/c.png" alt="c">
<img style="width: 20px" src="https://example.org/d.png" alt="d">
</body></html>
"""


def test_an_image_floated_by_a_rule_an_attribute_or_an_escape_is_still_aligned() -> None:
    """An override theme may float an image: the result is then premailer's with its
    alignment step, byte for byte."""
    out = render.inline_css(FLOATED)
    assert out == _premailer_with_every_step(FLOATED)
    assert out.count('align="right"') == 1 and out.count('align="left"') == 2
    assert render.may_float_images(out)
    assert not render.may_float_images(re.sub("(?i)float", "width", out).replace("\\", ""))
    # a word in the text is no image's style: read, and no second transform
    assert not render.may_float_images(out.replace("float", "width").replace("\\", "").replace(
        "FLOAT", "width").replace("<body>", "<body><p>Floating the pound</p>"))
