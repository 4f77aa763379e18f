"""The run report's sections in the console's words, in the viewer's language.

The figures are ``campaigns.run.report.data``'s, the same the CLI's report
(``campaigns.run.report.summary``) prints in English; here every heading,
label, caption and sentence is a ``msg`` translated for the viewer, every
number is written with the viewer's separators and every amount in the
run's currency (``cadencia.console.i18n.money``). A section is plain data
(``Section``) that ``run.html`` lays out; no cell is a Python repr.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass, field
from typing import Any

from babel.numbers import format_decimal, format_percent

from cadencia.console.i18n import LOCALES, Msg, day, money, msg, translations
from cadencia.console.labels import label_of

Cell = Msg | str


@dataclass
class Table:
    """A table: its head, rows of cells (a ``Msg`` is translated when shown) and a caption."""

    head: list[Cell]
    rows: list[list[Cell]]
    caption: Cell = ""


@dataclass
class Section:
    """One section of the report: a heading, labelled facts, tables and sentences."""

    title: Msg
    facts: list[tuple[Cell, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[Cell] = field(default_factory=list)


# What became of a planned contact (campaigns.run.report.data._tally's states).
EXECUTION_STATES: dict[str, Msg] = {
    "settled": msg("attempted, outcome recorded"),
    "pending": msg("attempted, outcome not yet known"),
    "not yet attempted": msg("not attempted yet (its hour has not come, or it waits in the queue)"),
    "dropped": msg(
        "dropped (its slot ended with no agent free, the day closed, or the run was cancelled)"
    ),
    "skipped": msg("skipped by an agent in preview"),
    "done": msg("done without an attempt on file"),
}
CHART_TITLES: dict[str, Msg] = {
    "Planned attempts per hour": msg("Planned attempts per hour"),
    "Shadow prices": msg("Shadow prices"),
    "Left out": msg("Left out"),
    "Plan vs actual": msg("Plan vs actual"),
    "Outcomes": msg("Outcomes"),
}


@dataclass(frozen=True)
class Writer:
    """Numbers, money and words as the viewer reads them."""

    language: str
    currency: str

    @property
    def catalog(self) -> gettext.NullTranslations:
        """The viewer's catalog (for texts put inside other texts)."""
        return translations(self.language)

    def say(self, text: Cell) -> str:
        """``text`` in the viewer's language."""
        return text.translate(self.catalog) if isinstance(text, Msg) else text

    def count(self, value: float | None, decimals: int = 0) -> str:
        """A number with the viewer's separators, or a dash."""
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=LOCALES[self.language])

    def share(self, part: float, whole: float) -> str:
        """``part`` as a percentage of ``whole``, or a dash."""
        if not whole:
            return "–"
        return format_percent(part / whole, "#,##0.0%", locale=LOCALES[self.language])

    def pct(self, value: float | None, decimals: int = 2) -> str:
        """A value already in percent, with its sign."""
        if value is None:
            return "–"
        pattern = "#,##0." + "0" * decimals + "%"
        return format_percent(value / 100, pattern, locale=LOCALES[self.language])

    def money(self, amount: Any, currency: str | None = None) -> str:
        """An amount in ``currency`` (the run's by default)."""
        return money(amount, currency or self.currency, self.language)


def _plan_facts(plan: dict[str, Any], w: Writer) -> list[tuple[Cell, str]]:
    """Who the campaign held today, and what the day's other plans took or left."""
    facts: list[tuple[Cell, str]] = [
        (msg("customers in the campaign today"), w.count(plan.get("customers"))),
        (
            msg("customers planned as follow-ups of a broken promise"),
            w.count(plan.get("follow_ups", 0)),
        ),
        (msg("customers outside the campaign's segment"), w.count(plan.get("excluded"))),
    ]
    shared = plan.get("one_plan_a_day") or {}
    for other, n in sorted((shared.get("left_to_by_campaign") or {}).items()):
        left_to = msg(
            "customers left to campaign %(campaign)s's plan (one plan a day)", campaign=other
        )
        facts.append((left_to, w.count(n)))
    taken = sum((shared.get("taken_from_other_runs") or {}).values())
    if taken:
        facts.append(
            (msg("customers taken over from lower-priority campaigns' plans"), w.count(taken))
        )
    return facts


def plan_section(data: dict[str, Any], w: Writer) -> Section:
    """Customers and attempts planned, and what became of them, per channel."""
    planned = {c: sum(v) for c, v in data["planned_per_slot"].items()}
    made = {c: sum(v) for c, v in data["actual_per_slot"].items()}
    rows: list[list[Cell]] = [
        [label_of(c), w.count(planned[c]), w.count(made.get(c, 0)), w.share(made.get(c, 0), n)]
        for c, n in planned.items()
    ]
    total, total_made = sum(planned.values()), sum(made.values())
    rows.append(
        [msg("all channels"), w.count(total), w.count(total_made), w.share(total_made, total)]
    )
    head: list[Cell] = [
        msg("channel"),
        msg("attempts planned"),
        msg("attempts made"),
        msg("share of plan made"),
    ]
    caption = msg(
        "An attempt not made was still pending, dropped at its slot's end, or refused "
        "by the rules at the moment of contact."
    )
    tables = [Table(head, rows, caption)]
    states: list[list[Cell]] = [
        [EXECUTION_STATES.get(s, label_of(s)), w.count(n)]
        for s, n in sorted(data.get("execution", {}).items())
    ]
    if states:
        why = msg("Why the plan and what was made differ.")
        tables.append(Table([msg("planned contacts"), msg("how many")], states, why))
    return Section(msg("Plan and execution"), _plan_facts(data["plan"], w), tables)


def optimizer_section(data: dict[str, Any], w: Writer) -> Section:
    """The plan's expected value and how close it is to the best possible."""
    plan = data["plan"]
    return Section(
        msg("How good the plan is"),
        [
            (msg("expected money from the plan"), w.money(plan.get("objective"))),
            (
                msg("best any plan could expect (proven upper bound)"),
                w.money(plan.get("upper_bound")),
            ),
            (msg("gap to that bound"), w.pct(plan.get("gap_pct", 0))),
        ],
        notes=[
            msg(
                "The optimizer proves that no plan within today's agent capacity, budgets and "
                "contact rules could expect more than the upper bound; the gap is how far this "
                "plan is from it. Expectations come from the learned rates; what was really "
                "collected is below, from recorded payments."
            )
        ],
    )


def uplift_sentence(name: str, found: dict[str, float] | None, w: Writer) -> Msg:
    """The optimised arm against another, in money per customer, with a plain verdict."""
    against = w.say(label_of(name.removeprefix("vs_")))
    if found is None:
        return msg("Against the %(arm)s: too few customers in an arm to tell.", arm=against)
    low, high = found["ci95_low"], found["ci95_high"]
    if low > 0:
        verdict = msg("the optimised arm did better")
    elif high < 0:
        verdict = msg("the optimised arm did worse: it is not ahead of this arm")
    else:
        verdict = msg(
            "no difference can be told apart from chance yet: the optimised arm is not "
            "shown to be ahead"
        )
    return msg(
        "Against the %(arm)s: %(difference)s per customer (95%% interval %(low)s to "
        "%(high)s): %(verdict)s.",
        arm=against,
        difference=w.money(found["difference"]),
        low=w.money(low),
        high=w.money(high),
        verdict=w.say(verdict),
    )


def money_section(data: dict[str, Any], w: Writer) -> Section:
    """Money collected per arm, from recorded payments, and the uplift with its interval."""
    found = data["money"]
    rows: list[list[Cell]] = [
        [
            label_of(arm),
            w.count(f["customers"]),
            w.count(f["payers"]),
            w.money(f["collected"]),
            w.money(f["per_customer"]),
        ]
        for arm, f in found["arms"].items()
        if f["customers"]
    ]
    caption = msg(
        "Payments recorded from %(start)s to %(end)s (the campaign's attribution window).",
        start=day(found["from"][:10], w.language),
        end=day(found["until"][:10], w.language),
    )
    head: list[Cell] = [
        msg("arm"),
        msg("customers"),
        msg("customers who paid"),
        msg("collected"),
        msg("per customer"),
    ]
    notes: list[Cell] = [uplift_sentence(n, u, w) for n, u in found["uplift_per_customer"].items()]
    return Section(msg("Money collected per arm"), tables=[Table(head, rows, caption)], notes=notes)


def agents_section(data: dict[str, Any], w: Writer) -> Section:
    """Per agent: talk time, conversations, promises taken and kept, money attributed."""
    rows: list[list[Cell]] = [
        [
            a["agent"],
            w.count(a["talk_minutes"], 1),
            w.count(a["conversations"]),
            w.count(a["promises"]),
            w.count(a["promises_kept"]),
            ", ".join(w.money(v, c) for c, v in a["collected"].items()) or "–",
        ]
        for a in data.get("agents", [])
    ]
    if not rows:
        return Section(
            msg("Agents"), notes=[msg("No agent talked to a debtor in this campaign that day.")]
        )
    head: list[Cell] = [
        msg("agent"),
        msg("talk minutes"),
        msg("conversations"),
        msg("promises"),
        msg("kept"),
        msg("money attributed"),
    ]
    caption = msg(
        "Money is attributed to the agent of the latest conversation before each payment."
    )
    return Section(msg("Agents"), tables=[Table(head, rows, caption)])


def execution_section(data: dict[str, Any], w: Writer) -> Section:
    """Outcomes per channel and the abandoned-call rate against the legal target."""
    rows: list[list[Cell]] = [
        [
            label_of(channel),
            "; ".join(f"{w.say(label_of(o))}: {w.count(n)}" for o, n in sorted(outcomes.items())),
        ]
        for channel, outcomes in data["outcomes"].items()
    ]
    abandon = data["abandon_pct"]
    line = (
        msg("No live answer yet, so no abandoned-call rate.")
        if abandon is None
        else msg(
            "Abandoned calls: %(rate)s of live answers (limit %(limit)s).",
            rate=w.pct(abandon),
            limit=w.pct(data["abandon_target_pct"], 1),
        )
    )
    tables = [Table([msg("channel"), msg("outcomes")], rows)] if rows else []
    return Section(msg("Outcomes"), tables=tables, notes=[line])


def inbound_section(data: dict[str, Any], w: Writer) -> Section:
    """The run's customers who called the company: answered, by their owner, abandoned."""
    title = msg("Inbound calls")
    days = data.get("inbound", [])
    if not days:
        return Section(title, notes=[msg("None of this run's customers called the company.")])
    rows: list[list[Cell]] = [
        [
            d["day"],
            w.count(d["calls"]),
            w.count(d["answered"]),
            w.share(d["by_owner"], d["answered"]),
            w.count(d["abandoned"]),
            "–" if d["abandon_share"] is None else w.pct(100 * d["abandon_share"], 1),
        ]
        for d in days
    ]
    head: list[Cell] = [
        msg("day"),
        msg("calls"),
        msg("answered"),
        msg("by the owner"),
        msg("abandoned"),
        msg("abandoned share"),
    ]
    caption = msg(
        "Callers who hung up waiting are counted here, not in the dialer's abandoned-call rate."
    )
    return Section(title, tables=[Table(head, rows, caption)])


def report_sections(data: dict[str, Any], language: str) -> list[Section]:
    """The report's sections in the order the CLI's report has them."""
    w = Writer(language, data["money"]["currency"])
    builders = (
        money_section,
        plan_section,
        agents_section,
        execution_section,
        inbound_section,
        optimizer_section,
    )
    return [build(data, w) for build in builders]
