"""What tomorrow's plan has learned from the ledger: ``cadencia model show``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.ledger.history import customer_histories
from campaigns.run.inputs import load_slice, outcome_counts
from optimizer import History, Priors, estimate_rates

LEARNING_WINDOW = dt.timedelta(days=90)


def priors_of(campaign: Campaign, channels: tuple[str, ...]) -> Priors:
    """The campaign file's priors as the value model's arrays (right-party rate × hour profile)."""
    pri = campaign.priors
    rpc = np.array([pri.right_party_rate.get(c, 0.05) for c in channels])[:, None]
    return Priors(
        rpc=np.clip(rpc * np.array(pri.hour_factor)[None, :], 0.0, 1.0),
        promise=np.full(len(channels), pri.promise_rate),
        keep=np.full(len(channels), pri.payment_rate),
    )


def learned_model(engine: Engine, campaign: Campaign, *, now: dt.datetime) -> dict[str, Any]:
    """Per segment × channel: attempts, right-party contacts, raw and smoothed rates."""
    channels = tuple(c for c in campaign.channels if campaign.channels[c].enabled)
    with engine.connect() as conn:
        frame = load_slice(conn, campaign).customers
        ids = [str(c) for c in frame["customer_id"]]
        found = customer_histories(conn, ids, now - LEARNING_WINDOW)
    events = [e for h in found.values() for e in h.events if e.at < now]
    segments = sorted(set(frame["segment"])) or ["unknown"]
    index = {s: k for k, s in enumerate(segments)}
    attempts, rpc, promises = outcome_counts(
        events,
        {c: index[s] for c, s in zip(ids, frame["segment"], strict=True)},
        dict(zip(ids, frame["timezones"].str.split(";").str[0], strict=True)),
        channels,
        len(segments),
    )
    rates = estimate_rates(
        History(attempts, rpc, promises, np.zeros_like(promises)), priors_of(campaign, channels)
    )
    cells = []
    for s, segment in enumerate(segments):
        for k, channel in enumerate(channels):
            n = float(attempts[s, k].sum())
            cells.append(
                {
                    "segment": segment,
                    "channel": channel,
                    "attempts": int(n),
                    "right_party_contacts": int(rpc[s, k].sum()),
                    "raw_rpc_rate": round(float(rpc[s, k].sum()) / n, 4) if n else None,
                    "learned_rpc_rate_mean_over_hours": round(float(rates.rpc[s, k].mean()), 4),
                    "prior_rpc_rate": campaign.priors.right_party_rate.get(channel, 0.05),
                    "promises": int(promises[s, k]),
                    "learned_pay_per_contact": round(float(rates.pay[s, k]), 4),
                }
            )
    return {
        "campaign": campaign.name,
        "window_days": LEARNING_WINDOW.days,
        "events": len(events),
        "customers": len(ids),
        "cells": cells,
    }
