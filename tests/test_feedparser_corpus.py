"""bench/feedparser_corpus.py on a small corpus written here: digest is never worse than
feedparser alone on the cases issue 15 found in feedparser's own test corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ATOM = '<feed xmlns="http://www.w3.org/2005/Atom">{}</feed>'
RSS = '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>{}</channel></rss>'

CASES = {
    "atom_text_title.xml": ATOM.format(
        '<title type="text">Example &lt;b&gt;Atom&lt;/b&gt;</title>'
        '<entry><title type="text">Example &lt;b&gt;Atom&lt;/b&gt;</title></entry>'
    ),
    "escaped_markup_content.xml": ATOM.format(
        '<entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        "History of the &lt;blink&gt; tag</div></content></entry>"
    ),
    "object_embed_iframe.xml": RSS.format(
        '<item><description>safe&lt;object data="x.swf"&gt; description</description></item>'
        '<item><description>safe&lt;iframe src="http://e.org/"&gt; description</description></item>'
    ),
    "embed_in_title.xml": ATOM.format(
        '<entry><title type="html">safe&lt;embed src="http://e.org/"&gt; title</title></entry>'
    ),
    "broken_comment.xml": ATOM.format(
        '<title type="html">sa&lt;!-- -- nonwhitespace &gt;fe</title>'
    ),
    "media_only.xml": RSS.format(
        "<item><media:title>bar</media:title></item>"
        "<item><title>t</title><media:description>Only text</media:description></item>"
    ),
    "unusable_items.xml": RSS.format("<title>Kept title</title><item><title><![CD"),
}


def test_digest_is_never_worse_than_feedparser_alone(tmp_path: Path) -> None:
    for name, doc in CASES.items():
        (tmp_path / name).write_text(doc, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "feedparser_corpus.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("worse 0"), proc.stdout
    assert f"{len(CASES)} files" in proc.stdout
