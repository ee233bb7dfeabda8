"""Compiled templates kept on disk between processes (issue 14): a new environment loads them
without compiling, a changed template is compiled again, and a cache that cannot be read or
written only costs the compilation."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import jinja2
import pytest

from digest import render

NAMES = ("edition.mjml.j2", "edition.txt.j2", "subject.txt.j2")


@pytest.fixture
def compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cache in a folder of this test's own; the names of the templates compiled."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    names: list[str] = []
    real = jinja2.Environment.compile

    def spy(self: jinja2.Environment, source: str, name: str | None = None, *a, **k):  # type: ignore[no-untyped-def]
        names.append(name or "")
        return real(self, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", spy)
    return names


def _fresh(override: Path | None = None) -> jinja2.Environment:
    """A new environment, as a new process makes (not the one cached in this process)."""
    return render.template_environment.__wrapped__(override)


def test_a_new_environment_loads_the_compiled_templates(compiled: list[str]) -> None:
    first = [_fresh().get_template(n).render(_CONTEXT) for n in ("subject.txt.j2",)]
    assert compiled == ["subject.txt.j2"]
    again = [_fresh().get_template(n).render(_CONTEXT) for n in ("subject.txt.j2",)]
    assert compiled == ["subject.txt.j2"]  # not compiled a second time
    assert again == first
    for name in NAMES:
        _fresh().get_template(name)
    assert sorted(compiled) == sorted(NAMES)


def test_a_changed_template_is_compiled_again(tmp_path: Path, compiled: list[str]) -> None:
    folder = tmp_path / "theme"
    folder.mkdir()
    template = folder / "subject.txt.j2"
    template.write_text("{{ subject }} one", encoding="utf-8")
    assert _fresh(folder).get_template("subject.txt.j2").render(_CONTEXT) == "S one"
    template.write_text("{{ subject }} two", encoding="utf-8")
    assert _fresh(folder).get_template("subject.txt.j2").render(_CONTEXT) == "S two"
    assert compiled == ["subject.txt.j2", "subject.txt.j2"]


def test_a_cache_that_cannot_be_written_or_read_only_costs_compiling(
    tmp_path: Path, compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: object, bucket: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", full)
        assert _fresh().get_template("subject.txt.j2").render(_CONTEXT) == "S\n"
    _fresh().get_template("subject.txt.j2")  # written now
    cache = Path(render.template_cache().directory)  # type: ignore[union-attr]
    for path in cache.glob("*.cache"):
        path.write_bytes(path.read_bytes()[:20])  # truncated (a foreign or broken file)
    assert _fresh().get_template("subject.txt.j2").render(_CONTEXT) == "S\n"
    assert compiled == ["subject.txt.j2"] * 3
    shutil.rmtree(cache)
    monkeypatch.setattr(render, "TemplateCache", _unsafe)
    assert render.template_cache() is None  # another user's folder: no cache, no error
    assert _fresh().get_template("subject.txt.j2").render(_CONTEXT) == "S\n"


def _unsafe() -> None:
    raise RuntimeError("The cache directory is not safe")


_CONTEXT = {"subject": "S"}
