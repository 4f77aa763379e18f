"""Benchmark: allowances for a whole portfolio, and evaluate decisions per second.

    .venv/bin/python -m bench.allowances --customers 1000000 --days 30

Generates a synthetic ledger in memory (not timed): about five events per
customer over ``--days`` days before day D, with the mix a collections floor
produces (mostly outbound attempts, some consents, opt-outs, promises,
disputes, a few cease requests), customers spread over US, Colombian, Chilean,
Mexican and UK pack sets and their time zones (10 % with two candidate zones).
Then times ``allowances`` over 24 one-hour slots of day D, and the contact-time
``evaluate`` on histories of tens of events. Prints ONE JSON object with wall
seconds and CPU seconds (the machine is shared: CPU time says what the code
costs, wall time what it took on the box at that moment).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from compliance import Event, Proposal, allowances, evaluate, load_packs
from compliance.frames import CATEGORIES
from compliance.model import MESSAGE_OUTCOMES, VOICE_OUTCOMES

# (packs, candidate zone sets, share of the portfolio)
SEGMENTS = [
    ("us-regf,house", ["America/New_York", "America/Chicago", "America/Los_Angeles"], 0.40),
    ("us-regf,us-ma,house", ["America/New_York"], 0.05),
    ("us-regf,us-nyc,house", ["America/New_York"], 0.05),
    ("co-ley2300,house", ["America/Bogota"], 0.15),
    ("cl-ley21320,house", ["America/Santiago"], 0.10),
    ("mx-condusef,house", ["America/Mexico_City", "America/Tijuana"], 0.15),
    ("uk-ofcom,house", ["Europe/London"], 0.10),
]
KIND_SHARE = {"attempt": 0.93, "consent": 0.045, "opt_out": 0.006, "cease": 0.001,
              "promise": 0.015, "dispute": 0.003}  # fmt: skip


def customers_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    seg = rng.choice(len(SEGMENTS), size=n, p=[s[2] for s in SEGMENTS])
    packs = np.array([s[0] for s in SEGMENTS], dtype=object)[seg]
    two_zones = ["America/New_York,America/Los_Angeles", "America/Chicago,America/New_York"]
    zone_sets = list(dict.fromkeys([z for s in SEGMENTS for z in s[1]] + two_zones))
    width = max(len(s[1]) for s in SEGMENTS)
    table = np.array(
        [[zone_sets.index(s[1][i % len(s[1])]) for i in range(width)] for s in SEGMENTS]
    )
    n_zones = np.array([len(s[1]) for s in SEGMENTS])[seg]
    tz = table[seg, (rng.random(n) * n_zones).astype(np.int64)]
    us = seg == 0
    two = us & (rng.random(n) < 0.10)
    tz[two] = len(zone_sets) - 2 + rng.integers(0, 2, size=int(two.sum()))
    return pd.DataFrame(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "packs": pd.Categorical(packs),
            "timezones": pd.Categorical.from_codes(tz, categories=zone_sets),
        }
    )


def ledger_frames(
    n: int, per_customer: float, days: int, day: date, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = int(n * per_customer)
    end = (
        int(pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC)).value)
        - 14 * 3600 * 10**9
    )
    at = end - rng.integers(1, days * 86400, size=m) * 10**9
    customer = rng.integers(0, n, size=m)
    kinds = list(KIND_SHARE)
    kind = rng.choice(len(kinds), size=m, p=list(KIND_SHARE.values()))
    channel = rng.choice(4, size=m, p=[0.6, 0.2, 0.1, 0.1])
    direction = (rng.random(m) < 0.08).astype(np.int8)
    outcomes = CATEGORIES["outcome"]
    voice = np.array([outcomes.index(o) for o in VOICE_OUTCOMES])
    voice_p = np.array([0.45, 0.06, 0.03, 0.03, 0.12, 0.1, 0.01, 0.02, 0.18])
    msg = np.array([outcomes.index(o) for o in MESSAGE_OUTCOMES])
    outcome = np.where(
        channel == 0,
        voice[rng.choice(len(voice), size=m, p=voice_p)],
        msg[rng.choice(len(msg), size=m, p=[0.3, 0.6, 0.04, 0.03, 0.03])],
    )
    outcome = np.where(kind == 0, outcome, -1)
    until = np.where(
        kind == kinds.index("promise"),
        (at // 86400_000_000_000 + rng.integers(0, 8, size=m)) * 86400_000_000_000,
        np.iinfo(np.int64).min,
    )
    events = pd.DataFrame(
        {
            "customer_id": customer,
            "at": pd.to_datetime(at, utc=True),
            "channel": pd.Categorical.from_codes(channel, categories=list(CATEGORIES["channel"])),
            "direction": pd.Categorical.from_codes(
                direction, categories=list(CATEGORIES["direction"])
            ),
            "kind": pd.Categorical.from_codes(kind, categories=list(CATEGORIES["kind"])),
            "outcome": pd.Categorical.from_codes(outcome, categories=list(outcomes)),
            "granted": pd.array(rng.random(m) < 0.95, dtype="boolean"),
            "until": pd.to_datetime(until),
            "resolved": pd.array(rng.random(m) < 0.5, dtype="boolean"),
        }
    )
    second = rng.random(m) < 0.2
    rows = np.concatenate([np.arange(m), np.flatnonzero(second)])
    debt = np.concatenate([customer * 4, customer[second] * 4 + 1])
    return events, pd.DataFrame({"event": rows, "debt_id": debt})


def decisions_per_second(rng: np.random.Generator, count: int) -> tuple[float, float, float]:
    """(decisions per wall second, per CPU second, mean history length) for the guard."""
    packs = load_packs("us-regf,us-ma,uk-ofcom,house")
    base = datetime(2025, 5, 20, 16, tzinfo=UTC)
    histories: list[tuple[list[Event], Proposal]] = []
    for c in range(200):
        cid = f"c{c}"
        hist = [Event(base - timedelta(days=40), cid, (), ch, "inbound", "consent", granted=True)
                for ch in ("voice", "sms")]  # fmt: skip
        for _ in range(int(rng.integers(20, 60))):
            ch = str(rng.choice(["voice", "voice", "voice", "sms", "email"]))
            out = VOICE_OUTCOMES if ch == "voice" else MESSAGE_OUTCOMES
            at = base - timedelta(minutes=int(rng.integers(1, 30 * 1440)))
            debt = (f"d{int(rng.integers(0, 3))}",)
            outcome = str(rng.choice(out))
            hist.append(Event(at, cid, debt, ch, "outbound", "attempt", outcome=outcome))
        zones = ("America/New_York", "America/Chicago")[: int(rng.integers(1, 3))]
        prop = Proposal(base, cid, ("d0", "d1"), "voice", zones, contact_point="+15550100")
        histories.append((hist, prop))
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        hist, prop = histories[i % len(histories)]
        evaluate(packs, hist, prop)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count / elapsed, count / cpu, float(np.mean([len(h) for h, _ in histories]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-customer", type=float, default=5.0)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    day = date(2025, 5, 20)
    customers = customers_frame(args.customers, rng)
    events, event_debts = ledger_frames(
        args.customers, args.events_per_customer, args.days, day, rng
    )
    slots = pd.date_range(
        datetime(day.year, day.month, day.day, 10, tzinfo=UTC), periods=24, freq="h"
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = allowances(customers, events, day, slots, event_debts=event_debts)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rate, cpu_rate, mean_history = decisions_per_second(rng, args.decisions)
    print(
        json.dumps(
            {
                "customers": args.customers,
                "events": len(events),
                "event_debt_rows": len(event_debts),
                "days": args.days,
                "slots": len(slots),
                "allowances_seconds": round(seconds, 3),
                "allowances_cpu_seconds": round(cpu, 3),
                "decisions_per_s": round(rate),
                "decisions_per_cpu_s": round(cpu_rate),
                "decision_packs": "us-regf,us-ma,uk-ofcom,house",
                "decision_history_events_mean": round(mean_history, 1),
                "allowed_customer_channels": int((result.remaining > 0).sum()),
                "allowed_slot_cells": int(result.slot_allowed.sum()),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
