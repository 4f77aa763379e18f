"""The learning loop: right-party rates move from the campaign's priors toward the ledger's data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.ledger.interchange import import_events
from campaigns.run.model import learned_model
from campaigns.storage.db import make_engine, migrate
from compliance import Event
from tests.run.test_planning import EXAMPLES, NOW, load_generated


def test_many_conversations_raise_the_learned_voice_rate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    migrate(url)
    load_generated(url, 200, ("CO",))
    campaign = load_campaign(EXAMPLES / "co-tarjetas.toml")
    engine = make_engine(url)
    before = learned_model(engine, campaign, now=NOW)
    segment = before["cells"][0]["segment"]
    with engine.connect() as conn:
        from campaigns.run.inputs import load_slice

        frame = load_slice(conn, campaign).customers
    members = list(frame[frame["segment"] == segment]["customer_id"])
    start = NOW - dt.timedelta(days=20)
    events = [
        Event(
            at=start + dt.timedelta(days=d, hours=(k % 5)),
            customer_id=cid,
            debt_ids=(),
            channel="voice",
            direction="outbound",
            kind="attempt",
            outcome="conversation" if k % 10 < 8 else "no_answer",
        )
        for k, cid in enumerate(members)
        for d in range(10)
    ]
    import_events(engine, events, now=NOW)
    after = learned_model(engine, campaign, now=NOW)
    engine.dispose()

    def voice(model: dict[str, object]) -> dict[str, object]:
        cells = model["cells"]
        assert isinstance(cells, list)
        return next(c for c in cells if c["segment"] == segment and c["channel"] == "voice")

    assert voice(before)["attempts"] == 0
    learned = voice(after)
    assert learned["attempts"] == len(events)
    assert learned["raw_rpc_rate"] == round(
        sum(e.outcome == "conversation" for e in events) / len(events), 4
    )
    prior_mean = voice(before)["learned_rpc_rate_mean_over_hours"]
    assert isinstance(prior_mean, float) and isinstance(
        learned["learned_rpc_rate_mean_over_hours"], float
    )
    assert learned["learned_rpc_rate_mean_over_hours"] > prior_mean


@pytest.mark.parametrize("paid_off", [False, True], ids=["still-owing", "paid-off-and-left"])
def test_kept_promises_raise_the_learned_pay_rate_and_pending_ones_count_neither_way(
    tmp_path: Path, paid_off: bool
) -> None:
    """Promises taken in conversations, then kept by recorded payments, teach the model.

    ``paid-off-and-left``: the payers clear every account, leave the campaign's
    slice, and still count: learning only from who still owes would read
    the kept rate as zero.
    """
    from campaigns.ledger.interchange import PromiseTerms
    from campaigns.payments.file import PaymentRecord
    from campaigns.payments.record import record_payments
    from campaigns.run.inputs import load_slice
    from campaigns.storage.models import Account, Customer

    url = f"sqlite:///{tmp_path}/m.db"
    migrate(url)
    load_generated(url, 200, ("CO",))
    campaign = load_campaign(EXAMPLES / "co-tarjetas.toml")
    engine = make_engine(url)
    with engine.connect() as conn:
        frame = load_slice(conn, campaign).customers
        segment = sorted(set(frame["segment"]))[0]
        members = list(frame[frame["segment"] == segment]["customer_id"])[:20]
        owed: dict[str, list[tuple[str, str, Decimal]]] = {}
        for c, a, cur, balance in conn.execute(
            sa.select(
                Customer.external_id, Account.external_id, Account.currency, Account.balance
            ).join(Account, Account.customer_id == Customer.id)
        ):
            owed.setdefault(str(c), []).append((str(a), str(cur), Decimal(balance)))
        accounts = {c: (rows[0][0], rows[0][1]) for c, rows in owed.items()}
    start = NOW - dt.timedelta(days=15)
    events, terms = [], {}
    for k, cid in enumerate(members):
        account, currency = accounts[cid]
        talked = start + dt.timedelta(hours=k)
        debt = (account,)
        events.append(
            Event(
                talked,
                cid,
                debt,
                "voice",
                "outbound",
                "attempt",
                "conversation",
                campaign="co-tarjetas",
            )
        )
        terms[len(events)] = PromiseTerms(Decimal("1000.00"), currency)
        until = (talked + dt.timedelta(days=3)).date()
        taken = talked + dt.timedelta(minutes=5)
        events.append(Event(taken, cid, debt, "voice", "inbound", "promise", until=until))
    import_events(engine, events, now=NOW, terms=terms)
    # Half the promises are paid in full; the grace period of all of them has passed.
    payments = [
        PaymentRecord(
            k,
            account,
            max(balance, Decimal("1000.00")) if paid_off else Decimal("1000.00"),
            currency,
            f"R{k}-{account}",
            paid_at=start + dt.timedelta(days=1, hours=k),
        )
        for k, cid in enumerate(members[:10])
        for account, currency, balance in (owed[cid] if paid_off else owed[cid][:1])
    ]
    record_payments(engine, payments, source="file", now=NOW)
    with engine.begin() as conn:
        from campaigns.payments.promises import settle_promises

        settle_promises(conn, now=NOW)
    model = learned_model(engine, campaign, now=NOW)
    with engine.connect() as conn:
        still_in = set(load_slice(conn, campaign).customers["customer_id"].astype(str))
    engine.dispose()
    if paid_off:
        assert still_in.isdisjoint(members[:10])
        assert model["departed_payers"] == 10
    voice = next(c for c in model["cells"] if c["segment"] == segment and c["channel"] == "voice")
    assert (voice["promises"], voice["settled_promises"], voice["kept_promises"]) == (20, 20, 10)
    assert voice["raw_kept_rate"] == 0.5
    assert voice["learned_pay_per_contact"] != voice["prior_pay_per_contact"]
