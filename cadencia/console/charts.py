"""Charts drawn on the server with matplotlib (no JavaScript charting, nothing from a CDN)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # servers have no display; figures only ever go to PNG bytes

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

COLOURS = {"voice": "#1f77b4", "sms": "#ff7f0e", "whatsapp": "#2ca02c", "email": "#9467bd"}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def progress_png(
    hours: Sequence[str],
    planned: Mapping[str, Sequence[int]],
    actual: Mapping[str, Sequence[int]],
    title: str,
) -> bytes:
    """Plan (outlined bars) against actual attempts (filled) per channel and hour slot."""
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    channels = list(planned) or ["voice"]
    width = 0.8 / max(len(channels), 1)
    for i, channel in enumerate(channels):
        xs = [h + i * width for h in range(len(hours))]
        colour = COLOURS.get(channel, "#555555")
        ax.bar(
            xs,
            planned.get(channel, []),
            width,
            fill=False,
            edgecolor=colour,
            label=f"{channel} plan",
        )
        ax.bar(xs, actual.get(channel, []), width * 0.6, color=colour, label=f"{channel} actual")
    ax.set_xticks([h + 0.4 - width / 2 for h in range(len(hours))], hours, fontsize=7)
    ax.set_ylabel("attempts")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    return _png(fig)


def histogram_png(histogram: Mapping[str, int], cap: int | None, title: str) -> bytes:
    """Scopes by the peak count they reached in the rule's window, with the cap marked."""
    fig, ax = plt.subplots(figsize=(4.0, 2.2))
    counts = sorted((int(k), v) for k, v in histogram.items())
    ax.bar([c for c, _ in counts], [v for _, v in counts], width=0.6, color="#1f77b4")
    top = max([c for c, _ in counts] + [cap or 0])
    ax.set_xlim(0.4, top + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if cap is not None:
        ax.axvline(cap + 0.5, color="#d62728", linestyle="--", label=f"cap {cap}")
        ax.legend(fontsize=7)
    ax.set_xlabel("peak contacts in the window", fontsize=8)
    ax.set_ylabel("scopes", fontsize=8)
    ax.set_title(title, fontsize=8)
    return _png(fig)
