"""The offer engine's rules (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from campaigns.campaign import Offers, Plan, SegmentOffers
from campaigns.portal.offers import Debt, discount_for, propose

TODAY = dt.date(2026, 11, 24)
OFFERS = Offers(
    settlement_discount=(0.10, 0.30),
    settlement_min_days_past_due=90,
    plans=(
        Plan(instalments=3, min_down_payment=0.2, min_instalment=50_000),
        Plan(instalments=6, min_down_payment=0.1, min_instalment=80_000),
    ),
    promise_window_days=30,
    down_payment_days=3,
)


def debts(*rows: tuple[str, str, str, int]) -> list[Debt]:
    return [Debt(a, Decimal(b), c, d) for a, b, c, d in rows]


def test_every_debt_in_the_currency_counts_toward_one_total() -> None:
    found = propose(
        debts(
            ("A2", "800000", "COP", 30), ("A1", "1500000.50", "COP", 45), ("U1", "90", "USD", 400)
        ),
        OFFERS,
        "COP",
        TODAY,
    )
    assert found.total == Decimal("2300000.50") and found.debt_ids == ("A1", "A2")
    assert found.settlement is None  # 45 days past due: below the settlement threshold


def test_a_plan_is_a_down_payment_then_equal_instalments_a_month_apart() -> None:
    found = propose(debts(("A1", "2300000.50", "COP", 45)), OFFERS, "COP", TODAY)
    three = next(p for p in found.plans if p.key == "plan-3")
    assert [i.amount for i in three.instalments] == [
        Decimal("460000.10"),
        Decimal("920000.20"),
        Decimal("920000.20"),
    ]
    assert sum(i.amount for i in three.instalments) == found.total
    assert [i.due_on for i in three.instalments] == [
        dt.date(2026, 11, 27),
        dt.date(2026, 12, 27),
        dt.date(2027, 1, 26),
    ]
    six = next(p for p in found.plans if p.key == "plan-6")
    assert len(six.instalments) == 6 and sum(i.amount for i in six.instalments) == found.total


def test_the_last_instalment_takes_the_rounding_and_nothing_is_rounded_away() -> None:
    found = propose(debts(("A1", "1000000.01", "COP", 10)), OFFERS, "COP", TODAY)
    three = next(p for p in found.plans if p.key == "plan-3")
    amounts = [i.amount for i in three.instalments]
    assert amounts[0] == Decimal("200000.01")  # 20 %, rounded up
    assert amounts[1] <= amounts[2] and sum(amounts) == Decimal("1000000.01")


def test_a_customer_owing_too_little_for_the_minimum_instalment_gets_no_such_plan() -> None:
    # 6 payments of 300,000 total: 5 × 54,000 < 80,000 minimum; 3 payments: 2 × 120,000 ≥ 50,000.
    found = propose(debts(("A1", "300000", "COP", 10)), OFFERS, "COP", TODAY)
    assert [p.key for p in found.plans] == ["plan-3"]
    tiny = propose(debts(("A1", "100000", "COP", 10)), OFFERS, "COP", TODAY)
    assert tiny.plans == ()


def test_the_settlement_discount_rises_with_delinquency_within_its_range() -> None:
    assert discount_for(OFFERS, 89) == 0
    assert discount_for(OFFERS, 90) == Decimal("0.10")
    assert discount_for(OFFERS, 180) == Decimal("0.20")
    assert discount_for(OFFERS, 270) == Decimal("0.30")
    assert discount_for(OFFERS, 5000) == Decimal("0.30")  # never past the high end
    found = propose(debts(("A1", "1000000", "COP", 180)), OFFERS, "COP", TODAY)
    assert found.settlement is not None
    assert found.settlement.amount == Decimal("800000.00")
    assert found.settlement.pay_by == TODAY + dt.timedelta(days=30)


def test_no_debt_in_the_currency_means_no_offer() -> None:
    found = propose(debts(("U1", "900", "USD", 200)), OFFERS, "COP", TODAY)
    assert found.plans == () and found.settlement is None and found.total == 0
    assert propose([], Offers(), "COP", TODAY).plans == ()


def test_a_segment_has_its_own_terms_where_it_sets_them() -> None:
    """Negotiation criteria by segment: a late, low-score debtor may get a deeper settlement."""
    offers = OFFERS.model_copy(
        update={
            "segments": {
                "late-low": SegmentOffers(settlement_discount=(0.2, 0.45), promise_window_days=45)
            }
        }
    )
    late = offers.for_segment("late-low")
    assert late.settlement_discount == (0.2, 0.45) and late.promise_window_days == 45
    assert late.plans == OFFERS.plans and late.segments == {}  # the rest is the campaign's
    assert offers.for_segment("early-high") == OFFERS  # a segment without terms of its own
    assert offers.for_segment(None) == OFFERS
    owed = debts(("A1", "1000000", "COP", 120))
    assert propose(owed, late, "COP", TODAY).settlement is not None
    deeper = propose(owed, late, "COP", TODAY).settlement
    usual = propose(owed, OFFERS, "COP", TODAY).settlement
    assert deeper is not None and usual is not None and deeper.discount > usual.discount
    with pytest.raises(ValidationError, match="segment late-low"):
        Offers(segments={"late-low": SegmentOffers(settlement_discount=(0.5, 0.2))})
