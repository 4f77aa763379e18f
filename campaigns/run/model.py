"""What tomorrow's plan has learned from the ledger: ``cadencia model show``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign
from campaigns.ledger.history import customer_histories
from campaigns.payments.listing import payment_instants
from campaigns.payments.promises import promise_fates
from campaigns.run.inputs import OutcomeCounts, history_since, load_slice, outcome_counts
from campaigns.run.learning import departed_payers
from optimizer import History, Priors, Rates, estimate_rates


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
    """Per segment × channel: attempts, right-party contacts, raw and smoothed rates.

    Reads what planning at ``now`` would learn from: the slice's customers and
    the payers who left it (``campaigns.run.learning``), over the same window.
    """
    channels = tuple(c for c in campaign.channels if campaign.channels[c].enabled)
    with engine.connect() as conn:
        frame = load_slice(conn, campaign).customers
        ids = [str(c) for c in frame["customer_id"]]
        since = history_since(list(frame["packs"]), now)
        found = customer_histories(conn, ids, since, consents={})
        departed = departed_payers(conn, campaign.name, set(ids), since, now)
        wanted = set(ids) | departed.ids
        fates = promise_fates(conn, wanted, since)
        paid = payment_instants(conn, wanted, since)
    events = [e for h in found.values() for e in h.events if e.at < now]
    segments = sorted(set(frame["segment"])) or ["unknown"]
    index = {s: k for k, s in enumerate(segments)}
    segment_of = {c: index[s] for c, s in departed.segment.items() if s in index}
    segment_of.update({c: index[s] for c, s in zip(ids, frame["segment"], strict=True)})
    zone_of = dict(departed.zone)
    zone_of.update(zip(ids, frame["timezones"].str.split(";").str[0], strict=True))
    counts = outcome_counts(
        [*events, *departed.events],
        segment_of,
        zone_of,
        channels,
        len(segments),
        fates,
        paid,
        dt.timedelta(days=campaign.collections.attribution_days),
    )
    priors = priors_of(campaign, channels)
    rates = estimate_rates(
        History(
            counts.attempts,
            counts.rpc,
            counts.promises,
            counts.paid,
            counts.settled,
            counts.paid_contacts,
        ),
        priors,
    )
    cells = [
        _cell(segment, channel, counts, rates, campaign, s, k)
        for s, segment in enumerate(segments)
        for k, channel in enumerate(channels)
    ]
    return {
        "campaign": campaign.name,
        "window_days": (now - since).days,
        "events": len(events) + len(departed.events),
        "customers": len(ids),
        "departed_payers": len(departed.segment),
        "cells": cells,
    }


def _rate(hits: float, trials: float) -> float | None:
    return round(hits / trials, 4) if trials else None


def _cell(
    segment: str,
    channel: str,
    counts: OutcomeCounts,
    rates: Rates,
    campaign: Campaign,
    s: int,
    k: int,
) -> dict[str, Any]:
    """One segment × channel: the counts, the raw rates, what was learned, and the priors."""
    attempts = float(counts.attempts[s, k].sum())
    contacts = float(counts.rpc[s, k].sum())
    promises, settled = float(counts.promises[s, k]), float(counts.settled[s, k])
    paid = float(counts.paid[s, k])
    priors = campaign.priors
    return {
        "segment": segment,
        "channel": channel,
        "attempts": int(attempts),
        "right_party_contacts": int(contacts),
        "raw_rpc_rate": _rate(contacts, attempts),
        "learned_rpc_rate_mean_over_hours": round(float(rates.rpc[s, k].mean()), 4),
        "prior_rpc_rate": priors.right_party_rate.get(channel, 0.05),
        "promises": int(promises),
        "raw_promise_rate": _rate(promises, contacts),
        "prior_promise_rate": priors.promise_rate,
        "settled_promises": int(settled),
        "kept_promises": round(paid, 2),
        "raw_kept_rate": _rate(paid, settled),
        "contacts_followed_by_payment": int(counts.paid_contacts[s, k]),
        "raw_pay_per_contact": _rate(float(counts.paid_contacts[s, k]), contacts),
        "prior_kept_rate": priors.payment_rate,
        "learned_pay_per_contact": round(float(rates.pay[s, k]), 4),
        "prior_pay_per_contact": round(priors.promise_rate * priors.payment_rate, 4),
    }
