"""Golden files for the sample edition: HTML, text and one whole message.

The expected files live in ``tests/golden/render/``. After an intended change to the theme or the
message shape, regenerate them and review the diff::

    python -m pytest tests/test_render_golden.py --update-golden

Dynamic parts of the message (Message-ID, MIME boundaries) are normalised before comparing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.message import build_message
from digest.render import render_edition
from digest.types import RenderedEdition
from tests.sample_edition import NOW, sample_config, sample_edition, sample_list, sample_subscriber

GOLDEN = Path(__file__).parent / "golden" / "render"


@pytest.fixture(scope="module")
def rendered() -> RenderedEdition:
    config = sample_config()
    return render_edition(sample_edition(), config=config, list_config=sample_list(config), now=NOW)


def test_golden_html(rendered: RenderedEdition, golden) -> None:
    golden(GOLDEN / "sample-edition.html", rendered.html)


def test_golden_text(rendered: RenderedEdition, golden) -> None:
    golden(GOLDEN / "sample-edition.txt", rendered.text)


def test_golden_message(rendered: RenderedEdition, golden) -> None:
    config = sample_config()
    msg = build_message(
        rendered,
        sample_subscriber(),
        list_config=sample_list(config),
        site=config.site,
        unsubscribe_url="https://digest.example.org/unsubscribe/world/TOKEN",
        unsubscribe_mailto="mailto:unsubscribe@digest.example.org?subject=TOKEN",
        preferences_url="https://digest.example.org/preferences/world/TOKEN",
        now=NOW,
        message_id="<golden@digest.example.org>",
    )
    raw = msg.as_bytes().decode("ascii")
    raw = re.sub(r"={15}\d+==", "=BOUNDARY==", raw)
    golden(GOLDEN / "sample-message.eml", raw)
