"""The order in which a poll hands its bodies to the parse pool (a pure decision).

With two workers and the bodies submitted in config order, the largest file (1.6 MB of the
benchmark's 4.9 MB) could be the last one handed out, and one worker then parses it alone
while the other waits. Longest first (the LPT rule for scheduling independent jobs on
identical machines) lets the small bodies fill in around the large ones. The size of a body
stands for its parse cost; the results are stored in config order whatever the order here.
"""

from __future__ import annotations

from collections.abc import Sequence


def parse_order(sizes: Sequence[int]) -> list[int]:
    """The indices of ``sizes`` (bytes to parse, one per body), largest first; equal sizes
    keep their given order. ``parse_order([3, 9, 3]) == [1, 0, 2]``."""
    return sorted(range(len(sizes)), key=lambda i: -sizes[i])
