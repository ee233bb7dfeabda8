"""The order in which a poll hands its bodies to the parse pool (a pure decision).

With two workers and the bodies submitted in config order, the largest file (1.6 MB of the
benchmark's 4.9 MB) could be the last one handed out, and one worker then parses it alone
while the other waits. Longest first (the LPT rule for scheduling independent jobs on
identical machines) lets the small bodies fill in around the large ones. The size of a body
stands for its parse cost; the results are stored in config order whatever the order here.

chardet's first detection in a process loads its models and the codecs it tries (about
0.07 s of CPU, later ones take about 4 ms). The bodies it may be asked about (neither ASCII
nor UTF-8, :func:`digest.encoding.may_detect`) are few and small, so largest first handed
them out last, and the two workers took one each: both loaded the models (the benchmark's two
undeclared non-UTF-8 files, every time in 4 runs). Handed out right after the ``workers``
largest bodies instead, they go to the first worker to finish its large body, one after
another, while the others still parse theirs: the models are loaded once.
"""

from __future__ import annotations

from collections.abc import Sequence


def parse_order(
    sizes: Sequence[int], detect: Sequence[bool] = (), *, workers: int = 2
) -> list[int]:
    """The indices of ``sizes`` (bytes to parse, one per body), largest first; equal sizes
    keep their given order. ``parse_order([3, 9, 3]) == [1, 0, 2]``.

    ``detect`` (one flag per body, or empty): the bodies chardet may be asked about. When
    two or more are, they follow the ``workers`` largest of the others, largest first, and
    the rest follow them: ``parse_order([5, 9, 1, 2, 7], [False, False, True, True, False],
    workers=2) == [1, 4, 3, 2, 0]``."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    flagged = [i for i in order if i < len(detect) and detect[i]]
    if len(flagged) < 2:
        return order
    others = [i for i in order if not (i < len(detect) and detect[i])]
    return others[:workers] + flagged + others[workers:]
