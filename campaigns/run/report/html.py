"""The run report as one static HTML file with its charts embedded (opens from disk)."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from campaigns.run.report.summary import (
    agents_section,
    execution_section,
    inbound_section,
    money_section,
    optimizer_section,
    plan_section,
)
from campaigns.texts import Msg, msg

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAGE = Template(
    """<!doctype html><html><head><meta charset="utf-8"><title>Cadencia — $title</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: 1000px }
table { border-collapse: collapse }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top }
caption { caption-side: bottom; font-size: 0.85em; color: #555; text-align: left }
img { max-width: 100% }
</style></head><body><h1>$title</h1>
$head
$images
<h2>Left out (examples)</h2>
<table><tr><th>customer</th><th>why</th></tr>$examples</table>
</body></html>
"""
)
CHANNEL_COLOURS = {"voice": "#1f77b4", "sms": "#ff7f0e", "whatsapp": "#2ca02c", "email": "#9467bd"}


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class ChartWords:
    """The words drawn inside the charts: English here, the viewer's in the console.

    ``say`` renders a text, ``code`` names a channel, an outcome or a left-out reason.
    """

    say: Callable[[Msg], str] = str
    code: Callable[[str], str] = str


def charts(data: dict[str, Any], words: ChartWords | None = None) -> list[tuple[str, str]]:
    """Each chart the data calls for, as (title, base64 PNG), in page order (the console too)."""
    w = words or ChartWords()
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; only file output
    import matplotlib.pyplot as plt

    charts: list[tuple[str, str]] = []
    for title, draw in _CHARTS:
        fig = draw(data, w)
        if fig is None:
            continue  # nothing to show (no prices, nobody left out, nothing executed…)
        charts.append((title, _png(fig)))
        plt.close(fig)
    return charts


def _planned_per_hour(data: dict[str, Any], w: ChartWords) -> Figure:
    """Planned attempts per hour, stacked by channel, against the voice capacity."""
    import matplotlib.pyplot as plt

    hours, channels = data["hours"], data["channels"]
    x = range(len(hours))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    bottom = [0] * len(hours)
    for c in channels:
        counts = data["planned_per_slot"][c]
        ax.bar(x, counts, bottom=bottom, label=w.code(c), color=CHANNEL_COLOURS.get(c))
        bottom = [b + n for b, n in zip(bottom, counts, strict=True)]
    capacity = w.say(msg("voice capacity (attempts)"))
    ax.plot(x, data["voice_capacity_attempts_per_slot"], "k--", label=capacity)
    ax.set_xticks(list(x), hours, rotation=45)
    ax.set_ylabel(w.say(msg("planned attempts")))
    ax.set_title(w.say(msg("Plan: attempts per hour and channel against voice capacity")))
    ax.legend(fontsize=8)
    return fig


def _shadow_prices(data: dict[str, Any], w: ChartWords) -> Figure | None:
    """The value of one more agent-minute in each hour (none without voice prices)."""
    import matplotlib.pyplot as plt

    prices = data["plan"].get("voice_minute_price") or []
    if not prices:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.plot(range(len(prices)), prices, marker="o")
    ax.set_xticks(range(len(prices)), data["hours"][: len(prices)], rotation=45)
    ax.set_ylabel(w.say(msg("value of one more agent-minute")))
    ax.set_title(w.say(msg("Shadow price of agent time per hour")))
    return fig


def _left_out(data: dict[str, Any], w: ChartWords) -> Figure | None:
    """Customers left out, per reason (none when everybody was planned)."""
    import matplotlib.pyplot as plt

    if not data["left_out"]:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.8))
    reasons = list(data["left_out"].items())
    ax.barh([w.code(r) for r, _ in reasons], [n for _, n in reasons], color="#8c564b")
    ax.set_xlabel(w.say(msg("customers")))
    ax.set_title(w.say(msg("Who was left out, and why")))
    return fig


def _plan_vs_actual(data: dict[str, Any], w: ChartWords) -> Figure | None:
    """Planned and made attempts per hour and channel (none before any attempt)."""
    import matplotlib.pyplot as plt

    if not any(sum(v) for v in data["actual_per_slot"].values()):
        return None
    hours = data["hours"]
    x = range(len(hours))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for c in data["channels"]:
        ax.plot(
            x,
            data["planned_per_slot"][c],
            "--",
            color=CHANNEL_COLOURS.get(c),
            label=w.say(msg("%(channel)s plan", channel=w.code(c))),
        )
        ax.plot(
            x,
            data["actual_per_slot"][c],
            "-",
            color=CHANNEL_COLOURS.get(c),
            label=w.say(msg("%(channel)s actual", channel=w.code(c))),
        )
    ax.set_xticks(list(x), hours, rotation=45)
    ax.set_title(w.say(msg("Plan vs actual attempts per hour")))
    ax.legend(fontsize=7, ncol=2)
    return fig


def _outcomes(data: dict[str, Any], w: ChartWords) -> Figure | None:
    """Attempts per channel, stacked by outcome (none before any attempt)."""
    import matplotlib.pyplot as plt

    if not data["outcomes"]:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.2))
    outcomes = sorted({o for v in data["outcomes"].values() for o in v})
    left = [0] * len(data["outcomes"])
    names = list(data["outcomes"])
    shown = [w.code(c) for c in names]
    for o in outcomes:
        counts = [data["outcomes"][c].get(o, 0) for c in names]
        ax.barh(shown, counts, left=left, label=w.code(o))
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_title(w.say(msg("Outcomes per channel")))
    ax.legend(fontsize=7, ncol=4)
    return fig


# The report's charts in page order: (title, drawing or None when it has nothing to show).
_CHARTS: tuple[tuple[str, Callable[[dict[str, Any], ChartWords], Figure | None]], ...] = (
    ("Planned attempts per hour", _planned_per_hour),
    ("Shadow prices", _shadow_prices),
    ("Left out", _left_out),
    ("Plan vs actual", _plan_vs_actual),
    ("Outcomes", _outcomes),
)


def render_html(data: dict[str, Any], out_dir: Path) -> Path:
    """Write ``report-<run>.html`` (and the data as JSON beside it); returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run = data["run"]
    head = "".join(
        section(data)
        for section in (
            money_section,
            plan_section,
            agents_section,
            execution_section,
            inbound_section,
            optimizer_section,
        )
    )
    images = "".join(
        f"<h2>{html.escape(title)}</h2>"
        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
        for title, png in charts(data)
    )
    examples = "".join(
        f"<tr><td>{html.escape(e['customer_id'])}</td><td>{html.escape(str(e['reason']))}</td></tr>"
        for e in data["left_out_examples"]
    )
    title = f"Run {run['id']}: {run['campaign']}, {run['day']}"
    page = PAGE.substitute(title=html.escape(title), head=head, images=images, examples=examples)
    path = out_dir / f"report-{run['id']}.html"
    path.write_text(page, encoding="utf-8")
    (out_dir / f"report-{run['id']}.json").write_text(
        json.dumps(data, indent=2, default=str), encoding="utf-8"
    )
    return path
