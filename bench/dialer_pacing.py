"""Benchmark the pacing policies in the call-center simulator; prints ONE JSON object.

    .venv/bin/python -m bench.dialer_pacing --agents 50 --live-rate 0.25 --talk 180 \\
        --wrap 30 --hours 8 --mode predictive [--abandon-target 0.03] [--days 3] [--seed 1]
    .venv/bin/python -m bench.dialer_pacing --per-slot --days 3 [--sqlite]

Scenario: a dialed call is a live answer with probability
``--live-rate`` after a 5-25 s ring, an answering machine with 0.15 (AMD decides
in 2.5 s), busy 0.10, otherwise no answer until a 30 s timeout; talk time is
log-normal (mean ``--talk``, CV 0.6); wrap-up ``--wrap`` s; a live answer with
no agent free within 2 s is abandoned. ``--mode`` may be given several times
(or ``all``) to compare policies on the same scenario and seed; then the
object has one entry per mode under ``modes`` plus the ratios between them.

``--per-slot`` runs the predictive pacer as production runs it next to the
continuous run, same scenario and seed: a new pacer every hour, as each
hourly dial session builds one, (a) with its estimates handed over through
``campaigns.dialing.pacer_memory`` (the code the dial job uses, on a
throwaway PostgreSQL database, ``--sqlite`` for a file) and (b) from the
priors each hour, as before that hand-over existed. The abandon budget is
carried over in all three (the dial job seeds it from the ledger's counts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from typing import Any

from sqlalchemy.engine import Engine, make_url

from bench.support.throwaway import POSTGRES_ADMIN_URL, throwaway_database
from campaigns.dialing.pacer_memory import restore_pacer, save_pacer
from campaigns.storage.db import make_engine, migrate
from dialer.abandon_budget import AbandonRule
from dialer.estimators import CallOutcome
from dialer.pacing import Decision, Mode, Pacer, PacingConfig, PacingPriors, PacingSnapshot
from dialer.simulate import Policy, Scenario, SimulationResult, simulate
from dialer.vicidial import AdaptMethod, VicidialAdaptive, VicidialConfig

MODES = ("predictive", "progressive", "vicidial")


def make_policy(mode: str, sc: Scenario, target: float) -> Policy:
    """The policy under test; priors are deliberately generic, not the scenario's truth."""
    if mode == "vicidial":
        return VicidialAdaptive(
            VicidialConfig(
                method=AdaptMethod.ADAPT_AVERAGE, adaptive_dropped_percentage=100.0 * target
            )
        )
    priors = PacingPriors(live_rate=0.2, talk_mean=150.0, talk_cv=0.8, wrap_mean=20.0, wrap_cv=0.3)
    return Pacer(PacingConfig(mode=Mode(mode), rule=AbandonRule(max_rate=target), priors=priors))


def run(mode: str, sc: Scenario, target: float, days: int, seed: int) -> dict[str, Any]:
    """Simulate ``days`` shifts of one mode; the figures the issue asks for."""
    started = time.perf_counter()
    res = simulate(sc, make_policy(mode, sc, target), days=days, seed=seed)
    return summarise(sc, res, days, started)


def summarise(sc: Scenario, res: SimulationResult, days: int, started: float) -> dict[str, Any]:
    """The figures of one simulated run."""
    talk = res.talk_minutes_per_agent_hour
    return {
        "talk_minutes_per_agent_hour": round(talk, 2),
        "pct_of_limit": round(100.0 * talk / sc.no_idle_limit, 2),
        "abandon_pct": round(100.0 * res.abandon_rate, 3),
        "max_daily_abandon_pct": round(100.0 * res.max_daily_abandon_rate, 3),
        "daily_abandon_pct": [round(100.0 * d.abandon_rate, 3) for d in res.days],
        "daily_pct_of_limit": [
            round(100.0 * d.talk_minutes_per_agent_hour / sc.no_idle_limit, 2) for d in res.days
        ],
        "calls_per_hour": round(res.calls_per_hour, 1),
        "live_answers_per_day": round(sum(d.live for d in res.days) / days, 1),
        "hard_stop_share": round(
            sum(d.hard_stop_ticks for d in res.days) / sum(d.ticks for d in res.days), 4
        ),
        "sim_seconds": round(time.perf_counter() - started, 2),
    }


class PerSlotPacer:
    """The predictive pacer as the dial sessions run it: a new one each hour.

    ``engine`` set: each new pacer restores what the previous one saved, through
    ``restore_pacer``/``save_pacer`` (the dial job's code); ``None``: it starts
    from the priors, as every session did before the hand-over existed.
    """

    CAMPAIGN = "bench-per-slot"

    def __init__(self, config: PacingConfig, engine: Engine | None) -> None:
        self.config, self.engine = config, engine
        self.pacer = Pacer(config)
        self.slot: int | None = None
        self.handovers = 0

    def _slot_at(self, now: float) -> None:
        slot = int(now // 3600)
        if slot == self.slot:
            return
        if self.slot is not None and self.engine is not None:
            save_pacer(self.engine, self.CAMPAIGN, self.pacer, now=dt.datetime.now(dt.UTC))
        fresh = Pacer(self.config, self.pacer.budget)
        if self.engine is not None and restore_pacer(self.engine, self.CAMPAIGN, fresh):
            self.handovers += 1
        self.pacer, self.slot = fresh, slot

    def decide(self, snapshot: PacingSnapshot) -> Decision:
        """The current slot's pacer decides (a new slot starts a new pacer first)."""
        self._slot_at(snapshot.now)
        return self.pacer.decide(snapshot)

    def record_call_resolved(self, outcome: CallOutcome, seconds_from_originate: float) -> None:
        """Forwarded to the current slot's pacer."""
        self.pacer.record_call_resolved(outcome, seconds_from_originate)

    def record_live_answer(self, day: dt.date, *, abandoned: bool) -> None:
        """Forwarded to the current slot's pacer."""
        self.pacer.record_live_answer(day, abandoned=abandoned)

    def record_talk(self, seconds: float) -> None:
        """Forwarded to the current slot's pacer."""
        self.pacer.record_talk(seconds)

    def record_wrap(self, seconds: float) -> None:
        """Forwarded to the current slot's pacer."""
        self.pacer.record_wrap(seconds)


def per_slot(sc: Scenario, target: float, days: int, seed: int, url: str) -> dict[str, Any]:
    """Continuous, per slot with the hand-over, and per slot from the priors; the gaps."""
    migrate(url)
    engine = make_engine(url)
    template = make_policy("predictive", sc, target)
    assert isinstance(template, Pacer)
    out: dict[str, Any] = {
        "execution": (
            "call centre simulated by dialer.simulate (no Asterisk); the production Pacer, a new "
            "one per hour, its state handed over by campaigns.dialing.pacer_memory on "
            + make_url(url).get_backend_name()
        ),
        "continuous": run("predictive", sc, target, days, seed),
    }
    try:
        for label, eng in (("per_slot_remembered", engine), ("per_slot_from_priors", None)):
            started = time.perf_counter()
            policy = PerSlotPacer(template.config, eng)
            res = simulate(sc, policy, days=days, seed=seed)
            out[label] = {**summarise(sc, res, days, started), "handovers": policy.handovers}
    finally:
        engine.dispose()
    cont = out["continuous"]["pct_of_limit"]
    for label in ("per_slot_remembered", "per_slot_from_priors"):
        out[f"{label}_minus_continuous_points"] = round(out[label]["pct_of_limit"] - cont, 2)
    out["target_within_half_a_point"] = out["per_slot_remembered_minus_continuous_points"] >= -0.5
    out["target_abandon_within_rule_every_day"] = (
        out["per_slot_remembered"]["max_daily_abandon_pct"] <= 100.0 * target
    )
    return out


def per_slot_on_a_database(a: argparse.Namespace, sc: Scenario) -> dict[str, Any]:
    """``per_slot`` on a throwaway PostgreSQL database, or a SQLite file with ``--sqlite``."""
    if a.sqlite:
        with tempfile.TemporaryDirectory() as work:
            return per_slot(sc, a.abandon_target, a.days, a.seed, f"sqlite:///{work}/pacer.db")
    with throwaway_database(a.postgres, "pacer") as url:
        return per_slot(sc, a.abandon_target, a.days, a.seed, url)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the modes, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--live-rate", type=float, default=0.25)
    ap.add_argument("--talk", type=float, default=180.0, help="mean talk seconds")
    ap.add_argument("--wrap", type=float, default=30.0, help="wrap-up seconds")
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--mode", action="append", choices=[*MODES, "all"])
    ap.add_argument("--abandon-target", type=float, default=0.03)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-slot", action="store_true", help="a new pacer per hour, as production")
    ap.add_argument("--sqlite", action="store_true", help="--per-slot's hand-over on a SQLite file")
    ap.add_argument("--postgres", default=POSTGRES_ADMIN_URL, help="admin URL for the throwaway")
    a = ap.parse_args(argv)
    modes = list(MODES) if not a.mode or "all" in a.mode else list(dict.fromkeys(a.mode))
    try:
        sc = Scenario(
            agents=a.agents,
            hours=a.hours,
            live_rate=a.live_rate,
            talk_mean=a.talk,
            wrap_seconds=a.wrap,
        )
        AbandonRule(max_rate=a.abandon_target)
    except ValueError as exc:
        ap.error(str(exc))
    out: dict[str, Any] = {
        "scenario": {
            "agents": a.agents,
            "live_rate": a.live_rate,
            "talk": a.talk,
            "wrap": a.wrap,
            "hours": a.hours,
            "days": a.days,
            "seed": a.seed,
            "abandon_target_pct": 100.0 * a.abandon_target,
            "no_idle_limit_talk_minutes_per_agent_hour": round(sc.no_idle_limit, 2),
        }
    }
    if a.per_slot:
        out["per_slot"] = per_slot_on_a_database(a, sc)
        print(json.dumps(out))
        return 0
    results = {m: run(m, sc, a.abandon_target, a.days, a.seed) for m in modes}
    if len(modes) == 1:
        out.update({"mode": modes[0], **results[modes[0]]})
    else:
        out["modes"] = results
        if "predictive" in results:
            pred = results["predictive"]["talk_minutes_per_agent_hour"]
            for other in ("progressive", "vicidial"):
                if other in results and results[other]["talk_minutes_per_agent_hour"] > 0:
                    ratio = pred / results[other]["talk_minutes_per_agent_hour"]
                    out[f"predictive_over_{other}"] = round(ratio, 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
