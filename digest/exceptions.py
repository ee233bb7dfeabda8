"""The errors digest raises, all under one root.

::

    DigestError
    ├── ConfigError          config.yaml is missing, malformed or invalid (key path in message)
    ├── SourceError          one source failed; carries ``source`` (its name)
    │   ├── FetchError       the bytes could not be had (network, HTTP status, size, path)
    │   │   └── NotModified  conditional GET answered 304 (not a failure; nothing new)
    │   └── ParseError       the bytes are not a feed we can read (``not a feed`` included)
    ├── StoreError           the database refused an operation
    │   ├── DatabaseFileError  the SQLite file is empty, unreadable or foreign (digest.dbfile)
    │   └── DatabaseFullError  no room for a write: SQLite's full disk, PostgreSQL 53100/53200 (digest.dbfile)
    ├── RenderError          a template or the MJML/CSS step failed; carries ``list_name``
    ├── EditionExists        an edition for this (list, period) was already built
    └── DeliveryError        a transport or the ledger failed; carries ``recipient`` when known

In batch work (polling many sources, sending to many subscribers) a per-item failure is
caught by the pipeline and becomes a value in the run report; only errors that make the whole
run meaningless (a bad config, an unreachable database) propagate to the CLI.
"""

from __future__ import annotations


class DigestError(Exception):
    """Root of every error digest raises on purpose."""


class ConfigError(DigestError):
    """The configuration is invalid. The message names the key path and what was expected."""


class SourceError(DigestError):
    """One source failed. ``source`` is the source's name (or the URL/path for ad-hoc use)."""

    def __init__(self, source: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message
        self.status = status


class FetchError(SourceError):
    """The feed's bytes could not be obtained (network error, HTTP error status, size cap)."""


class NotModified(FetchError):
    """A conditional GET answered 304 Not Modified: nothing new, and nothing failed."""


class ParseError(SourceError):
    """The bytes are not a feed digest can read (including an HTML page where a feed should be)."""


class StoreError(DigestError):
    """The database refused an operation."""


class RenderError(DigestError):
    """A template, the MJML compiler or the CSS inliner failed for ``list_name``."""

    def __init__(self, list_name: str, message: str) -> None:
        super().__init__(f"{list_name}: {message}")
        self.list_name = list_name


class EditionExists(DigestError):
    """An edition for this (list, period) exists already; editions are unique per period."""

    def __init__(self, list_name: str, period: str) -> None:
        super().__init__(f"edition {list_name}/{period} already exists")
        self.list_name = list_name
        self.period = period


class DeliveryError(DigestError):
    """A transport or the delivery ledger failed. ``recipient`` names the address when known."""

    def __init__(self, message: str, *, recipient: str | None = None) -> None:
        super().__init__(f"{recipient}: {message}" if recipient else message)
        self.recipient = recipient
