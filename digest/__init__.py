"""digest: turn a day of news feeds into one email a person wants to read.

The data flow and the modules are described in DESIGN.md; the public values live in
:mod:`digest.types` and the errors in :mod:`digest.exceptions`.
"""

from __future__ import annotations

__version__ = "0.1.0"
