"""Login throttling per client address: a pure decision and the small state it reads.

An address may fail ``attempts`` logins within ``window``; while that many failures lie
inside the window, further attempts are refused without checking the token, until the oldest
of them has aged out (the answer is 429 with ``Retry-After``, RFC 6585). A successful login
forgets the address's failures. The state lives in the ``digest web`` process (one process
serves the editor); restarting it forgets every failure.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    """``attempts`` failed logins allowed per address within ``window``."""

    attempts: int = 5
    window: timedelta = timedelta(minutes=15)


def wait_before_next(failures: tuple[datetime, ...], now: datetime, policy: ThrottlePolicy) -> float:
    """Seconds an address must wait before its next login attempt (0.0: it may try now).

    ``failures`` are the times of its failed attempts, oldest first (aware datetimes).
    """
    recent = [t for t in failures if now - t < policy.window]
    if len(recent) < policy.attempts:
        return 0.0
    oldest_counted = recent[len(recent) - policy.attempts]
    return max(0.0, (oldest_counted + policy.window - now).total_seconds())


class LoginThrottle:
    """The failed-login times per client address, bounded to ``max_addresses`` addresses
    (the least recently failing is forgotten first), read through :func:`wait_before_next`."""

    def __init__(self, policy: ThrottlePolicy, *, max_addresses: int = 10_000) -> None:
        self.policy = policy
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, tuple[datetime, ...]] = OrderedDict()

    def wait(self, address: str, now: datetime) -> float:
        """Seconds ``address`` must wait before it may try again (0.0: now)."""
        return wait_before_next(self._failures.get(address, ()), now, self.policy)

    def failed(self, address: str, now: datetime) -> None:
        """Record a failed attempt of ``address`` at ``now``."""
        kept = tuple(t for t in self._failures.pop(address, ()) if now - t < self.policy.window)
        self._failures[address] = (*kept, now)[-self.policy.attempts :]
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address`` (it knew the token)."""
        self._failures.pop(address, None)


__all__ = ["LoginThrottle", "ThrottlePolicy", "wait_before_next"]
