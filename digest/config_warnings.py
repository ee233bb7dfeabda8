"""Warnings about a valid configuration that will still not work as the editor expects,
for ``digest config check``. Each is a short sentence naming the key path.

- ``site.base_url`` over plain ``http://``: Gmail and Yahoo honour one-click unsubscribe
  (RFC 8058) only for an https ``List-Unsubscribe`` URL, so their readers get no unsubscribe
  button; some clients also warn on every link.
- ``lists[i].topic_model`` whose labels do not match the list's topics: the classifier's
  label is used only when it names one of the list's topics (``digest.topics``), so a label
  outside them is never used and a topic without a label is never chosen by the model.
  A model that cannot be read is a warning too (the list would fail when built).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from digest.config import Config
from digest.exceptions import DigestError


def _model_labels(path: Path) -> Sequence[str]:
    from digest.topics import load_model

    return load_model(path).labels


def config_warnings(
    config: Config, *, model_labels: Callable[[Path], Sequence[str]] = _model_labels
) -> list[str]:
    """The warnings for ``config`` (see the module docstring), in config order; ``[]`` when
    there are none. ``model_labels(path)`` reads a topic model's labels; it may raise
    :class:`DigestError`, which becomes a warning."""
    warnings: list[str] = []
    if config.site.base.lower().startswith("http://"):
        warnings.append(
            f"site.base_url {config.site.base} is http://: Gmail's and Yahoo's one-click "
            "unsubscribe (RFC 8058) needs an https URL, so their readers get no unsubscribe button"
        )
    for index, lst in enumerate(config.lists):
        if lst.topic_model is None:
            continue
        key = f"lists[{index}].topic_model"
        try:
            labels = set(model_labels(Path(lst.topic_model)))
        except DigestError as exc:
            warnings.append(f"{key}: {exc}")
            continue
        topics = set(lst.topics)
        unused = sorted(labels - topics)
        missing = sorted(topics - labels)
        if unused:
            warnings.append(
                f"{key}: labels {', '.join(unused)} are not topics of list {lst.name} and are never used"
            )
        if missing:
            warnings.append(
                f"{key}: the model has no label for topics {', '.join(missing)} of list {lst.name}"
            )
    return warnings


__all__ = ["config_warnings"]
