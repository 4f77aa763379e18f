"""A stand-in for the bank's side of the demo: yesterday's promises, and the payments file.

Nothing here is Cadencia's logic; it plays the creditor. Its behaviour is
stated so a reader of the demo's numbers knows where they come from:

- **Yesterday's promises** (from the bank's previous collections system, handed
  over through the ledger interchange): for a share of the portfolio, a
  conversation and a promise of the minimum due, some already past their
  grace period (those the next plan follows up when unpaid).
- **The payments file** after a day: a debtor pays the minimum due with a
  probability that depends on how Cadencia reached them that day: a
  conversation with an agent ``P_PAY[conversation]``, a reply to a message
  ``P_PAY[replied]``, a message only delivered ``P_PAY[delivered]``, not reached
  ``P_PAY_UNREACHED``; a pending promise is paid in full with probability
  ``P_KEEP``. Draws are seeded, so the demo's figures repeat.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS
from campaigns.storage.models import Account, Customer, Promise

# How a day's best contact with a debtor moves them to pay (their strongest one counts).
P_PAY = {"conversation": 0.35, "replied": 0.25, "delivered": 0.04}
P_PAY_UNREACHED = 0.02
P_KEEP = 0.6


def _accounts(engine: Engine, currency: str) -> list[tuple[str, str, str, Decimal]]:
    """(customer, account, currency, minimum due) of the open accounts in ``currency``."""
    with engine.connect() as conn:
        return [
            (str(c), str(a), str(cur), Decimal(due))
            for c, a, cur, due in conn.execute(
                sa.select(
                    Customer.external_id, Account.external_id, Account.currency, Account.minimum_due
                )
                .join(Account, Account.customer_id == Customer.id)
                .where(Account.status == "open", Account.currency == currency)
                .order_by(Account.id)
            )
        ]


def previous_system_history(
    engine: Engine,
    campaign: str,
    currency: str,
    day: dt.date,
    path: Path,
    *,
    share: float,
    seed: int,
) -> Path:
    """A ledger interchange file of promises taken before ``day`` by the bank's old system."""
    rng = random.Random(seed)
    lines = []
    for customer, account, _, due in _accounts(engine, currency):
        if due <= 0 or rng.random() >= share:
            continue
        taken = dt.datetime.combine(day - dt.timedelta(days=rng.choice((2, 6))), dt.time(15))
        at = taken.replace(tzinfo=dt.UTC)
        base = {
            "customer_id": customer,
            "debt_ids": [account],
            "channel": "voice",
            "campaign": campaign,
            "agent": "bank-legacy",
        }
        lines.append(
            {
                **base,
                "at": at.isoformat(),
                "direction": "outbound",
                "kind": "attempt",
                "outcome": "conversation",
                "duration_s": 240,
            }
        )
        lines.append(
            {
                **base,
                "at": (at + dt.timedelta(minutes=5)).isoformat(),
                "direction": "inbound",
                "kind": "promise",
                "until": (taken.date() + dt.timedelta(days=1)).isoformat(),
                "amount": f"{due:.2f}",
                "currency": currency,
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def payments_file(engine: Engine, currency: str, day: dt.date, path: Path, *, seed: int) -> Path:
    """The bank's payments of ``day`` in ``currency`` (the module docstring says who pays)."""
    rng = random.Random(seed)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    with engine.connect() as conn:
        best: dict[str, float] = {}
        for customer, outcome in conn.execute(
            sa.select(EVENTS.c.customer_id, EVENTS.c.outcome).where(
                EVENTS.c.kind == "attempt",
                EVENTS.c.outcome.in_(tuple(P_PAY)),
                EVENTS.c.at >= start,
                EVENTS.c.at < start + dt.timedelta(days=1),
            )
        ):
            best[str(customer)] = max(best.get(str(customer), 0.0), P_PAY[str(outcome)])
        promised = {
            (str(c), str(a)): Decimal(amount)
            for c, a, amount in conn.execute(
                sa.select(Customer.external_id, Account.external_id, Promise.amount)
                .join(Customer, Customer.id == Promise.customer_id)
                .join(Account, Account.id == Promise.account_id)
                .where(Promise.status == "pending")
            )
        }
    paid_at = dt.datetime.combine(day, dt.time(23)).replace(tzinfo=dt.UTC).isoformat()
    rows: list[tuple[str, str, str, str, str, str]] = []
    for customer, account, _, due in _accounts(engine, currency):
        promise = promised.get((customer, account))
        if promise is not None and rng.random() < P_KEEP:
            amount = promise
        elif rng.random() < best.get(customer, P_PAY_UNREACHED):
            amount = due
        else:
            continue
        if amount > 0:
            reference = f"BANK-{day:%Y%m%d}-{len(rows) + 1:06d}"
            rows.append((account, f"{amount:.2f}", currency, paid_at, reference, "bank"))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("account_id", "amount", "currency", "paid_at", "reference", "channel"))
        writer.writerows(rows)
    return path
