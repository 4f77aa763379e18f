"""The ledger invariants every fault test ends with, checked the way an auditor would.

After any fault the contact ledger must show:

* **no duplicate contact**: one outbound attempt per idempotency (plan) key,
  and, since every fault scenario plans each debtor at most once per channel,
  at most one attempt per customer and channel;
* **no orphan or contradictory outcome**: every outcome row resolves an
  existing attempt of the same customer and channel, written after it; a
  voice attempt has at most one outcome; a message attempt's outcomes only
  ever climb the ladder the jobs and the webhook receiver share
  (``campaigns.messaging.outcomes.RANK``: sent < delivered/failed/bounced < replied);
* **every pending attempt listed**: the attempts without an outcome are
  returned, so the test can require that each one is visibly pending (named
  by the job's report) rather than silently lost;
* **zero compliance findings**: ``campaigns.ledger.audit.violations``, the logic of
  ``cadencia audit violations``, re-judges every attempt and finds nothing;
* **the hash chain verifies** (``campaigns.ledger.chain.verify``).

The checks read the database only; they never touch the code under test.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.audit import violations
from campaigns.ledger.chain import EVENTS, verify
from campaigns.messaging.outcomes import RANK, regresses


@dataclass(frozen=True)
class LedgerState:
    """What the ledger holds after a fault: attempts, their outcomes, the pending ones."""

    attempts: dict[int, Any]  # attempt id -> row
    outcomes: dict[int, list[Any]]  # attempt id -> its outcome rows, in id order
    pending: frozenset[int]  # attempts with no outcome at all
    audited: int  # attempts ``violations`` re-judged

    def latest(self, attempt_id: int) -> str | None:
        """The newest outcome of an attempt (what compliance reads), or None."""
        rows = self.outcomes.get(attempt_id)
        return str(rows[-1].outcome) if rows else None


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)))


def check_ledger(
    engine: Engine,
    *,
    visibly_pending: Iterable[int] | None = None,
    one_per_customer_channel: bool = True,
) -> LedgerState:
    """Assert every invariant above; returns the ledger's state for test-specific checks.

    ``visibly_pending``: the attempts the code under test reported as left
    pending (a dial session's ``left_pending``, a batch's ``ambiguous``).
    When given, every attempt without an outcome must be among them: an
    attempt that is pending and named by nobody is a lost outcome.
    """
    rows = _rows(engine)
    attempts = {
        int(r.id): r
        for r in rows
        if r.kind == "attempt" and r.resolves_id is None and r.direction == "outbound"
    }

    keys = collections.Counter(r.idempotency_key for r in attempts.values() if r.idempotency_key)
    twice = {k: n for k, n in keys.items() if n > 1}
    assert not twice, f"attempts reserved twice under one key: {twice}"
    assert all(r.idempotency_key for r in attempts.values()), "an attempt without its plan key"
    if one_per_customer_channel:
        contacts = collections.Counter((r.customer_id, r.channel) for r in attempts.values())
        doubled = {c: n for c, n in contacts.items() if n > 1}
        assert not doubled, f"a debtor was contacted twice on one channel: {doubled}"

    outcomes: dict[int, list[Any]] = collections.defaultdict(list)
    for r in rows:
        if r.resolves_id is None:
            continue
        assert r.kind == "attempt", f"row {r.id} ({r.kind}) resolves an attempt"
        target = attempts.get(int(r.resolves_id))
        assert target is not None, f"outcome {r.id} resolves {r.resolves_id}, not an attempt"
        assert (r.customer_id, r.channel) == (target.customer_id, target.channel), (
            f"outcome {r.id} is about {r.customer_id}/{r.channel}, its attempt "
            f"{target.id} about {target.customer_id}/{target.channel}"
        )
        assert r.id > target.id, f"outcome {r.id} was written before its attempt {target.id}"
        assert r.status == "final" and r.outcome, f"outcome row {r.id} has no final outcome"
        outcomes[int(r.resolves_id)].append(r)

    for attempt_id, settled in outcomes.items():
        names = [str(o.outcome) for o in settled]
        if attempts[attempt_id].channel == "voice":
            assert len(names) == 1, f"voice attempt {attempt_id} has outcomes {names}"
            continue
        for before, after in itertools.pairwise(names):
            assert after in RANK and not regresses(before, after), (
                f"attempt {attempt_id} went {before} -> {after}: outcomes never regress"
            )

    pending = frozenset(a for a in attempts if a not in outcomes)
    for attempt_id in pending:
        assert attempts[attempt_id].status == "pending", f"attempt {attempt_id} is not pending"
    if visibly_pending is not None:
        lost = pending - set(visibly_pending)
        assert not lost, f"attempts pending without being reported: {sorted(lost)}"

    audited = 0
    if attempts:
        instants = [r.at for r in attempts.values()]
        since = min(instants) - dt.timedelta(seconds=1)
        until = max(instants) + dt.timedelta(seconds=1)
        audited, findings = violations(engine, since, until)
        assert audited == len(attempts), (audited, len(attempts))
        assert findings == [], [f.as_dict() for f in findings]

    chain = verify(engine)
    assert chain.ok, chain.as_dict()
    assert chain.events == len(rows)
    return LedgerState(attempts, dict(outcomes), pending, audited)
