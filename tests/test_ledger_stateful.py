"""A stateful hypothesis test of the delivery ledger (``digest.deliver`` + ``digest.ledger_state``).

Hypothesis drives one edition's ledger through runs whose provider answers each message
``sent``, ``transient`` (retry later), ``bounce`` (5xx: the address is refused for good),
``rejected`` (failed, not the address's fault), ``unknown`` (the answer never came; the
provider may or may not have taken it); kills (the process dies at a hook point or in the
middle of the provider call, after or before the provider took the message); the operator's
``retry-unknown`` and ``retry-failed``; unsubscribes; the clock moving on. Both kinds of
transport are exercised: one that takes a batch at once (SendGrid) and one that reports each
message as it goes (SMTP).

After every step: nobody has received the edition more often than once plus the number of
times their row was re-queued from ``unknown`` (duplicates only from unknown outcomes); no
bounced address received anything after its bounce; a complete edition has no open row.
After the documented recovery (``retry-unknown``, ``retry-failed``, the provider back, runs
until complete) every active, unsuppressed subscriber has it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from digest.deliver import HOOK_POINTS, Ledger
from digest.ledger_state import OPEN_STATES, RetryPolicy, edition_complete
from digest.store import Store
from digest.transports import Outgoing, Progress
from digest.types import DeliveryState, SendOutcome, SubscriberStatus
from tests.deliver_helpers import NOW, compose, expire_leases, make_edition

ANSWERS = ("sent", "transient", "bounce", "rejected", "unknown-taken", "unknown-lost")
_STORE: Store | None = None
_LISTS = itertools.count()


def shared_store() -> Store:
    """The store of the running test (one per dialect, see the test at the end): every
    example uses it, each with a list and edition of its own."""
    assert _STORE is not None, "run through test_ledger_state_machine"
    return _STORE


class Killed(BaseException):
    """The process dies here: nothing after this line of the run happens."""


class Provider:
    """A provider stand-in: answers each message from ``script`` (cycled), records what it
    really took in ``taken``, and can die (``kill_at``: index in the call, and whether the
    message was taken first)."""

    name = "fake"

    def __init__(self, machine: LedgerMachine, reports_each: bool) -> None:
        self.machine = machine
        self.reports_each = reports_each
        self.script: list[str] = ["sent"]
        self.kill_at: tuple[int, bool] | None = None

    def send(self, batch: Sequence[Outgoing], progress: Progress | None = None) -> list[SendOutcome]:
        answers = itertools.cycle(self.script)
        out = []
        for i, item in enumerate(batch):
            if progress is not None:
                progress.attempting(item.delivery_id)
            if self.kill_at is not None and self.kill_at[0] == i:
                if self.kill_at[1]:
                    self.machine.took(item.recipient)
                raise Killed
            answer = next(answers)
            if answer in ("sent", "unknown-taken"):
                self.machine.took(item.recipient)
            state = {
                "sent": DeliveryState.SENT, "transient": DeliveryState.QUEUED,
                "bounce": DeliveryState.FAILED, "rejected": DeliveryState.FAILED,
                "unknown-taken": DeliveryState.UNKNOWN, "unknown-lost": DeliveryState.UNKNOWN,
            }[answer]
            outcome = SendOutcome(
                item.delivery_id, state, provider_id="p" if state == "sent" else None,
                error=None if state == "sent" else answer, bounced=answer == "bounce",
            )
            if progress is not None:
                progress.settled(outcome)
            out.append(outcome)
        return out

    def close(self) -> None:
        pass


class LedgerMachine(RuleBasedStateMachine):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.store = shared_store()
        self.now = NOW
        self.received: Counter[str] = Counter()
        self.requeued_unknown: Counter[str] = Counter()
        self.bounced: set[str] = set()
        self.violations: list[str] = []

    @initialize(n=st.integers(1, 7), reports_each=st.booleans())
    def setup(self, n: int, reports_each: bool) -> None:
        from digest.types import Subscriber

        self.list_name = f"l{next(_LISTS)}"
        # unique addresses per example: suppressions are global, so they must not leak
        self.subs = []
        for i in range(n):
            sub, _ = self.store.add_subscriber(
                Subscriber(list_name=self.list_name, email=f"u{i}@{self.list_name}.example"),
                now=NOW,
            )
            self.subs.append(sub)
        self.edition = make_edition(self.store, list_name=self.list_name, period="2026-02-18")
        self.provider = Provider(self, reports_each)
        self.kill_point: str | None = None
        self.ledger = Ledger(
            self.store, clock=lambda: self.now,
            retry=RetryPolicy(max_attempts=3, base_delay=timedelta(minutes=1)),
            _hook=self._hook,
        )
        self.ledger.queue(self.edition, self.subs)

    def took(self, email: str) -> None:
        if email in self.bounced:
            self.violations.append(f"{email} received after its bounce")
        self.received[email] += 1

    def _hook(self, point: str, ids: list[int]) -> None:
        if point == self.kill_point:
            raise Killed

    def _deliver(self, batch_size: int) -> None:
        before = {r.email for r in self.store.deliveries_in(self.edition, ["failed"])}
        try:
            self.ledger.deliver(
                self.edition, list_name=self.list_name, transport=self.provider, compose=compose,
                batch_size=batch_size, max_consecutive_failures=100,
            )
        except Killed:
            pass
        finally:
            self.kill_point = None
            self.provider.kill_at = None
        failed = self.store.deliveries_in(self.edition, ["failed"])
        for row in failed:
            if row.email not in before and self.store.is_suppressed(row.email, self.list_name):
                self.bounced.add(row.email)

    @rule(script=st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=4),
          batch_size=st.integers(1, 4))
    def run(self, script: list[str], batch_size: int) -> None:
        self.provider.script = script
        self._deliver(batch_size)

    @rule(point=st.sampled_from(HOOK_POINTS), batch_size=st.integers(1, 4))
    def killed_at_hook(self, point: str, batch_size: int) -> None:
        self.provider.script = ["sent"]
        self.kill_point = point
        self._deliver(batch_size)

    @rule(index=st.integers(0, 3), taken=st.booleans(), batch_size=st.integers(1, 4))
    def killed_in_provider_call(self, index: int, taken: bool, batch_size: int) -> None:
        # on PostgreSQL an earlier killed run's rows stay in flight until their lease expires
        earlier = {r.id for r in self.store.deliveries_in(self.edition, ["sending"])}
        self.provider.script = ["sent"]
        self.provider.kill_at = (index, taken)
        self._deliver(batch_size)
        sending = self.store.deliveries_in(self.edition, ["sending"])
        in_doubt = [r for r in sending if r.id not in earlier]
        if self.provider.reports_each:
            # outcomes are recorded as they happen: only the message in flight is in doubt
            assert len(in_doubt) <= 1

    @rule()
    def retry_unknown(self) -> None:
        # rows a killed run left in flight count as unknown: retry-unknown re-queues them too
        # (on PostgreSQL once their lease has expired); count what it did re-queue
        in_doubt = self.store.deliveries_in(self.edition, ["unknown", "sending"])
        before = {r.id: r.email for r in in_doubt}
        self.ledger.retry_unknown(self.edition)
        for row in self.store.deliveries_in(self.edition, ["queued"]):
            if row.id in before:
                self.requeued_unknown[row.email] += 1

    @rule()
    def retry_failed(self) -> None:
        self.ledger.retry_failed(self.edition)

    @rule(i=st.integers(0, 6))
    def unsubscribe(self, i: int) -> None:
        sub = self.subs[i % len(self.subs)]
        assert sub.id is not None
        self.store.set_subscriber_status(sub.id, SubscriberStatus.UNSUBSCRIBED, now=self.now)

    @rule(minutes=st.integers(1, 30))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)  # the ledger's clock: retries come due

    @rule()
    def leases_run_out(self) -> None:
        # the lease clock (the server's, not the ledger's) passes every lease: on PostgreSQL
        # the killed runs' rows come free (on SQLite they were: this process holds them)
        expire_leases(self.store)

    @invariant()
    def nobody_twice_except_after_an_unknown_outcome(self) -> None:
        if not hasattr(self, "subs"):
            return
        assert not self.violations, self.violations
        for email, n in self.received.items():
            assert n <= 1 + self.requeued_unknown[email], (email, n, self.requeued_unknown)

    @invariant()
    def complete_means_no_open_row(self) -> None:
        if not hasattr(self, "subs"):
            return
        counts = self.store.delivery_counts(self.edition)
        open_rows = sum(counts.get(s, 0) for s in OPEN_STATES)
        assert edition_complete(counts) == (open_rows == 0)
        assert (self.edition in {e.id for e in self.store.unfinished_editions()}) == (open_rows > 0)

    def teardown(self) -> None:
        if not hasattr(self, "subs"):
            return
        # the documented recovery: retry-unknown, retry-failed, the provider back, run; on
        # PostgreSQL (other workers may be alive) once the killed runs' leases have expired
        if self.store.engine.dialect.name == "postgresql":
            expire_leases(self.store)
        self.retry_unknown()
        self.retry_failed()
        self.provider.script = ["sent"]
        for _ in range(10):
            self._deliver(4)
            if edition_complete(self.store.delivery_counts(self.edition)):
                break
            self.now += timedelta(hours=3)
        assert edition_complete(self.store.delivery_counts(self.edition))
        self.nobody_twice_except_after_an_unknown_outcome()
        for sub in self.subs:
            fresh = self.store.subscriber_by_email(self.list_name, sub.email)
            assert fresh is not None
            eligible = fresh.status == SubscriberStatus.ACTIVE and not self.store.is_suppressed(
                sub.email, self.list_name
            )
            if eligible:
                assert self.received[sub.email] >= 1, f"{sub.email} never got the edition"
            if sub.email in self.bounced:
                assert fresh.status != SubscriberStatus.ACTIVE


# examples per dialect: PostgreSQL runs the same rules through the same store code with its
# own SQL and lease path, at several times the cost of a step (a round trip per statement)
EXAMPLES = {"sqlite": 80, "postgresql": 30}


def test_ledger_state_machine(db_url: str) -> None:
    """The machine on each dialect: one database for all its examples (opening one per
    example would cost a migration each)."""
    global _STORE
    with Store.open(db_url) as store:
        _STORE = store
        try:
            run_state_machine_as_test(LedgerMachine, settings=settings(
                max_examples=EXAMPLES[store.engine.dialect.name], stateful_step_count=20,
                deadline=None, suppress_health_check=[HealthCheck.too_slow],
            ))
        finally:
            _STORE = None
