"""The manager's run pages as people read them: formatted figures, labels, plain sentences.

The figures are the run report's (``campaigns.run.report``); its sections
(``summary``) and charts (``html.charts``) are reused as they are, so the
console and ``cadencia report --html`` never disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup

from campaigns.run.report.html import charts
from campaigns.run.report.summary import (
    ARM_NAMES,
    agents_section,
    count,
    execution_section,
    money,
    money_section,
    optimizer_section,
    plan_section,
)

STATE_NOTES = {
    "planning": "The plan is being made (or its making stopped midway: resume it).",
    "planned": "The plan is made; resume to release it (or to hold it for approval).",
    "awaiting_approval": "The plan waits for a manager's approval: nothing is sent until then.",
    "approved": "Approved, not yet sent to the dialer and message queues: launch it.",
    "dispatching": "The plan is being sent to the queues (resume it if this lasts).",
    "executing": "Calls and messages go out at their hours; resume re-sends lost jobs "
    "and closes the day once it is over.",
    "closed": "The day is over and its results are final.",
    "cancelled": "Cancelled before dispatch: nothing of this plan was sent.",
}
GLOSSARY = (
    ("Upper bound", "the most any plan within today's capacity, budgets and rules could expect"),
    ("Gap", "how far this plan's expected money is below that bound, in percent"),
    (
        "Shadow price",
        "what one more agent-minute in that hour would add to the expected money",
    ),
)


def day_label(day: dt.date | str) -> str:
    """``Tue 24 Nov 2026`` for a date or its ISO text."""
    value = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return value.strftime("%a %d %b %Y")


def state_note(state: str) -> str:
    """What a run in ``state`` is doing, in one sentence."""
    return STATE_NOTES.get(state, state)


def run_line(run: dict[str, Any]) -> dict[str, Any]:
    """One line of the runs list (``campaigns.run.listing.list_runs``), formatted."""
    channels = ", ".join(f"{c} {count(n)}" for c, n in run["by_channel"].items() if n)
    collected = "not sent yet"
    if run["money"] is not None:
        currency = run["money"]["currency"]
        collected = "; ".join(
            f"{arm} {money(amount, currency)}" for arm, amount in run["money"]["arms"].items()
        )
    return {
        **run,
        "day_label": day_label(run["day"]),
        "customers_text": count(run["customers"]),
        "attempts_text": count(run["planned_attempts"]),
        "channels_text": channels or "–",
        "collected_text": collected,
    }


def run_review(data: dict[str, Any]) -> dict[str, Any]:
    """The plan review's parts: headline facts, report sections, glossary, charts, left out."""
    plan, currency = data["plan"], data["money"]["currency"]
    sections = (money_section, plan_section, agents_section, execution_section, optimizer_section)
    return {
        "day_label": day_label(data["run"]["day"]),
        "facts": [
            ("customers considered", count(plan.get("customers"))),
            ("attempts planned", count(plan.get("planned_attempts"))),
            ("expected money from the plan", money(plan.get("objective"), currency)),
            ("gap to the upper bound", f"{plan['gap_pct']:.2f}%" if "gap_pct" in plan else "–"),
            ("currency", currency),
        ],
        "arms": [(ARM_NAMES.get(a, a), count(n)) for a, n in data["arms"].items()],
        # The sections escape every value themselves (campaigns.run.report.summary.table).
        "sections": Markup("".join(section(data) for section in sections)),
        "glossary": GLOSSARY,
        "charts": charts(data) if data["plan"] else [],
        "left_out": [(reason, count(n)) for reason, n in data["left_out"].items()],
        "left_out_examples": data["left_out_examples"],
    }
