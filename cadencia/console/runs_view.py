"""The manager's run pages as people read them: formatted figures, labels, plain sentences.

The figures are the run report's (``campaigns.run.report``); its sections
(``summary``) and charts (``html.charts``) are reused as they are, so the
console and ``cadencia report --html`` never disagree. The words around them
are the console's, in the viewer's language; money goes through
``cadencia.console.i18n.money``.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal, format_percent

from cadencia.console.i18n import LOCALES, Msg, money, msg, translations
from cadencia.console.labels import label_of
from cadencia.console.report_view import CHART_TITLES, report_sections
from campaigns.run.report.html import ChartWords, charts

STATE_NOTES = {
    "planning": msg("The plan is being made (or its making stopped midway: resume it)."),
    "planned": msg("The plan is made; resume to release it (or to hold it for approval)."),
    "awaiting_approval": msg(
        "The plan waits for a manager's approval: nothing is sent until then."
    ),
    "approved": msg("Approved, not yet sent to the dialer and message queues: launch it."),
    "dispatching": msg("The plan is being sent to the queues (resume it if this lasts)."),
    "executing": msg(
        "Calls and messages go out at their hours; resume re-sends lost jobs "
        "and closes the day once it is over."
    ),
    "closed": msg("The day is over and its results are final."),
    "cancelled": msg("Cancelled before dispatch: nothing of this plan was sent."),
}
GLOSSARY = (
    (
        msg("Upper bound"),
        msg("the most any plan within today's capacity, budgets and rules could expect"),
    ),
    (msg("Gap"), msg("how far this plan's expected money is below that bound, in percent")),
    (
        msg("Shadow price"),
        msg("what one more agent-minute in that hour would add to the expected money"),
    ),
)
# Why the plan left a customer out: the class before the stored reason's colon
# (optimizer.explain, campaigns.run.planning, campaigns.run.claims).
LEFT_OUT_REASONS = {
    "no-attempts-left": msg("no attempt left today (contact limits)"),
    "compliance-blocked": msg("no channel or hour allowed by the rules (consent, local hours)"),
    "low-value": msg("a contact is worth less than it costs"),
    "priced-out": msg("the capacity it needs is worth more to other customers"),
    "no-room": msg("capacity ran out (first in line for any freed room)"),
    "holdout": msg("holdout: kept uncontacted to measure uplift"),
    "contacted": msg("contacted"),
    "unreachable": msg("no usable contact point (none on file, opted out, a wrong number)"),
    "callback": msg("asked for a callback: that call is the day's contact"),
    "preference": msg("no slot today falls in the hours the customer chose"),
}
ACTION_BUTTONS = {
    "approve": msg("Approve and launch"),
    "launch": msg("Launch"),
    "resume": msg("Resume"),
    "cancel": msg("Cancel run"),
}


def state_note(state: str) -> Msg | str:
    """What a run in ``state`` is doing, in one sentence."""
    return STATE_NOTES.get(state, state)


def left_out_reason(reason: str | None) -> tuple[Msg | str, str]:
    """A stored left-out reason as (its class in words, the planner's detail as stored)."""
    text = reason or ""
    if text.startswith("in campaign "):  # one plan a day (campaigns.run.claims)
        return msg("in another campaign's plan today (one plan per customer a day)"), text
    kind, _, detail = text.partition(":")
    if kind == "holdout":  # its label says it all
        return LEFT_OUT_REASONS[kind], ""
    if kind in LEFT_OUT_REASONS:
        return LEFT_OUT_REASONS[kind], detail.strip()
    return text, ""


def chart_words(language: str) -> ChartWords:
    """The charts' words in ``language``: texts, channels, outcomes and left-out reasons."""
    catalog = translations(language)

    def say(text: Msg | str) -> str:
        return text.translate(catalog) if isinstance(text, Msg) else str(text)

    def code(value: str) -> str:
        if value in LEFT_OUT_REASONS:
            return say(LEFT_OUT_REASONS[value])
        return say(label_of(value))

    return ChartWords(say=say, code=code)


def number(value: float | None, language: str, decimals: int = 0) -> str:
    """A number with the viewer's separators, or a dash."""
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=LOCALES[language])


def run_review(data: dict[str, Any], language: str) -> dict[str, Any]:
    """The plan review's parts: headline facts, report sections, glossary, charts, left out."""
    plan, currency = data["plan"], data["money"]["currency"]
    locale = LOCALES[language]
    gap = plan.get("gap_pct")
    return {
        "facts": [
            (msg("customers considered"), number(plan.get("customers"), language)),
            (msg("attempts planned"), number(plan.get("planned_attempts"), language)),
            (msg("expected money from the plan"), money(plan.get("objective"), currency, language)),
            (
                msg("gap to the upper bound"),
                "–" if gap is None else format_percent(gap / 100, "#,##0.00%", locale=locale),
            ),
            (msg("currency"), currency),
        ],
        "arms": [(label_of(a), number(n, language)) for a, n in data["arms"].items()],
        # The report's sections in the viewer's words (cadencia.console.report_view).
        "sections": report_sections(data, language),
        "glossary": GLOSSARY,
        "charts": (
            [(CHART_TITLES.get(t, t), png) for t, png in charts(data, chart_words(language))]
            if plan
            else []
        ),
        "left_out": [
            (left_out_reason(reason)[0], number(n, language))
            for reason, n in data["left_out"].items()
        ],
        "left_out_examples": [
            (e["customer_id"], *left_out_reason(e["reason"])) for e in data["left_out_examples"]
        ],
    }
