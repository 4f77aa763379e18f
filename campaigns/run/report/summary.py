"""The run report's summary as a manager reads it: labelled numbers and small tables.

Every figure is written out (thousands separators, money with its currency,
shares as percentages) and every term a manager may not know is explained
where it appears. Nothing here prints a Python dict or raw JSON.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from channels import format_money

# Currencies whose countries write 1.234.567,89 (Colombia, Chile, Peru, Argentina, Brazil).
DECIMAL_COMMA = frozenset({"COP", "CLP", "PEN", "ARS", "BRL", "EUR"})
ARM_NAMES = {
    "optimised": "optimised (Cadencia's plan)",
    "challenger": "challenger (rule-based strategy)",
    "holdout": "holdout (no contact)",
}


def money(amount: float | None, currency: str) -> str:
    """An amount as the currency's countries write it, or a dash."""
    if amount is None:
        return "–"
    return format_money(Decimal(str(amount)), currency, decimal_comma=currency in DECIMAL_COMMA)


def count(value: float | None) -> str:
    """A whole number with thousands separators, or a dash."""
    return "–" if value is None else f"{value:,.0f}"


def share(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole``."""
    return "–" if not whole else f"{100 * part / whole:.1f}%"


def table(head: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An HTML table; every cell escaped."""
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    top = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table>{cap}<tr>{top}</tr>{body}</table>"


def plan_section(data: dict[str, Any]) -> str:
    """Customers and attempts planned, and what became of them, per channel."""
    plan = data["plan"]
    planned = {c: sum(v) for c, v in data["planned_per_slot"].items()}
    made = {c: sum(v) for c, v in data["actual_per_slot"].items()}
    rows = [
        (c, count(planned[c]), count(made.get(c, 0)), share(made.get(c, 0), planned[c]))
        for c in planned
    ]
    total_planned, total_made = sum(planned.values()), sum(made.values())
    rows.append(("all", count(total_planned), count(total_made), share(total_made, total_planned)))
    facts = [
        ("customers in the campaign today", count(plan.get("customers"))),
        ("customers planned as follow-ups of a broken promise", count(plan.get("follow_ups", 0))),
        ("customers outside the campaign's segment", count(plan.get("excluded"))),
    ]
    shared = plan.get("one_plan_a_day") or {}
    for other, n in sorted((shared.get("left_to_by_campaign") or {}).items()):
        facts.append((f"customers left to campaign {other}'s plan (one plan a day)", count(n)))
    taken = sum((shared.get("taken_from_other_runs") or {}).values())
    if taken:
        facts.append(("customers taken over from lower-priority campaigns' plans", count(taken)))
    return (
        "<h2>Plan and execution</h2>"
        + table(("", ""), facts)
        + table(
            ("channel", "attempts planned", "attempts made", "share of plan made"),
            rows,
            "An attempt not made was still pending, dropped at its slot's end, or refused "
            "by the rules at the moment of contact.",
        )
    )


def optimizer_section(data: dict[str, Any]) -> str:
    """The plan's expected value and how close it is to the best possible."""
    plan = data["plan"]
    currency = data["money"]["currency"]
    rows = [
        ("expected money from the plan", money(plan.get("objective"), currency)),
        (
            "best any plan could expect (proven upper bound)",
            money(plan.get("upper_bound"), currency),
        ),
        ("gap to that bound", f"{plan.get('gap_pct', 0):.2f}%"),
    ]
    return (
        "<h2>How good the plan is</h2>"
        + table(("", ""), rows)
        + "<p>The optimizer proves that no plan within today's agent capacity, budgets and "
        "contact rules could expect more than the upper bound; the gap is how far this plan "
        "is from it. Expectations come from the learned rates; what was really collected is "
        "below, from recorded payments.</p>"
    )


def _uplift_sentence(name: str, found: dict[str, float] | None, currency: str) -> str:
    against = ARM_NAMES[name.removeprefix("vs_")]
    if found is None:
        return f"Against the {against}: too few customers in an arm to tell."
    low, high, diff = found["ci95_low"], found["ci95_high"], found["difference"]
    verdict = (
        "the optimised arm did better"
        if low > 0
        else "the optimised arm did worse"
        if high < 0
        else "no difference can be told apart from chance yet"
    )
    return (
        f"Against the {against}: {money(diff, currency)} per customer "
        f"(95% interval {money(low, currency)} to {money(high, currency)}): {verdict}."
    )


def money_section(data: dict[str, Any]) -> str:
    """Money collected per arm, from recorded payments, and the uplift with its interval."""
    found = data["money"]
    currency = found["currency"]
    rows = [
        (
            ARM_NAMES[arm],
            count(f["customers"]),
            count(f["payers"]),
            money(f["collected"], currency),
            money(f["per_customer"], currency),
        )
        for arm, f in found["arms"].items()
        if f["customers"]
    ]
    sentences = "".join(
        f"<li>{html.escape(_uplift_sentence(name, u, currency))}</li>"
        for name, u in found["uplift_per_customer"].items()
    )
    return (
        "<h2>Money collected per arm</h2>"
        + table(
            ("arm", "customers", "customers who paid", "collected", "per customer"),
            rows,
            f"Payments recorded from {found['from'][:10]} to {found['until'][:10]} "
            "(the campaign's attribution window).",
        )
        + f"<ul>{sentences}</ul>"
    )


def agents_section(data: dict[str, Any]) -> str:
    """Per agent: talk time, conversations, promises taken and kept, money attributed."""
    rows = [
        (
            a["agent"],
            f"{a['talk_minutes']:,.1f}",
            count(a["conversations"]),
            count(a["promises"]),
            count(a["promises_kept"]),
            ", ".join(money(v, c) for c, v in a["collected"].items()) or "–",
        )
        for a in data.get("agents", [])
    ]
    if not rows:
        return "<h2>Agents</h2><p>No agent talked to a debtor in this campaign that day.</p>"
    return "<h2>Agents</h2>" + table(
        ("agent", "talk minutes", "conversations", "promises", "kept", "money attributed"),
        rows,
        "Money is attributed to the agent of the latest conversation before each payment.",
    )


def execution_section(data: dict[str, Any]) -> str:
    """Outcomes per channel and the abandoned-call rate against the legal target."""
    rows = [
        (channel, ", ".join(f"{outcome}: {count(n)}" for outcome, n in sorted(outcomes.items())))
        for channel, outcomes in data["outcomes"].items()
    ]
    abandon, limit = data["abandon_pct"], data["abandon_target_pct"]
    line = (
        "No live answer yet, so no abandoned-call rate."
        if abandon is None
        else f"Abandoned calls: {abandon:.2f}% of live answers (limit {limit:.1f}%)."
    )
    return (
        "<h2>Outcomes</h2>" + table(("channel", "outcomes"), rows) + f"<p>{html.escape(line)}</p>"
    )


def inbound_section(data: dict[str, Any]) -> str:
    """The run's customers who called the company: answered, by their owner, abandoned."""
    days = data.get("inbound", [])
    if not days:
        return "<h2>Inbound calls</h2><p>None of this run's customers called the company.</p>"
    rows = [
        (
            d["day"],
            count(d["calls"]),
            count(d["answered"]),
            share(d["by_owner"], d["answered"]),
            count(d["abandoned"]),
            "–" if d["abandon_share"] is None else f"{100 * d['abandon_share']:.1f}%",
        )
        for d in days
    ]
    return "<h2>Inbound calls</h2>" + table(
        ("day", "calls", "answered", "by the owner", "abandoned", "abandoned share"),
        rows,
        "Callers who hung up waiting are counted here, not in the dialer's abandoned-call rate.",
    )
