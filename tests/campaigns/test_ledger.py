"""The contact ledger: hash chain, atomic check-and-reserve under races, fail closed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import multiprocessing
import threading
import time

import pytest
import sqlalchemy as sa

from campaigns.ledger.chain import EVENTS, LEDGER_LOCK_KEY, LedgerEntry, append_now, verify
from campaigns.ledger.guard import GuardResult, guard_and_reserve
from campaigns.ledger.outcomes import record_outcome
from campaigns.storage.db import make_engine
from tests.support.components import free_port
from tests.support.portfolio import load_rows, row, us_row
from tests.support.race import contend
from tests.support.requests import (
    TUESDAY_10_BOGOTA,
    TUESDAY_11_NEW_YORK,
    colombian_call,
    us_call,
)
from tests.support.tamper import ledger_opened


def entry(i: int) -> LedgerEntry:
    return LedgerEntry(
        at=TUESDAY_10_BOGOTA + dt.timedelta(minutes=i),
        customer_id=f"C{i % 3}",
        debt_ids=(f"A{i}",),
        channel="sms",
        direction="outbound",
        kind="attempt",
        outcome="delivered",
        extra={"provider_id": f"SM{i}"},
        idempotency_key=f"k{i}",
    )


def test_chain_verifies_and_detects_edit_deletion_and_truncation(database_url: str) -> None:
    engine = make_engine(database_url)
    ids = append_now(engine, [entry(i) for i in range(5)], now=TUESDAY_10_BOGOTA)
    ids += append_now(engine, [entry(i) for i in range(5, 8)], now=TUESDAY_10_BOGOTA)
    assert append_now(engine, [entry(2)], now=TUESDAY_10_BOGOTA) == [ids[2]]  # idempotent
    assert verify(engine).as_dict() == {"ok": True, "events": 8, "problem": None, "event_id": None}

    with ledger_opened(engine) as conn:
        conn.execute(
            sa.text("UPDATE contact_events SET outcome = 'failed' WHERE id = :i"), {"i": ids[3]}
        )
    report = verify(engine)
    assert (report.ok, report.event_id, report.problem) == (
        False,
        ids[3],
        "this row was edited after it was written",
    )
    with ledger_opened(engine) as conn:
        conn.execute(
            sa.text("UPDATE contact_events SET outcome = 'delivered' WHERE id = :i"), {"i": ids[3]}
        )
        conn.execute(sa.text("DELETE FROM contact_events WHERE id = :i"), {"i": ids[5]})
    report = verify(engine)
    assert (report.ok, report.event_id) == (False, ids[6])
    assert report.problem == "a row before this one was deleted or altered"
    engine.dispose()


def test_appended_rows_read_back_as_written_in_order(database_url: str) -> None:
    engine = make_engine(database_url)
    first = append_now(engine, [entry(i) for i in range(3)], now=TUESDAY_10_BOGOTA)
    # COPY's text format escapes tabs, line ends and backslashes: they must round-trip.
    odd = dataclasses.replace(
        entry(5), campaign="tab\there\nnext \\ ñ", extra={"note": "tab\there\nnext \\ ñ \x01"}
    )
    ids = append_now(engine, [entry(3), entry(4), odd], now=TUESDAY_11_NEW_YORK)
    assert first + ids == sorted(first + ids) and len(set(first + ids)) == 6
    with engine.connect() as conn:
        rows = (
            conn.execute(sa.select(EVENTS).where(EVENTS.c.id.in_(ids)).order_by(EVENTS.c.id))
            .mappings()
            .all()
        )
    assert [r["idempotency_key"] for r in rows] == ["k3", "k4", "k5"]
    assert rows[0]["at"] == TUESDAY_10_BOGOTA + dt.timedelta(minutes=3)
    assert rows[0]["recorded_at"] == TUESDAY_11_NEW_YORK
    assert (rows[0]["outcome"], rows[0]["resolves_id"], rows[0]["duration_s"]) == (
        "delivered",
        None,
        None,
    )
    assert json.loads(rows[2]["extra"]) == {"note": "tab\there\nnext \\ ñ \x01"}
    assert rows[2]["campaign"] == "tab\there\nnext \\ ñ"
    assert json.loads(rows[2]["debt_ids"]) == ["A5"]
    assert verify(engine).ok
    engine.dispose()


def test_a_naive_instant_is_refused_and_nothing_is_written(database_url: str) -> None:
    engine = make_engine(database_url)
    naive = dataclasses.replace(entry(1), at=dt.datetime(2026, 3, 3, 10, 0))
    with pytest.raises(ValueError, match="k1: at=2026-03-03T10:00:00 has no UTC offset"):
        append_now(engine, [entry(0), naive], now=TUESDAY_10_BOGOTA)
    assert verify(engine).events == 0
    engine.dispose()


def test_truncated_tail_is_detected(database_url: str) -> None:
    engine = make_engine(database_url)
    ids = append_now(engine, [entry(i) for i in range(4)], now=TUESDAY_10_BOGOTA)
    with ledger_opened(engine) as conn:
        conn.execute(sa.text("DELETE FROM contact_events WHERE id = :i"), {"i": ids[-1]})
    report = verify(engine)
    assert (
        not report.ok
        and report.problem is not None
        and "rows at the end were deleted" in report.problem
    )
    engine.dispose()


def test_eight_processes_race_for_a_customer_whose_limit_is_one(database_url: str) -> None:
    engine = make_engine(database_url)
    load_rows(engine, [row()], now=TUESDAY_10_BOGOTA)
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    workers = [
        ctx.Process(
            target=contend, args=(database_url, f"race-{i}", TUESDAY_10_BOGOTA, barrier, results)
        )
        for i in range(8)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    winners = [key for key, allowed, _ in outcomes if allowed]
    assert len(winners) == 1
    losers = [failed for _, allowed, failed in outcomes if not allowed]
    assert all("co-una-vez-al-dia" in failed for failed in losers)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        pending = (
            conn.execute(
                sa.text(
                    "SELECT idempotency_key FROM contact_events"
                    " WHERE kind = 'attempt' AND status = 'pending'"
                )
            )
            .scalars()
            .all()
        )
        refusals = conn.execute(
            sa.text("SELECT count(*) FROM guard_decisions WHERE NOT allowed")
        ).scalar()
    assert pending == winners and refusals == 7
    assert verify(engine).ok
    engine.dispose()


def test_guard_fails_closed_when_the_ledger_is_unreachable() -> None:
    engine = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    (result,) = guard_and_reserve(engine, [colombian_call("k1")], now=TUESDAY_10_BOGOTA)
    assert not result.allowed and result.attempt_id is None
    (rule,) = result.decision.results
    assert rule.rule == "ledger-unavailable" and "ledger unreachable" in rule.detail
    engine.dispose()


def test_retried_request_is_replayed_not_reserved_twice(database_url: str) -> None:
    engine = make_engine(database_url)
    load_rows(engine, [row()], now=TUESDAY_10_BOGOTA)
    (first,) = guard_and_reserve(engine, [colombian_call("plan-7:C1:voice")], now=TUESDAY_10_BOGOTA)
    (again,) = guard_and_reserve(engine, [colombian_call("plan-7:C1:voice")], now=TUESDAY_10_BOGOTA)
    assert first.allowed and not first.replayed
    assert again.replayed and again.attempt_id == first.attempt_id
    assert verify(engine).events == 1
    engine.dispose()


def test_missing_consent_fails_closed_and_the_reason_is_recorded(database_url: str) -> None:
    engine = make_engine(database_url)
    load_rows(engine, [row(phone_1_consent="")], now=TUESDAY_10_BOGOTA)
    (result,) = guard_and_reserve(engine, [colombian_call("k")], now=TUESDAY_10_BOGOTA)
    assert not result.allowed
    failed = {r.rule for r in result.decision.results if not r.ok}
    assert "co-canales-autorizados" in failed
    with engine.connect() as conn:
        recorded = conn.execute(sa.text("SELECT allowed, rules FROM guard_decisions")).one()
    assert recorded[0] in (False, 0) and "co-canales-autorizados" in recorded[1]
    engine.dispose()


def test_in_flight_call_blocks_a_second_until_its_outcome_is_recorded(database_url: str) -> None:
    engine = make_engine(database_url)
    load_rows(engine, [us_row()], now=TUESDAY_11_NEW_YORK)
    (first,) = guard_and_reserve(engine, [us_call("a")], now=TUESDAY_11_NEW_YORK)
    later = TUESDAY_11_NEW_YORK + dt.timedelta(minutes=10)
    (second,) = guard_and_reserve(engine, [us_call("b", later)], now=later)
    assert first.allowed and not second.allowed
    # In flight, the first call counts as its worst case: a conversation, which
    # would start Reg F's 7-day cooldown (12 CFR 1006.14(b)(2)(i)(B)).
    assert [r.rule for r in second.decision.results if not r.ok] == [
        "regf-conversation-cooldown",
        "cadencia-in-flight",
    ]
    assert first.attempt_id is not None
    record_outcome(engine, first.attempt_id, "busy", at=later, now=later)
    record_outcome(engine, first.attempt_id, "busy", at=later, now=later)  # delivered twice
    (third,) = guard_and_reserve(engine, [us_call("c", later)], now=later)
    assert third.allowed
    assert verify(engine).events == 3  # two attempts and one outcome row
    engine.dispose()


def test_consent_withdrawn_while_the_guard_waits_for_the_ledger_lock_is_honoured(
    postgres_url: str,
) -> None:
    """Phase one decides without the lock; what the bank changes meanwhile must still count.

    PostgreSQL only: SQLite serialises whole transactions, so there a guard
    never waits between its two phases.
    """
    engine = make_engine(postgres_url)
    load_rows(engine, [row()], now=TUESDAY_10_BOGOTA)
    results: list[GuardResult] = []
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEDGER_LOCK_KEY})
        guard = threading.Thread(
            target=lambda: results.extend(
                guard_and_reserve(engine, [colombian_call("k")], now=TUESDAY_10_BOGOTA)
            )
        )
        guard.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        for _ in range(200):
            if holder.execute(sa.text(waiting)).scalar():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the guard never waited for the ledger lock")
        with engine.begin() as bank:  # the bank's file re-imported: consent denied
            bank.execute(
                sa.text("UPDATE contact_points SET consent = 'denied', consent_at = :at"),
                {"at": TUESDAY_10_BOGOTA - dt.timedelta(minutes=5)},
            )
        holder.commit()
    guard.join(timeout=30)
    (result,) = results
    assert not result.allowed and result.attempt_id is None
    assert "co-canales-autorizados" in {r.rule for r in result.decision.results if not r.ok}
    assert verify(engine).events == 0
    engine.dispose()
