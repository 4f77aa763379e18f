"""Benchmark: a month of daily runs in simulation, learning included; prints ONE JSON object.

    .venv/bin/python -m bench.month [--customers 8000] [--days 30] [--seed 1]
        [--start 2027-02-01] [--redis redis://127.0.0.1:6379/6] [--db URL | --sqlite]

A synthetic Colombian portfolio (``campaigns.portfolio.generate``, as the demo)
runs through ``--days`` consecutive daily cycles of a bench-local copy of
``examples/co-tarjetas.toml`` whose experiment keeps 30% of the customers on
the rule challenger and 10% in the holdout (the shipped 10% / 2% leave arms too
small to compare in a month). Everything else of the campaign is as shipped.

**Production code, as ``cadencia run`` and the workers run it** (one
throwaway PostgreSQL database by default, ``--sqlite`` for a file):

* Planning: ``campaigns.run.state.create_run`` + ``advance`` with the
  production execution step (``campaigns.run.execute.execution_step``): the
  day's planning settles promises, learns contact, promise and kept rates from
  the ledger and the payments, boosts broken-promise follow-ups and calibrates
  voice capacity from the ledger; then ``dispatch_plan`` enqueues the message
  batches on an RQ queue and fills each voice slot's Redis hopper
  (``campaigns.dialing.voice_dispatcher``) on ``--redis``; the run is closed by
  the same step once its day (and grace) is over.
* Messages: each slot's batches are read back from the RQ queue and carried
  out in this process by ``campaigns.messaging.process_batch`` (what the RQ job
  ``send_batch_job`` runs: render, guard, pending ledger row, provider, outcome
  row) against the SendGrid/Twilio stand-in (``sandbox.providers``) over real
  HTTP, with the clock at the slot's start. No RQ worker processes run: the
  month would take hours in compressed real time.
* Voice: the production pacer, built per slot as each dial session builds it
  (``campaigns.dialing.session_pacer``: ``pacing_config``, the abandon budget
  seeded from the ledger, the estimates restored from the previous slot's
  session and saved at its end with ``save_pacer``) decides, in the
  call-centre simulator (``dialer.simulate``'s day, subclassed here as
  ``Floor``, with the slot's agents from the campaign and the pacer snapshot a
  ``DialSession`` gives), when to place calls; each call takes the next lead
  from the slot's real ``RedisHopper``, so how much of the voice plan the
  floor executes is measured, not assumed. The calls placed are then reserved
  through the production guard (``campaigns.ledger.guard .guard_and_reserve``,
  one batch per slot, each call at its own instant) and their outcomes
  appended with ``campaigns.ledger.chain.append`` (the rows ``record_outcome``
  writes, agent and talk time included). A promise made in a conversation is
  saved as the agent's disposition with
  ``campaigns.agents.disposition.save_disposition``, which writes the
  promise's ledger row and tracked promise as the desktop does (dispositions
  without a promise, which only write the desktop's wrap-up record, are not
  saved).
* Message outcomes (delivered, bounced, failed, replied) go through
  ``campaigns.webhooks.record.record_outcome_events``, the function the
  provider webhooks call (an email reply has no route into Cadencia, which
  receives no inbound email, so the bench records it through the same
  function); promises after a reply through the ledger interchange
  (``campaigns.ledger.interchange.import_events`` with ``PromiseTerms``).
* Payments: each day's payments through ``campaigns.payments.record
  .record_payments`` (the bank file's path), which settles promises;
  ``settle_promises`` breaks the unpaid ones in the next day's planning.
* Report: ``campaigns.run.report.money.uplift_between`` (money per arm, Welch
  95% intervals) and ``campaigns.run.model.learned_model``.

**Simulated** (so ``"execution": "simulated outcomes recorded through the
production guard, ledger, webhook-recording, disposition and payments code"``):
whether a debtor answers, replies, promises, keeps a promise or pays on
their own, and the call-centre physics (ring, machine, busy, talk time). No
Asterisk runs; no RQ worker processes run; the portfolio is not re-imported
(days past due do not advance; a payment that clears the amount overdue cures
the account as the product's payments rule says).

**The hidden ground truth** (read only by the simulation, never by the
planner, and deliberately unlike the campaign's priors, which say
voice 0.22, SMS 0.08, WhatsApp 0.14, email 0.03, promise 0.30, kept 0.55 for
every segment, with an hour profile peaking at 08:00 and 18:00-19:00):

* Answer propensity (voice: a person answers, always the debtor; messages: a
  reply, after delivery) = ``ANSWER[segment][channel]`` × the hour profile of
  the segment's stage (``HOUR_PROFILE``: early-stage debtors answer around
  lunch, later stages in the early morning and the evening; messages feel half
  of it) × ``FATIGUE ** contacts`` (each of the debtor's contact days in the
  last 7 days lowers it by 15%).
* Delivery of messages: ``DELIVERED`` per channel (the rest bounce or fail).
* Promise given a right-party contact: ``PROMISE[segment]`` ×
  ``PROMISE_CHANNEL[channel]``, for the total amount overdue, due in 2-7 days.
* Keeping it: kept in full with ``KEEP[segment]`` (paid on a day between the
  promise and its date); of the rest, ``PARTIAL`` pay half (partly kept); the
  others pay nothing (broken).
* Paying unprompted: a daily ``UNPROMPTED[segment]`` chance of paying the
  amount overdue (only without a pending promise), whatever the arm.
* Annoyance: ``ANNOYED_AT`` or more contact days in the last 7 cut the promise
  rate by 30%, the keep rate by 20% and the unprompted rate by half.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy.engine import Engine

from bench.support.throwaway import POSTGRES_ADMIN_URL, throwaway_database
from campaigns.agents.disposition import Form, save_disposition
from campaigns.agents.events import AgentCall
from campaigns.campaign import Campaign, load_campaign
from campaigns.clock import Clock
from campaigns.dialing import (
    RedisHopper,
    pacing_config,
    save_pacer,
    session_pacer,
    voice_dispatcher,
)
from campaigns.dialing.ledger import VoiceTarget, load_voice_target
from campaigns.ledger.chain import EVENTS, LedgerEntry, append, verify
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.ledger.interchange import PromiseTerms, import_events
from campaigns.messaging import (
    MessageBatch,
    MessagingSettings,
    Senders,
    build_runtime,
    process_batch,
)
from campaigns.payments.file import PaymentRecord
from campaigns.payments.record import record_payments
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.queues import SERIALIZER, fetch_job, rq_queue
from campaigns.run.execute import execution_step
from campaigns.run.inputs import arm_of, load_slice, slot_starts
from campaigns.run.model import learned_model
from campaigns.run.report.money import uplift_between
from campaigns.run.state import advance, create_run, status
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import (
    Account,
    Customer,
    GuardDecisionRow,
    PlannedContact,
    Promise,
)
from campaigns.webhooks.record import OutcomeEvent, record_outcome_events
from channels import ChannelSettings
from compliance import Event, Pack, Proposal, load_packs
from dialer.pacing import AgentView, Pacer, PacingSnapshot
from dialer.session import Lead
from dialer.simulate import Final, Scenario, _Day, _Ev
from sandbox.providers import StandinHandle, WebhookMix, start_standin

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CAMPAIGN = ROOT / "examples" / "co-tarjetas.toml"
CHALLENGER_SHARE, HOLDOUT_SHARE = 0.30, 0.10
ARMS = ("optimised", "challenger", "holdout")
CHANNELS = ("voice", "sms", "whatsapp", "email")
MESSAGE_QUEUE, DIAL_QUEUE = "messages", "dialer"

# ---- the hidden ground truth (see the module docstring) -----------------------------------
ANSWER: dict[str, dict[str, float]] = {
    "early-high": {"voice": 0.34, "sms": 0.030, "whatsapp": 0.20, "email": 0.010},
    "early-low": {"voice": 0.27, "sms": 0.022, "whatsapp": 0.16, "email": 0.007},
    "mid-high": {"voice": 0.22, "sms": 0.020, "whatsapp": 0.12, "email": 0.006},
    "mid-low": {"voice": 0.17, "sms": 0.014, "whatsapp": 0.09, "email": 0.004},
    "late-high": {"voice": 0.13, "sms": 0.010, "whatsapp": 0.06, "email": 0.003},
    "late-low": {"voice": 0.09, "sms": 0.006, "whatsapp": 0.04, "email": 0.002},
}
HOUR_PROFILE: dict[str, dict[int, float]] = {  # local hour -> multiplier, by collection stage
    "early": {7: 0.7, 8: 0.9, 9: 1.0, 10: 0.9, 11: 1.0, 12: 1.35, 13: 1.3, 14: 0.8, 15: 0.7,
              16: 0.8, 17: 1.0, 18: 1.2},
    "later": {7: 1.15, 8: 0.8, 9: 0.7, 10: 0.7, 11: 0.8, 12: 1.0, 13: 1.0, 14: 0.8, 15: 0.8,
              16: 0.9, 17: 1.3, 18: 1.5},
}  # fmt: skip
DELIVERED = {"sms": 0.96, "whatsapp": 0.92, "email": 0.94}
PROMISE = {"early-high": 0.42, "early-low": 0.34, "mid-high": 0.30, "mid-low": 0.22,
           "late-high": 0.16, "late-low": 0.10}  # fmt: skip
PROMISE_CHANNEL = {"voice": 1.0, "whatsapp": 1.0, "sms": 0.9, "email": 0.8}
KEEP = {"early-high": 0.80, "early-low": 0.62, "mid-high": 0.58, "mid-low": 0.45,
        "late-high": 0.33, "late-low": 0.22}  # fmt: skip
PARTIAL, PARTIAL_PAID = 0.25, 0.5  # of the promises not kept in full: pay half
UNPROMPTED = {"early-high": 0.004, "early-low": 0.003, "mid-high": 0.002, "mid-low": 0.0015,
              "late-high": 0.001, "late-low": 0.0005}  # fmt: skip
FATIGUE = 0.85
ANNOYED_AT, ANNOYED_PROMISE, ANNOYED_KEEP, ANNOYED_UNPROMPTED = 4, 0.7, 0.8, 0.5
PROMISE_DUE_DAYS = (2, 7)
# The call-centre physics of a call nobody answers: machine and busy shares of the rest.
MACHINE_SHARE, BUSY_SHARE = 0.22, 0.11
TALK_CV = 0.6
VOICE_OUTCOME = {
    Final.CONNECTED: "conversation",
    Final.ABANDONED: "abandoned",
    Final.MACHINE: "machine",
    Final.BUSY: "busy",
    Final.NO_ANSWER: "no_answer",
}


def say(message: str) -> None:
    """Progress on stderr."""
    print(f"[month] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def stage(segment: str) -> str:
    """``early`` or ``later``: which hour profile a segment follows."""
    return "early" if segment.startswith("early") else "later"


@dataclass
class TrueCell:
    """What the truth expected of the contacts actually made in one segment × channel."""

    attempts: int = 0
    p_rpc: float = 0.0  # sum over attempts of the true right-party probability
    rpc: int = 0
    p_promise: float = 0.0  # sum over right-party contacts of the true promise probability
    promises: int = 0
    p_kept: float = 0.0  # sum over promises of the expected share paid


@dataclass
class SimPromise:
    """A promise the truth has already decided the fate of."""

    customer: str
    amount: Decimal
    due: dt.date
    pay_on: dt.date | None  # None: broken
    pay_amount: Decimal


class Truth:
    """The hidden behaviour model and the world's memory of contacts (never read by the planner)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.contact_days: dict[str, set[dt.date]] = defaultdict(set)
        self.pending: dict[str, SimPromise] = {}
        self.cells: dict[tuple[str, str], TrueCell] = defaultdict(TrueCell)

    def recent(self, customer: str, day: dt.date) -> int:
        """Contact days in the 7 days before ``day``."""
        days = self.contact_days.get(customer, ())
        return sum(1 for d in days if 1 <= (day - d).days <= 7)

    def answer(self, segment: str, channel: str, hour: int, recent: int) -> float:
        """P(the debtor answers / replies) before delivery."""
        profile = HOUR_PROFILE[stage(segment)].get(hour, 0.5)
        if channel != "voice":
            profile = 0.5 + 0.5 * profile
        return min(0.95, ANSWER[segment][channel] * profile * FATIGUE**recent)

    def promise(self, segment: str, channel: str, recent: int) -> float:
        """P(promise | right-party contact)."""
        annoyed = ANNOYED_PROMISE if recent >= ANNOYED_AT else 1.0
        return PROMISE[segment] * PROMISE_CHANNEL[channel] * annoyed

    def keep(self, segment: str, recent: int) -> float:
        """P(the promise is kept in full)."""
        return KEEP[segment] * (ANNOYED_KEEP if recent >= ANNOYED_AT else 1.0)

    def unprompted(self, segment: str, recent: int) -> float:
        """P(paying the amount overdue today without a promise)."""
        return UNPROMPTED[segment] * (ANNOYED_UNPROMPTED if recent >= ANNOYED_AT else 1.0)

    def draw(self, p: float) -> bool:
        """One Bernoulli draw."""
        return bool(self.rng.random() < p)

    def decide_promise(
        self, customer: str, segment: str, channel: str, recent: int, amount: Decimal, day: dt.date
    ) -> tuple[SimPromise, dt.date]:
        """The fate of a promise just made: due date, and when and how much will be paid."""
        due = day + dt.timedelta(days=int(self.rng.integers(*PROMISE_DUE_DAYS, endpoint=True)))
        keep = self.keep(segment, recent)
        cell = self.cells[(segment, channel)]
        cell.promises += 1
        cell.p_kept += keep + (1 - keep) * PARTIAL * PARTIAL_PAID
        span = (due - day).days
        if self.draw(keep):
            on = day + dt.timedelta(days=int(self.rng.integers(0, span, endpoint=True)))
            fate = SimPromise(customer, amount, due, on, amount)
        elif self.draw(PARTIAL):
            half = (amount * Decimal(str(PARTIAL_PAID))).quantize(Decimal("0.01"))
            on = day + dt.timedelta(days=int(self.rng.integers(0, span, endpoint=True)))
            fate = SimPromise(customer, amount, due, on, half)
        else:
            fate = SimPromise(customer, amount, due, None, Decimal(0))
        self.pending[customer] = fate
        return fate, due

    def truth_table(self) -> dict[str, Any]:
        """The truth's parameters, for the report."""
        return {
            "answer_at_profile_1": ANSWER,
            "hour_profile_by_stage": {k: {str(h): v for h, v in p.items()} for k, p in
                                      HOUR_PROFILE.items()},
            "messages_feel_half_the_hour_profile": True,
            "delivered": DELIVERED,
            "promise_given_rpc": PROMISE,
            "promise_channel_factor": PROMISE_CHANNEL,
            "kept_in_full": KEEP,
            "of_the_rest_pay_half": PARTIAL,
            "unprompted_daily": UNPROMPTED,
            "fatigue_per_contact_day_in_last_7": FATIGUE,
            "annoyed_at_contact_days_in_last_7": ANNOYED_AT,
            "annoyed_factors": {"promise": ANNOYED_PROMISE, "keep": ANNOYED_KEEP,
                                "unprompted": ANNOYED_UNPROMPTED},
            "promise_due_days": PROMISE_DUE_DAYS,
            "voice_unanswered_shares": {"machine": MACHINE_SHARE, "busy": BUSY_SHARE},
        }  # fmt: skip


# ---- the portfolio as the world sees it each morning --------------------------------------
@dataclass
class Debtor:
    """A campaign customer's state today (from the database)."""

    customer: str
    segment: str
    zone: str
    overdue: Decimal  # the campaign's amount overdue (segment accounts, summed)
    accounts: list[tuple[str, Decimal]]  # open accounts of the segment: (id, amount overdue)
    all_open: tuple[str, ...] = ()


def load_world(engine: Engine, campaign: Campaign) -> dict[str, Debtor]:
    """The campaign's customers (``load_slice``, the planner's own reading) and their accounts.

    ``accounts`` are the open accounts of the campaign's segment, whose amounts
    overdue make up what the debtor promises and pays.
    """
    seg = campaign.segment
    with engine.connect() as conn:
        frame = load_slice(conn, campaign).customers
        rows = conn.execute(
            sa.select(
                Customer.external_id,
                Account.external_id,
                Account.minimum_due,
                Account.product,
                Account.days_past_due,
                Account.balance,
            )
            .join(Account, Account.customer_id == Customer.id)
            .where(Account.status == "open", Account.currency == campaign.currency)
            .order_by(Account.external_id)
        ).all()
    accounts: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for cid, aid, due, product, dpd, balance in rows:
        if (
            (not seg.products or product in seg.products)
            and seg.days_past_due[0] <= dpd <= seg.days_past_due[1]
            and seg.balance[0] <= balance <= seg.balance[1]
        ):
            accounts[str(cid)].append((str(aid), Decimal(due)))
    world = {}
    for cid, segment, zones, overdue, debts in zip(
        frame["customer_id"],
        frame["segment"],
        frame["timezones"],
        frame["minimum_due"],
        frame["debt_ids"],
        strict=True,
    ):
        world[str(cid)] = Debtor(
            str(cid),
            str(segment),
            str(zones).split(";")[0] or campaign.timezone,
            Decimal(str(overdue)).quantize(Decimal("0.01")),
            accounts.get(str(cid), []),
            tuple(debts),
        )
    return world


def local_hour(instant: dt.datetime, zone: str) -> int:
    """The hour of ``instant`` in ``zone``."""
    return instant.astimezone(ZoneInfo(zone)).hour


# ---- voice: the floor ---------------------------------------------------------------------
@dataclass
class Call:
    """One call the simulated floor placed."""

    lead: Lead
    originated: float
    final: Final | None = None
    agent: int = -1
    connected: float = 0.0
    ended: float = 0.0


class Floor(_Day):
    """One slot of the call-centre simulator dialing a real hopper with the production pacer.

    Differs from ``dialer.simulate``'s own day only where a dial session does:
    calls go to the leads of the slot's ``RedisHopper`` in plan order, each
    answered with its debtor's own probability, and pacing stops when the
    hopper is empty; the snapshot carries what ``DialSession.snapshot`` gives
    the pacer (no time of day, no window end).
    """

    def __init__(
        self,
        sc: Scenario,
        pacer: Pacer,
        seed: int,
        day: dt.date,
        take: Callable[[], Lead | None],
        p_live: Callable[[Lead], float],
    ) -> None:
        import random

        super().__init__(sc, pacer, random.Random(seed), day, 0.0, False)
        self._take_lead, self._p_live = take, p_live
        self.exhausted = False
        self.exhausted_at: float | None = None  # when the hopper ran dry (seconds into the slot)
        self.calls: list[Call] = []

    def snapshot(self, t: float) -> PacingSnapshot:
        agents = [AgentView(s, t - since) for s, since in zip(self.state, self.since, strict=True)]
        return PacingSnapshot(
            now=t,
            day=self.day,
            agents=agents,
            ringing=[t - t0 for t0 in self.ringing.values()],
            waiting_live=len(self.queue),
        )

    def tick(self, t: float) -> None:
        if self.exhausted:
            return
        decision = self.policy.decide(self.snapshot(t))
        self.res.ticks += 1
        for _ in range(decision.calls):
            lead = self._take_lead()
            if lead is None:
                self.exhausted, self.exhausted_at = True, t
                return
            self._place(t, lead)
        if t + self.sc.tick_seconds < self.end:
            self.push(t + self.sc.tick_seconds, _Ev.TICK, 0)

    def _place(self, t: float, lead: Lead) -> None:
        sc, rng = self.sc, self.rng
        cid = self.next_call
        self.next_call += 1
        self.res.dials += 1
        p = self._p_live(lead)
        u, ring = rng.random(), rng.uniform(*sc.ring_seconds)
        rest = (u - p) / (1 - p) if u >= p and p < 1 else 0.0
        if u < p:
            plan = (Final.CONNECTED, ring)
        elif rest < MACHINE_SHARE:
            plan = (Final.MACHINE, ring + sc.amd_seconds)
        elif rest < MACHINE_SHARE + BUSY_SHARE:
            plan = (Final.BUSY, rng.uniform(*sc.busy_seconds))
        else:
            plan = (Final.NO_ANSWER, sc.no_answer_timeout)
        self.ringing[cid] = t
        self.planned[cid] = plan
        self.calls.append(Call(lead, t))
        self.push(t + plan[1], _Ev.RESOLVE, cid)

    def settle(self, cid: int, how: Final) -> None:
        super().settle(cid, how)
        self.calls[cid].final = how

    def resolve(self, t: float, cid: int) -> None:
        super().resolve(t, cid)
        call = self.calls[cid]
        if call.final is not None and call.final is not Final.CONNECTED:
            call.ended = t

    def connect(self, t: float, cid: int, agent: int, answered: float) -> None:
        self.calls[cid].agent, self.calls[cid].connected = agent, t
        super().connect(t, cid, agent, answered)

    def abandon(self, t: float, cid: int) -> None:
        super().abandon(t, cid)
        if self.calls[cid].final is Final.ABANDONED and not self.calls[cid].ended:
            self.calls[cid].ended = t

    def talk_end(self, t: float, agent: int) -> None:
        self.calls[self.call_of[agent]].ended = t
        super().talk_end(t, agent)


def voice_targets(engine: Engine, customer_ids: Sequence[str]) -> dict[str, VoiceTarget]:
    """What the dial session's guard loads for each call: ``load_voice_target``, one by one."""
    found = {cid: load_voice_target(engine, cid) for cid in sorted(set(customer_ids))}
    return {cid: target for cid, target in found.items() if target is not None}


# ---- the month ------------------------------------------------------------------------------
@dataclass
class Month:
    """Everything the daily cycles share."""

    engine: Engine
    redis: Redis
    campaign: Campaign
    campaign_path: Path
    truth: Truth
    standin: StandinHandle
    seed: int
    redis_url: str
    messages: Queue = field(init=False)
    step: Any = field(init=False)
    runtime: Any = field(init=False)
    packs: dict[tuple[str, ...], tuple[Pack, ...]] = field(default_factory=dict)
    world: dict[str, Debtor] = field(default_factory=dict)
    arm: dict[str, str] = field(default_factory=dict)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    references: int = 0
    learning_check: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.messages = rq_queue(MESSAGE_QUEUE, connection=self.redis)
        self.step = execution_step(
            self.messages, voice=voice_dispatcher(rq_queue(DIAL_QUEUE, connection=self.redis))
        )
        c = self.campaign
        senders = Senders(
            email=c.channels["email"].sender,
            sms=c.channels["sms"].sender,
            whatsapp=c.channels["whatsapp"].sender,
            whatsapp_template=c.channels["whatsapp"].approved_template,
        )
        url = self.engine.url.render_as_string(hide_password=False)
        settings = MessagingSettings(
            database_url=url,
            redis_url=self.redis_url,
            channels=ChannelSettings.from_mapping(self.standin.env()),
            senders={c.name: senders},
            standin_url=self.standin.base_url,
            queue=MESSAGE_QUEUE,
        )
        self.runtime = build_runtime(settings)

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        """An instant of ``day`` in the campaign's zone, in UTC."""
        local = dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo(self.campaign.timezone))
        return local.astimezone(dt.UTC)

    def packs_for(self, country: str, subdivision: str | None) -> tuple[Pack, ...]:
        names = self.campaign.packs_for(country, subdivision)
        if names not in self.packs:
            self.packs[names] = tuple(load_packs(names)) if names else ()
        return self.packs[names]

    def arm_of(self, customer: str) -> str:
        if customer not in self.arm:
            exp = self.campaign.experiment
            self.arm[customer] = arm_of(customer, exp.seed, exp.challenger_share, exp.holdout_share)
        return self.arm[customer]


@dataclass
class DayStats:
    """What one day did."""

    day: dt.date
    run_id: int = 0
    state: str = ""
    customers: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    planned_by_arm: dict[str, int] = field(default_factory=dict)
    planned_arm_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    follow_ups: int = 0
    voice_rate: dict[str, Any] = field(default_factory=dict)
    voice_planned: int = 0
    voice_taken: int = 0
    voice_placed: int = 0
    voice_refused: int = 0
    voice_outcomes: Counter[str] = field(default_factory=Counter)
    voice_slots: int = 0
    voice_slots_priced: int = 0  # slots where the optimised plan filled its voice capacity
    voice_emptied_at: list[float] = field(default_factory=list)
    voice_agent_s: float = 0.0
    voice_talk_s: float = 0.0
    messages: Counter[str] = field(default_factory=Counter)
    promises: Counter[str] = field(default_factory=Counter)
    payments: int = 0
    collected: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(ARMS, Decimal(0)))
    seconds: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def timed(month: Month, stats: DayStats, phase: str) -> Iterator[None]:
    """Add the block's wall time to the day's and the month's ``phase``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        spent = time.perf_counter() - t0
        stats.seconds[phase] = round(stats.seconds.get(phase, 0.0) + spent, 2)
        month.seconds[phase] += spent


def plan_day(month: Month, day: dt.date, stats: DayStats) -> None:
    """The product's daily run up to ``executing``: plan (learning), approve, dispatch."""
    morning = month.at(day, 6)
    run_id = create_run(month.engine, month.campaign_path, day, needs_approval=False, now=morning)
    stats.run_id = run_id
    stats.state = advance(month.engine, run_id, now=morning, dispatch=month.step)
    summary = status(month.engine, run_id).summary
    stats.follow_ups = int(summary.get("follow_ups", 0))
    stats.voice_rate = dict(summary.get("voice_attempts_per_agent_hour") or {})
    stats.voice_slots_priced = sum(1 for p in summary.get("voice_minute_price") or () if p > 0)
    with month.engine.connect() as conn:
        for channel, arm, n in conn.execute(
            sa.select(PlannedContact.channel, PlannedContact.arm, sa.func.count())
            .where(PlannedContact.run_id == run_id)
            .group_by(PlannedContact.channel, PlannedContact.arm)
        ):
            stats.planned[channel] = stats.planned.get(channel, 0) + int(n)
            stats.planned_arm_channel.setdefault(arm, {})[channel] = int(n)
            stats.planned_by_arm[arm] = stats.planned_by_arm.get(arm, 0) + int(n)
    stats.voice_planned = stats.planned.get("voice", 0)


def voice_slot(month: Month, stats: DayStats, slot: int, start: dt.datetime) -> None:
    """The floor dials the slot's hopper; the calls placed go through the guard into the ledger."""
    campaign, day = month.campaign, stats.day
    hopper = RedisHopper(month.redis, stats.run_id, slot)
    agents = round(campaign.agents.per_slot[slot])
    if not hopper.exists() or hopper.remaining() == 0 or agents < 1:
        return
    cfg = pacing_config(campaign)
    # As the dial job builds it: restored from the campaign's previous session.
    pacer = session_pacer(month.engine, campaign, cfg, day, 1.0)
    timeout = float(campaign.dialer.ring_timeout_s)
    scenario = Scenario(
        agents=agents,
        hours=1.0,
        ring_seconds=(min(5.0, 0.2 * timeout), 0.8 * timeout),
        no_answer_timeout=timeout,
        talk_mean=campaign.agents.talk_minutes * 60.0,
        talk_cv=TALK_CV,
        wrap_seconds=campaign.agents.wrap_minutes * 60.0,
        grace_seconds=cfg.grace_seconds,
    )
    truth, world = month.truth, month.world
    live: dict[str, float] = {}

    def p_live(lead: Lead) -> float:
        debtor = world.get(lead.customer_id)
        if debtor is None:
            return 0.0
        recent = truth.recent(lead.customer_id, day)
        p = truth.answer(debtor.segment, "voice", local_hour(start, debtor.zone), recent)
        live[lead.key] = p
        return p

    def take() -> Lead | None:
        leads = hopper.take(1)
        return leads[0] if leads else None

    floor = Floor(scenario, pacer, month.seed * 100_003 + stats.run_id * 31 + slot, day, take,
                  p_live)  # fmt: skip
    floor.run()
    save_pacer(month.engine, campaign.name, pacer, now=start, run_id=stats.run_id)
    calls = floor.calls
    stats.voice_slots += 1
    stats.voice_agent_s += agents * 3600.0
    stats.voice_talk_s += floor.res.talk_seconds
    if floor.exhausted_at is not None:
        stats.voice_emptied_at.append(floor.exhausted_at)
    stats.voice_taken += len(calls)
    if not calls:
        return
    targets = voice_targets(month.engine, [c.lead.customer_id for c in calls])
    requests, placed = [], []
    for call in calls:
        target = targets.get(call.lead.customer_id)
        if target is None or target.number is None:
            stats.voice_refused += 1
            continue
        packs = month.packs_for(target.country, target.subdivision)
        proposal = Proposal(
            at=start + dt.timedelta(seconds=call.originated),
            customer_id=target.customer_id,
            debt_ids=target.debt_ids,
            channel="voice",
            timezones=target.timezones,
            contact_point=target.number,
            line_type=target.line_type,
            campaign=campaign.name,
            autodialed=campaign.dialer.mode != "preview",
        )
        requests.append(ContactRequest(call.lead.key, proposal, packs, {"dialer": "session"}))
        placed.append((call, proposal))
    end = start + dt.timedelta(hours=1)
    results = guard_and_reserve(month.engine, requests, now=end)
    outcomes: list[LedgerEntry] = []
    conversations: list[tuple[Call, int, dt.datetime]] = []
    for (call, proposal), result in zip(placed, results, strict=True):
        hopper.finish(call.lead)
        if not result.allowed or result.attempt_id is None:
            stats.voice_refused += 1  # the simulated call would not have been placed
            continue
        assert call.final is not None
        outcome = VOICE_OUTCOME[call.final]
        stats.voice_placed += 1
        stats.voice_outcomes[outcome] += 1
        truth.contact_days[call.lead.customer_id].add(day)
        debtor = world[call.lead.customer_id]
        cell = truth.cells[(debtor.segment, "voice")]
        cell.attempts += 1
        cell.p_rpc += live.get(call.lead.key, 0.0)
        talk = call.ended - call.connected if outcome == "conversation" else None
        ended = start + dt.timedelta(seconds=call.ended)
        outcomes.append(
            LedgerEntry(
                at=ended,
                customer_id=proposal.customer_id,
                debt_ids=proposal.debt_ids,
                channel="voice",
                direction="outbound",
                kind="attempt",
                outcome=outcome,
                status="final",
                resolves_id=result.attempt_id,
                contact_point=proposal.contact_point,
                line_type=proposal.line_type,
                campaign=campaign.name,
                agent=f"agent{call.agent + 1:02d}" if call.agent >= 0 else None,
                duration_s=round(talk, 1) if talk is not None else None,
                extra={"safe_harbour": True} if outcome == "abandoned" else {},
                idempotency_key=f"outcome:{result.attempt_id}:{outcome}",
            )
        )
        if outcome == "conversation":
            conversations.append((call, result.attempt_id, ended))
    with month.engine.begin() as conn:
        append(conn, outcomes, now=end)
    for call, attempt_id, ended in conversations:
        disposition(month, stats, call, attempt_id, ended)
    hopper.clear()


def disposition(
    month: Month, stats: DayStats, call: Call, attempt_id: int, ended: dt.datetime
) -> None:
    """The debtor may promise; the agent then saves the promise as the desktop does.

    Only promises are saved: a disposition without one writes nothing but the
    desktop's wrap-up record (``web_dispositions``), which neither planning nor
    learning reads, and saving ~1,000 a day costs minutes over a month.
    """
    truth, day = month.truth, stats.day
    customer = call.lead.customer_id
    debtor = month.world[customer]
    recent = truth.recent(customer, day)
    p = truth.promise(debtor.segment, "voice", recent)
    cell = truth.cells[(debtor.segment, "voice")]
    cell.rpc += 1
    cell.p_promise += p
    if debtor.overdue <= 0 or customer in truth.pending or not truth.draw(p):
        return
    _, due = truth.decide_promise(customer, debtor.segment, "voice", recent, debtor.overdue, day)
    agent_call = AgentCall(
        agent=f"agent{call.agent + 1:02d}",
        state="wrapup",
        at=ended.isoformat(),
        customer_id=customer,
        attempt_id=attempt_id,
        run_id=stats.run_id,
        campaign=month.campaign.name,
    )
    form = Form("right", "promise", None, debtor.overdue, month.campaign.currency, due)
    save_disposition(month.engine, agent_call, form, now=ended + dt.timedelta(seconds=20))
    stats.promises["voice"] += 1


def scheduled_batches(
    month: Month, run_id: int
) -> dict[dt.datetime, list[tuple[Job, MessageBatch]]]:
    """The run's message jobs waiting in the RQ queue, by slot start."""
    registry = ScheduledJobRegistry(queue=month.messages)
    out: dict[dt.datetime, list[tuple[Job, MessageBatch]]] = defaultdict(list)
    jids = registry.get_job_ids()
    for job in Job.fetch_many(jids, connection=month.redis, serializer=SERIALIZER):
        if job is None:
            continue
        batch = MessageBatch.from_payload(job.args[0])
        if batch.batch_id.startswith(f"run{run_id}-"):
            out[batch.slot_start].append((job, batch))
    for jobs in out.values():
        jobs.sort(key=lambda jb: jb[1].batch_id)  # RQ releases same-second jobs in id order
    return out


def message_slot(
    month: Month,
    stats: DayStats,
    start: dt.datetime,
    jobs: list[tuple[Job, MessageBatch]],
    deferred: list[tuple[dt.datetime, MessageBatch]],
) -> None:
    """Run the slot's batches as the job would, then the debtors' truth for what was sent."""
    rt = month.runtime
    rt.clock = Clock.compressed(start + dt.timedelta(minutes=1), 1.0)
    end = start + dt.timedelta(hours=1)
    due = [b for at, b in deferred if at < end]
    deferred[:] = [(at, b) for at, b in deferred if at >= end]
    keys: list[str] = []
    for job, batch in [(None, b) for b in due] + list(jobs):
        report, _ = process_batch(
            rt,
            batch,
            now=rt.clock.now(),
            not_sent=set(),
            last_try=True,
            reschedule=lambda sub, at: deferred.append((at, sub)),
        )
        for name in ("sent", "failed", "dropped", "refused", "rescheduled"):
            stats.messages[name] += getattr(report, name)
        keys.extend(m.key for m in batch.messages)
        if job is not None:
            job.delete()
    message_truth(month, stats, keys, end)


def message_truth(month: Month, stats: DayStats, keys: list[str], end: dt.datetime) -> None:
    """Delivery, replies and promises for the messages ``keys`` that went out."""
    if not keys:
        return
    truth, day = month.truth, stats.day
    with month.engine.connect() as conn:
        attempts = {}
        for first in range(0, len(keys), 500):
            for row in conn.execute(
                sa.select(EVENTS.c.id, EVENTS.c.customer_id, EVENTS.c.channel, EVENTS.c.at).where(
                    EVENTS.c.idempotency_key.in_(keys[first : first + 500])
                )
            ):
                attempts[int(row.id)] = row
        sent: set[int] = set()
        ids = sorted(attempts)
        for first in range(0, len(ids), 500):
            sent.update(
                int(r[0])
                for r in conn.execute(
                    sa.select(EVENTS.c.resolves_id).where(
                        EVENTS.c.resolves_id.in_(ids[first : first + 500]),
                        EVENTS.c.outcome == "sent",
                    )
                )
            )
    events: list[OutcomeEvent] = []
    promises: list[Event] = []
    terms: dict[int, PromiseTerms] = {}
    for aid in sorted(sent):
        row = attempts[aid]
        customer, channel = str(row.customer_id), str(row.channel)
        debtor = month.world.get(customer)
        if debtor is None:
            continue
        truth.contact_days[customer].add(day)
        recent = truth.recent(customer, day)
        p_reply = truth.answer(debtor.segment, channel, local_hour(row.at, debtor.zone), recent)
        cell = truth.cells[(debtor.segment, channel)]
        cell.attempts += 1
        cell.p_rpc += DELIVERED[channel] * p_reply
        minutes = float(truth.rng.uniform(1, 20))
        delivered_at = row.at + dt.timedelta(minutes=minutes)
        if not truth.draw(DELIVERED[channel]):
            bad = "bounced" if channel == "email" else "failed"
            events.append(OutcomeEvent(aid, bad, f"sim:{aid}:{bad}", delivered_at, {}))
            stats.messages[bad] += 1
            continue
        events.append(OutcomeEvent(aid, "delivered", f"sim:{aid}:delivered", delivered_at, {}))
        stats.messages["delivered"] += 1
        if not truth.draw(p_reply):
            continue
        replied_at = delivered_at + dt.timedelta(minutes=float(truth.rng.uniform(2, 90)))
        events.append(OutcomeEvent(aid, "replied", f"sim:{aid}:replied", replied_at, {}))
        stats.messages["replied"] += 1
        p = truth.promise(debtor.segment, channel, recent)
        cell.rpc += 1
        cell.p_promise += p
        if debtor.overdue > 0 and customer not in truth.pending and truth.draw(p):
            _, due = truth.decide_promise(customer, debtor.segment, channel, recent,
                                          debtor.overdue, day)  # fmt: skip
            terms[len(promises)] = PromiseTerms(debtor.overdue, month.campaign.currency)
            promises.append(
                Event(
                    at=replied_at + dt.timedelta(minutes=10),
                    customer_id=customer,
                    debt_ids=debtor.all_open,
                    channel=channel,
                    direction="inbound",
                    kind="promise",
                    campaign=month.campaign.name,
                    until=due,
                )
            )
            stats.promises[channel] += 1
    latest = max([e.at for e in events] + [end])
    record_outcome_events(month.engine, events, now=latest)
    if promises:
        import_events(month.engine, promises, now=latest + dt.timedelta(minutes=15), terms=terms)


def close_day(month: Month, stats: DayStats) -> None:
    """The run's close, by the production step once the day and its grace are over."""
    campaign = month.campaign
    day_end = slot_starts(campaign, stats.day)[-1] + dt.timedelta(hours=1)
    for minutes in (31, 95):
        stats.state = advance(
            month.engine,
            stats.run_id,
            now=day_end + dt.timedelta(minutes=minutes),
            dispatch=month.step,
        )
        if stats.state == "closed":
            return


def payments_of_the_day(month: Month, stats: DayStats) -> None:
    """Kept promises, partial payments and unprompted payments, as the day's bank file."""
    truth, day, world = month.truth, stats.day, month.world
    paying = [(c, p.pay_amount, "promise") for c, p in truth.pending.items() if p.pay_on == day]
    for customer, debtor in world.items():
        if customer in truth.pending or debtor.overdue <= 0:
            continue
        if truth.draw(truth.unprompted(debtor.segment, truth.recent(customer, day))):
            paying.append((customer, debtor.overdue, "unprompted"))
    records: list[PaymentRecord] = []
    for customer, amount, why in paying:
        payer = world.get(customer)
        if payer is None or not payer.accounts:
            continue
        paid_at = month.at(day, int(truth.rng.integers(8, 22)), int(truth.rng.integers(0, 60)))
        for account, part in split(amount, payer.accounts):
            month.references += 1
            records.append(
                PaymentRecord(
                    line=len(records) + 1,
                    account_id=account,
                    amount=part,
                    currency=month.campaign.currency,
                    reference=f"SIM-{day:%Y%m%d}-{month.references:07d}",
                    paid_at=paid_at,
                    channel="bank",
                    method="PSE" if why == "promise" else "transfer",
                )
            )
            stats.collected[month.arm_of(customer)] += part
        stats.payments += 1
        stats.promises["paid_" + why] += 1
    if records:
        record_payments(
            month.engine, records, source="file", now=month.at(day, 23, 30), name=f"{day}.csv"
        )
    # A promise is over for the debtor once paid, or once its date passed unpaid.
    for customer, promise in list(truth.pending.items()):
        if (promise.pay_on is not None and promise.pay_on <= day) or promise.due <= day:
            del truth.pending[customer]


def split(amount: Decimal, accounts: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """``amount`` spread over the accounts' amounts overdue (the rest on the first account)."""
    parts: list[tuple[str, Decimal]] = []
    left = amount
    for account, due in sorted(accounts, key=lambda a: -a[1]):
        if left <= 0 or due <= 0:
            continue
        take = min(left, due)
        parts.append((account, take))
        left -= take
    if left > 0:
        first = parts[0] if parts else (accounts[0][0], Decimal(0))
        parts = [(first[0], first[1] + left), *parts[1:]]
    return [(a, p.quantize(Decimal("0.01"), ROUND_HALF_UP)) for a, p in parts if p > 0]


def cleanup_run(month: Month, run_id: int) -> None:
    """What the day left in Redis: hoppers and dial-session jobs nobody runs here."""
    for key in month.redis.scan_iter(f"cadencia:hopper:run{run_id}:*"):
        month.redis.delete(key)
    dial = rq_queue(DIAL_QUEUE, connection=month.redis)
    registry = ScheduledJobRegistry(queue=dial)
    for jid in registry.get_job_ids():
        if jid.startswith(f"dial-run{run_id}-"):
            with contextlib.suppress(Exception):
                fetch_job(jid, month.redis).delete()


def run_day(month: Month, day: dt.date, first: dt.date) -> tuple[DayStats, dict[str, Any]]:
    """One daily cycle: plan, execute slot by slot, close, payments; the money so far."""
    stats = DayStats(day)
    month.world = load_world(month.engine, month.campaign)
    stats.customers = len(month.world)
    with timed(month, stats, "plan"):
        plan_day(month, day, stats)
    with timed(month, stats, "read_queue"):
        batches = scheduled_batches(month, stats.run_id)
    deferred: list[tuple[dt.datetime, MessageBatch]] = []
    for slot, start in enumerate(slot_starts(month.campaign, day)):
        with timed(month, stats, "voice"):
            voice_slot(month, stats, slot, start)
        with timed(month, stats, "messages"):
            message_slot(month, stats, start, batches.get(start, []), deferred)
    stats.messages["deferred_past_the_day"] += sum(len(b.messages) for _, b in deferred)
    with timed(month, stats, "close"):
        close_day(month, stats)
        cleanup_run(month, stats.run_id)
    with timed(month, stats, "payments"):
        payments_of_the_day(month, stats)
    with timed(month, stats, "money_report"):
        found = uplift_between(month.engine, first, day, campaign=month.campaign.name)
    return stats, (found[0] if found else {})


def pct(a: float | None, b: float | None) -> float | None:
    """``a`` over ``b`` minus one, in percent."""
    if a is None or not b:
        return None
    return round(100.0 * (a / b - 1.0), 2)


def day_record(stats: DayStats, money: dict[str, Any]) -> dict[str, Any]:
    """The JSON of one day."""
    arms = money.get("arms", {})
    vs = (money.get("uplift_per_customer") or {}).get("vs_challenger")
    opt = (arms.get("optimised") or {}).get("per_customer")
    chal = (arms.get("challenger") or {}).get("per_customer")
    return {
        "day": stats.day.isoformat(),
        "weekday": stats.day.strftime("%a"),
        "run_id": stats.run_id,
        "run_state": stats.state,
        "campaign_customers": stats.customers,
        "planned_by_channel": stats.planned,
        "planned_by_arm": stats.planned_by_arm,
        "planned_by_arm_and_channel": stats.planned_arm_channel,
        "broken_promise_follow_ups": stats.follow_ups,
        "voice_attempts_per_agent_hour": stats.voice_rate,
        "voice": {
            "planned": stats.voice_planned,
            "placed": stats.voice_placed,
            "executed_share": round(stats.voice_placed / stats.voice_planned, 4)
            if stats.voice_planned
            else None,
            "refused_by_the_guard_after_simulation": stats.voice_refused,
            "outcomes": dict(stats.voice_outcomes),
            "slots_dialed": stats.voice_slots,
            "slots_where_the_plan_filled_voice_capacity": stats.voice_slots_priced,
            "slots_whose_hopper_ran_dry": len(stats.voice_emptied_at),
            "mean_minutes_until_hopper_dry": round(
                sum(stats.voice_emptied_at) / len(stats.voice_emptied_at) / 60, 1
            )
            if stats.voice_emptied_at
            else None,
            "agent_talk_share": round(stats.voice_talk_s / stats.voice_agent_s, 3)
            if stats.voice_agent_s
            else None,
        },
        "messages": dict(stats.messages),
        "promises_and_payments": dict(stats.promises),
        "payments": stats.payments,
        "collected_today": {a: float(v) for a, v in stats.collected.items()},
        "collected_today_per_customer": {
            a: round(float(v) / arms[a]["customers"], 2)
            if (arms.get(a) or {}).get("customers")
            else None
            for a, v in stats.collected.items()
        },
        "so_far_per_customer": {a: (arms.get(a) or {}).get("per_customer") for a in ARMS},
        "so_far_uplift_vs_challenger": None
        if vs is None
        else {
            "difference": round(vs["difference"], 2),
            "ci95_low": round(vs["ci95_low"], 2),
            "ci95_high": round(vs["ci95_high"], 2),
            "pct": pct(opt, chal),
        },
        "seconds": stats.seconds,
    }


def learned_vs_true(month: Month, now: dt.datetime) -> list[dict[str, Any]]:
    """Per segment × channel: what the product learned against the truth of the contacts made."""
    model = learned_model(month.engine, month.campaign, now=now)
    out = []
    for cell in model["cells"]:
        t = month.truth.cells.get((cell["segment"], cell["channel"]), TrueCell())
        if not cell["attempts"] and not t.attempts:
            continue
        rpc = t.p_rpc / t.attempts if t.attempts else None
        promise = t.p_promise / t.rpc if t.rpc else None
        kept = t.p_kept / t.promises if t.promises else None
        out.append(
            {
                "segment": cell["segment"],
                "channel": cell["channel"],
                "attempts": cell["attempts"],
                "rpc": {
                    "true_over_attempts_made": None if rpc is None else round(rpc, 4),
                    "raw": cell["raw_rpc_rate"],
                    "learned_mean_over_24h": cell["learned_rpc_rate_mean_over_hours"],
                    "prior": cell["prior_rpc_rate"],
                },
                "promise": {
                    "true_over_rpc": None if promise is None else round(promise, 4),
                    "raw": cell["raw_promise_rate"],
                    "prior": cell["prior_promise_rate"],
                    "promises": cell["promises"],
                },
                "kept": {
                    "true_expected_share_paid": None if kept is None else round(kept, 4),
                    "raw": cell["raw_kept_rate"],
                    "prior": cell["prior_kept_rate"],
                    "settled": cell["settled_promises"],
                },
                "pay_per_contact": {
                    "true": None if promise is None or kept is None else round(promise * kept, 4),
                    "learned": cell["learned_pay_per_contact"],
                    "prior": cell["prior_pay_per_contact"],
                },
            }
        )
    return out


def learning_check(engine: Engine, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Every tracked promise (all debtors) against what the learned model counts."""
    settled = ("kept", "partly_kept", "broken")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Promise.status, Promise.amount, Promise.paid_amount)).all()
    by_status = Counter(str(r.status) for r in rows)
    shares = [
        min(1.0, float(r.paid_amount or 0) / float(r.amount)) if r.amount else 0.0
        for r in rows
        if r.status in settled
    ]
    learned_settled = sum(c["kept"]["settled"] for c in cells)
    learned_paid = sum((c["kept"]["raw"] or 0.0) * c["kept"]["settled"] for c in cells)
    return {
        "promises_tracked": len(rows),
        "promises_by_status": dict(by_status),
        "promises_settled": len(shares),
        "true_kept_share_of_settled": round(sum(shares) / len(shares), 4) if shares else None,
        "learned_model_promises": sum(c["promise"]["promises"] for c in cells),
        "learned_model_settled": learned_settled,
        "learned_kept_share_of_settled": round(learned_paid / learned_settled, 4)
        if learned_settled
        else None,
    }


def guard_refusals(engine: Engine) -> dict[str, dict[str, int]]:
    """Contacts the plan made that the guard refused at contact time, by channel and rule."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as conn:
        for channel, rules in conn.execute(
            sa.select(GuardDecisionRow.channel, GuardDecisionRow.rules).where(
                GuardDecisionRow.allowed.is_(False)
            )
        ):
            for rule in json.loads(rules or "[]"):
                if not rule.get("ok", True):
                    out[str(channel)][str(rule.get("rule"))] += 1
    return {c: dict(n) for c, n in out.items()}


def local_campaign(work: Path) -> Path:
    """The shipped Colombian campaign with larger challenger and holdout shares."""
    text = SHIPPED_CAMPAIGN.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^challenger_share\s*=.*$", f"challenger_share = {CHALLENGER_SHARE}", text)
    text = re.sub(r"(?m)^holdout_share\s*=.*$", f"holdout_share = {HOLDOUT_SHARE}", text)
    path = work / "co-tarjetas-month.toml"
    path.write_text(text, encoding="utf-8")
    load_campaign(path)  # validated like any campaign file
    return path


@contextlib.contextmanager
def database(args: argparse.Namespace, work: Path) -> Iterator[str]:
    """``--db``, a SQLite file with ``--sqlite``, or a throwaway PostgreSQL database (dropped)."""
    if args.db:
        yield args.db
        return
    if args.sqlite:
        yield f"sqlite:///{work}/month.db"
        return
    with throwaway_database(args.postgres, "month") as url:
        yield url


def portfolio_file(cache: Path, customers: int, seed: int) -> Path:
    """The generated Colombian portfolio (cached by size and seed)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"portfolio-co-{customers}-s{seed}.csv"
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
        generate_file(tmp, customers, seed, ("CO",))
        tmp.rename(path)
    return path


def limits_found(
    days: list[dict[str, Any]],
    total: dict[str, Any],
    truth_cells: list[dict[str, Any]],
    month: Month,
) -> list[str]:
    """What limits the targets, from this run's own figures and the model's structure."""
    out: list[str] = []
    arms = total.get("arms", {})
    vs = (total.get("uplift_per_customer") or {}).get("vs_challenger")
    chal = (arms.get("challenger") or {}).get("per_customer") or 0.0
    if vs is not None and chal:
        half = (vs["ci95_high"] - vs["ci95_low"]) / 2
        wanted = 0.15 * chal
        factor = (half / wanted) ** 2 if wanted else 0.0
        out.append(
            f"resolution: {arms['optimised']['customers']} optimised and "
            f"{arms['challenger']['customers']} challenger customers give a 95% interval of "
            f"±{half:,.0f} {total.get('currency')} per customer around the difference, "
            f"{100 * half / chal:.0f}% of the challenger's mean: a smaller uplift cannot be told "
            "from zero at this size"
            + (
                f"; a true 15% uplift would need about {factor:.1f}× as many customers per arm"
                if factor > 1
                else ""
            )
        )
    voice = [d for d in days if d["voice"]["planned"]]
    short = [d for d in voice if (d["voice"]["executed_share"] or 0) < 0.9]
    if short:
        worst = min(short, key=lambda d: d["voice"]["executed_share"])
        out.append(
            f"voice executed under 90% of its plan on {len(short)} of {len(voice)} dialing "
            f"days (worst {worst['day']}: {worst['voice']['executed_share']:.0%}); the pacer "
            "has no daily abandon advance (DialSession.snapshot passes no "
            "window_seconds_left), while the plan counts on the staffing model's attempts "
            "per agent-hour until the ledger measures a lower rate"
        )
    dialed = [d for d in voice if d["voice"]["slots_dialed"]]
    slots = sum(d["voice"]["slots_dialed"] for d in dialed)
    dry = sum(d["voice"]["slots_whose_hopper_ran_dry"] for d in dialed)
    if slots and dry > slots / 2:
        minutes = [d["voice"]["mean_minutes_until_hopper_dry"] for d in dialed]
        minutes = [m for m in minutes if m is not None]
        talk = [d["voice"]["agent_talk_share"] for d in dialed if d["voice"]["agent_talk_share"]]
        last_rate = dialed[-1].get("voice_attempts_per_agent_hour") or {}
        rate = last_rate.get("used")
        basis = (
            "the staffing model on the ledger's answer rate and talk time"
            if last_rate.get("model_basis") == "ledger"
            else "the staffing model on the campaign's priors"
        )
        priced = sum(d["voice"]["slots_where_the_plan_filled_voice_capacity"] for d in dialed)
        out.append(
            f"the voice plan is below what the floor carries: {dry} of {slots} dial sessions ran "
            f"out of leads before their hour ended (after {sum(minutes) / len(minutes):.0f} min "
            f"on average; agents talked {sum(talk) / len(talk):.0%} of their time), so voice "
            "executes its whole plan while agents sit idle. The optimised plan filled its voice "
            f"capacity in {priced} of those slots (a positive voice shadow price): elsewhere it "
            "chose fewer calls because their learned value fell to about their cost. Where "
            f"it is full, it counted on {rate} attempts per agent-hour on the last day "
            f"({basis}; campaigns/run/capacity.py uses the lower of that model and the rate "
            "measured in slots that still had calls to make)"
        )
    check = month.learning_check
    true_kept = check.get("true_kept_share_of_settled")
    learned_kept = check.get("learned_kept_share_of_settled")
    if true_kept is not None and learned_kept is not None and learned_kept < 0.6 * true_kept:
        out.append(
            "learning sees only the debtors still in the campaign: of "
            f"{check['promises_settled']} promises settled, {true_kept:.0%} of what was promised "
            f"was paid on average, but the learned model counts "
            f"{check['learned_model_settled']} of them and reads {learned_kept:.0%}: a debtor "
            "who keeps a promise "
            "cures and leaves the segment, taking the conversation, the promise and the "
            "payment out of what planning learns from (campaigns/run/planning.py:_load_data "
            "and campaigns/run/model.py:learned_model read histories and promise_fates for "
            "load_slice's customers only), so promise and kept rates are learned from those "
            "who did not pay and voice looks barely worth its cost"
        )
    first_voice = next((d for d in days if d["voice"]["planned"]), None)
    last_voice = next((d for d in reversed(days) if d["voice"]["planned"]), None)
    if first_voice and last_voice and first_voice is not last_voice:

        def voice_share(d: dict[str, Any]) -> float:
            mix = d["planned_by_arm_and_channel"].get("optimised", {})
            return mix.get("voice", 0) / max(1, sum(mix.values()))

        a, b = voice_share(first_voice), voice_share(last_voice)
        if b < a - 0.05:
            out.append(
                f"the optimised arm's plan moved from voice to messages ({a:.0%} voice on "
                f"{first_voice['day']}, {b:.0%} on {last_voice['day']}) while voice capacity "
                "went unused: as fatigue lowers what the ledger teaches a call is worth, a call's "
                "value nears its cost while a 4-peso email keeps most of its value"
            )
    out.append(
        "the value model has no fatigue or recency term: the truth's answer rate falls 15% "
        "per contact day in the last 7 and promises and payments drop after 4, but the plan "
        "values a debtor called every day like a fresh one (optimizer/value.py: "
        "segment × channel × hour only), so both arms spend capacity on tired debtors"
    )
    return out


STRUCTURAL_NOTES = (
    "the plan is myopic under Ley 2300's one channel per 7 days: a cheap message today "
    "locks the debtor out of voice for a week, which the day's value does not count",
    "rates are learned per segment × channel × local hour from this campaign's own contacts; "
    "hours the plan never tries keep their priors (learned_mean_over_24h averages them in), "
    "and the kept rate only counts promises whose grace period has ended",
    "email replies have no route into the product (no inbound email); the bench records "
    "them through the webhook-recording function so that email's true RPC can be learned",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=8_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2027-02-01", help="first day (a Monday by default)")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="emptied first and last")
    ap.add_argument("--db", default="", help="a database URL (migrated here; should be empty)")
    ap.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    ap.add_argument("--postgres", default=POSTGRES_ADMIN_URL, help="admin URL for the throwaway")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    ap.add_argument("--no-verify", action="store_true", help="skip the ledger chain check")
    args = ap.parse_args()
    first = dt.date.fromisoformat(args.start)
    days = [first + dt.timedelta(days=i) for i in range(args.days)]
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="cadencia-month-"))
    campaign_path = local_campaign(work)
    campaign = load_campaign(campaign_path)
    redis = Redis.from_url(args.redis)
    redis.flushdb()
    standin = start_standin(mix=WebhookMix(replied=0.0), max_stored=50_000)
    timings: dict[str, float] = {}
    try:
        with database(args, work) as url:
            t0 = time.perf_counter()
            migrate(url)
            portfolio = portfolio_file(args.cache_dir, args.customers, args.seed)
            validated = validate_file(portfolio, workers=2)
            if validated.errors:
                raise SystemExit("\n".join(str(e) for e in validated.errors[:20]))
            engine = make_engine(url)
            imported = load_portfolio(
                engine, validated, now=dt.datetime.combine(first, dt.time(), dt.UTC)
            )
            del validated
            timings["setup"] = time.perf_counter() - t0
            say(f"{args.customers} customers imported into {url.split(':', 1)[0]}; "
                f"campaign {campaign.name}, {args.days} days from {first}")  # fmt: skip
            month = Month(engine, redis, campaign, campaign_path, Truth(args.seed), standin,
                          args.seed, args.redis)  # fmt: skip
            records: list[dict[str, Any]] = []
            money: dict[str, Any] = {}
            for day in days:
                t_day = time.perf_counter()
                stats, money = run_day(month, day, first)
                records.append(day_record(stats, money))
                r = records[-1]
                say(
                    f"{day} {r['weekday']}: planned {sum(stats.planned.values())} "
                    f"(voice {stats.voice_planned}, placed {stats.voice_placed}), "
                    f"messages sent {stats.messages['sent']}, promises "
                    f"{sum(v for k, v in stats.promises.items() if not k.startswith('paid'))}, "
                    f"payments {stats.payments}, so far per customer "
                    f"{r['so_far_per_customer']} ({time.perf_counter() - t_day:.0f}s)"
                )
            t0 = time.perf_counter()
            end = month.at(days[-1] + dt.timedelta(days=1), 0)
            cells = learned_vs_true(month, end)
            month.learning_check = learning_check(engine, cells)
            refusals = guard_refusals(engine)
            timings["learned_model"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            chain = None if args.no_verify else verify(engine)
            timings["verify_chain"] = time.perf_counter() - t0
            with engine.connect() as conn:
                ledger_rows = conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar()
            engine.dispose()
    finally:
        month_runtime = locals().get("month")
        if month_runtime is not None:
            month_runtime.runtime.engine.dispose()
        standin.stop()
        redis.flushdb()
    arms = money.get("arms", {})
    vs = (money.get("uplift_per_customer") or {}).get("vs_challenger")
    opt = (arms.get("optimised") or {}).get("per_customer")
    chal = (arms.get("challenger") or {}).get("per_customer")
    uplift = pct(opt, chal)
    voice_days = [r for r in records if r["voice"]["planned"]]
    shares = [r["voice"]["executed_share"] for r in voice_days]
    targets = {
        "uplift_per_customer_vs_challenger_pct": uplift,
        "uplift_ci95": None
        if vs is None
        else [round(vs["ci95_low"], 2), round(vs["ci95_high"], 2)],
        "uplift_at_least_15pct_with_ci_above_zero": bool(
            uplift is not None and uplift >= 15.0 and vs is not None and vs["ci95_low"] > 0
        ),
        "voice_executed_share_min": min(shares) if shares else None,
        "voice_executed_share_by_day": {r["day"]: r["voice"]["executed_share"] for r in voice_days},
        "voice_at_least_90pct_every_day": bool(shares) and min(shares) >= 0.9,
    }
    out = {
        "bench": "month",
        "execution": (
            "simulated outcomes recorded through the production guard, ledger, "
            "webhook-recording, disposition and payments code; planning, dispatch and closing "
            "are the production run (campaigns.run.state.advance with execution_step)"
        ),
        "simulated": [
            "debtor behaviour (the hidden ground truth under 'truth')",
            "voice: the call centre (dialer.simulate) with the production Pacer, dialing the "
            "slot's real Redis hopper; no Asterisk",
            "messages: process_batch in this process (no RQ worker processes) against the "
            "SendGrid/Twilio stand-in over HTTP; delivery and replies drawn from the truth",
            "payments: a bank file per day drawn from the truth",
            "no portfolio re-import: days past due do not advance",
        ],
        "customers": args.customers,
        "campaign_customers_first_day": records[0]["campaign_customers"] if records else None,
        "imported": imported.as_dict(),
        "database": url.split(":", 1)[0].split("+")[0],
        "campaign": {
            "file": "bench-local copy of examples/co-tarjetas.toml",
            "challenger_share": campaign.experiment.challenger_share,
            "holdout_share": campaign.experiment.holdout_share,
            "why": "the shipped 0.10 / 0.02 shares leave arms too small to compare in a month",
        },
        "days": args.days,
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "seed": args.seed,
        "truth": month.truth.truth_table(),
        "per_day": records,
        "total": money,
        "targets": targets,
        "learned_vs_true": cells,
        "learning_check": month.learning_check,
        "guard_refusals_by_channel_and_rule": refusals,
        "limits": limits_found(records, money, cells, month),
        "structural_notes": list(STRUCTURAL_NOTES),
        "ledger": {
            "rows": ledger_rows,
            "chain_ok": None if chain is None else chain.ok,
        },
        "seconds": {
            **{k: round(v, 1) for k, v in timings.items()},
            **{f"days_{k}": round(v, 1) for k, v in month.seconds.items()},
            "total": round(time.perf_counter() - started, 1),
        },
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
