"""Message batches through real RQ workers on real Redis, against the provider stand-in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from rq import Retry, SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from campaigns.ledger.chain import EVENTS, verify
from campaigns.messaging import enqueue_batch, job_id
from campaigns.portal.links import LINKS, live_link
from campaigns.queues import fetch_job, rq_worker
from campaigns.storage.models import ContactPoint, Customer, GuardDecisionRow
from channels import text_notice
from tests.support.components import free_port
from tests.support.messaging import World, set_zone, zone_at_local_hour

pytestmark = pytest.mark.redis


def attempts(world: World) -> dict[int, list[str]]:
    """Attempt id → its outcomes, in ledger order."""
    out: dict[int, list[str]] = {}
    with world.engine.connect() as conn:
        for row in conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)):
            if row.kind != "attempt":
                continue
            if row.resolves_id is None:
                out.setdefault(int(row.id), [])
            else:
                out.setdefault(int(row.resolves_id), []).append(row.outcome)
    return out


def outcome_rows(world: World, outcome: str) -> list[dict[str, object]]:
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.outcome == outcome)).all()
    return [json.loads(r.extra) for r in rows]


def job_notes(world: World) -> list[tuple[str, str]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(GuardDecisionRow.request_key, GuardDecisionRow.rules).where(
                GuardDecisionRow.allowed.is_(False)
            )
        ).all()
    return [(r.request_key, r.rules) for r in rows]


def test_email_batch_renders_guards_sends_and_records(world: World) -> None:
    customers = [f"U{i}" for i in range(6)]
    job = enqueue_batch(world.queue, world.batch(customers))
    assert job.failure_ttl is not None and job.result_ttl is not None
    world.drain()
    job = fetch_job(job_id(world.batch(customers)), world.redis)
    assert job.get_status() == "finished", job.exc_info
    assert job.return_value()["sent"] == 6
    emails = world.standin.state.sent_emails()
    assert sorted(e.to_email for e in emails) == sorted(f"mary{i}@example.com" for i in range(6))
    # One SendGrid request carried the whole batch.
    assert world.standin.state.counts["sendgrid.requests"] == 1
    first = next(e for e in emails if e.to_email == "mary0@example.com")
    assert "Mary" in (first.text or "") and "USD 2,500.00" in (first.text or "")
    # Regulation F 12 CFR 1006.6(e): the opt-out method rides in every US email.
    assert "https://bank.example/opt-out/U0/email" in (first.text or "")
    # The portal link carries an opaque reference; who it is for stays in the database,
    # one link per debtor, created for the whole batch at once.
    link = next(
        w for w in (first.text or "").split() if w.startswith("https://pay.bank.example/p/")
    )
    reference = link.rsplit("/", 1)[1]
    assert len(reference) >= 43 and "U0" not in reference and "default" not in reference
    with world.engine.connect() as conn:
        found = live_link(conn, reference, dt.datetime.now(dt.UTC))
        links = conn.execute(sa.select(LINKS.c.customer_id, LINKS.c.campaign)).all()
    assert found is not None and (found.customer_id, found.campaign) == ("U0", "default")
    assert sorted(links) == [(f"U{i}", "default") for i in range(6)]
    ledger = attempts(world)
    assert len(ledger) == 6 and all(v == ["sent"] for v in ledger.values())
    assert {e.custom_args["attempt_id"] for e in emails} == {str(a) for a in ledger}
    assert all(x["provider_id"] for x in outcome_rows(world, "sent"))
    assert verify(world.engine).ok


def test_sms_batch_one_request_each_and_rerun_sends_nothing_twice(world: World) -> None:
    batch = world.batch(["U0", "U1", "U2"], "sms")
    enqueue_batch(world.queue, batch)
    world.drain()
    texts = world.standin.state.sent_texts()
    assert sorted(t.to for t in texts) == ["+12125551000", "+12125551001", "+12125551002"]
    # The Reg F notice rides in the text; validity ends by the window's close.
    assert all((t.body or "").endswith(text_notice("en")) for t in texts)
    assert all(0 < int(t.validity_period or 0) <= 36_000 for t in texts)
    # The same batch enqueued again (a double dispatch) finds every key done.
    fetch_job(job_id(batch), world.redis).delete()
    enqueue_batch(world.queue, batch)
    world.drain()
    result = fetch_job(job_id(batch), world.redis).return_value()
    assert result["already_done"] == 3 and result["sent"] == 0
    assert len(world.standin.state.sent_texts()) == 3


def test_a_text_goes_to_the_consented_number_not_the_first_one(world: World) -> None:
    # TCPA: an autodialed text to a mobile needs the debtor's consent. The bank's
    # first number has none on record, their second one has: the text goes to
    # the second instead of being refused.
    with world.engine.begin() as conn:
        cid = conn.execute(sa.select(Customer.id).where(Customer.external_id == "U0")).scalar_one()
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.customer_id == cid, ContactPoint.kind == "phone")
            .values(consent="unknown", consent_at=None)
        )
        conn.execute(
            sa.insert(ContactPoint).values(
                customer_id=cid, kind="phone", value="+12125559999", line_type="mobile",
                position=2, consent="granted",
                consent_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC), consent_source="app",
            )
        )  # fmt: skip
    enqueue_batch(world.queue, world.batch(["U0", "U1"], "sms"))
    world.drain()
    texts = world.standin.state.sent_texts()
    assert sorted(t.to for t in texts) == ["+12125551001", "+12125559999"]
    assert job_notes(world) == []


def test_scheduled_for_its_slot_with_enqueue_at(world: World) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    batch = world.batch(["U0"], start=start)
    job = enqueue_batch(world.queue, batch)
    scheduled = ScheduledJobRegistry(queue=world.queue)
    assert job.id in scheduled.get_job_ids()
    rq_worker([world.queue], world.redis, SimpleWorker).work(burst=True, with_scheduler=True)
    assert world.standin.state.sent_emails() == []  # not before its slot
    assert job.id in scheduled.get_job_ids()
    world.drain(timeout=20)
    assert [e.to_email for e in world.standin.state.sent_emails()] == ["mary0@example.com"]


def test_429_then_202_is_retried_by_rq(world: World) -> None:
    world.standin.state.fail_next("sendgrid", 1, status=429, retry_after=1)
    batch = world.batch(["U0", "U1"])
    enqueue_batch(world.queue, batch, retry=Retry(max=3, interval=[1]))
    world.drain(timeout=20)
    job = fetch_job(job_id(batch), world.redis)
    assert job.get_status() == "finished"
    assert world.standin.state.counts["sendgrid.injected"] == 1
    assert len(world.standin.state.sent_emails()) == 2
    assert all(v == ["sent"] for v in attempts(world).values())


def test_retries_exhausted_settle_as_failed(world: World) -> None:
    world.standin.state.fail_next("twilio", 10, status=503)
    batch = world.batch(["U0"], "sms")
    enqueue_batch(world.queue, batch, retry=Retry(max=1, interval=[0]))
    world.drain(timeout=20)
    assert fetch_job(job_id(batch), world.redis).get_status() == "finished"
    assert list(attempts(world).values()) == [["failed"]]
    (extra,) = outcome_rows(world, "failed")
    assert extra["retries_exhausted"] is True and extra["status"] == 503


def test_permanent_400_is_dead_lettered_with_its_reason(world: World) -> None:
    # Twilio refuses a recipient who texted STOP (21610): permanent, never retried.
    world.standin.inbound("+12125551001", "+15005550006", "STOP")
    batch = world.batch(["U0", "U1"], "sms")
    enqueue_batch(world.queue, batch, retry=Retry(max=3, interval=[0]))
    world.drain()
    job = fetch_job(job_id(batch), world.redis)
    assert job.get_status() == "finished"
    assert job.return_value()["failed"] == 1 and job.return_value()["sent"] == 1
    (extra,) = outcome_rows(world, "failed")
    assert extra["status"] == 400 and extra["code"] == "21610" and extra["permanent"] is True
    assert world.standin.state.counts["twilio.requests"] == 2  # no retry of the refused one
    assert not FailedJobRegistry(queue=world.queue).get_job_ids()


def test_outside_allowed_hours_reschedules_to_the_next_allowed_slot(world: World) -> None:
    set_zone(world.engine, zone_at_local_hour(3), ["U0"])
    now = dt.datetime.now(dt.UTC)
    batch = world.batch(["U0", "U1"], not_after=now + dt.timedelta(hours=30))
    enqueue_batch(world.queue, batch)
    rq_worker([world.queue], world.redis, SimpleWorker).work(burst=True, with_scheduler=True)
    assert [e.to_email for e in world.standin.state.sent_emails()] == ["mary1@example.com"]
    scheduled = ScheduledJobRegistry(queue=world.queue)
    (later,) = scheduled.get_job_ids()
    when = scheduled.get_scheduled_time(later)
    # 08:00 local (Regulation F) is 4 to 6 hours after 03:xx local.
    assert dt.timedelta(hours=4) <= when - now <= dt.timedelta(hours=6)
    assert fetch_job(later, world.redis).args[0]["messages"] == [[batch.messages[0].key, "U0"]]


def test_outside_hours_past_the_deadline_and_closed_slots_drop_with_a_reason(
    world: World,
) -> None:
    set_zone(world.engine, zone_at_local_hour(3), ["U0"])
    now = dt.datetime.now(dt.UTC)
    enqueue_batch(world.queue, world.batch(["U0"], batch_id="late"))
    closed = world.batch(["U1"], batch_id="closed", start=now - dt.timedelta(hours=2))
    enqueue_batch(world.queue, closed)
    world.drain()
    assert world.standin.state.sent_emails() == []
    assert not ScheduledJobRegistry(queue=world.queue).get_job_ids()
    notes = dict(job_notes(world))
    assert "past the deadline" in notes["late:U0:email"]
    assert "slot closed" in notes["closed:U1:email"]


def test_a_retry_after_the_slot_closed_settles_what_never_went_out(world: World) -> None:
    world.standin.state.fail_next("twilio", 5, status=503)
    now = dt.datetime.now(dt.UTC)
    batch = world.batch(["U0"], "sms", start=now - dt.timedelta(minutes=60, seconds=-2))
    enqueue_batch(world.queue, batch, retry=Retry(max=2, interval=[3]))
    world.drain(timeout=20)
    assert world.standin.state.sent_texts() == []
    assert list(attempts(world).values()) == [["failed"]]
    (extra,) = outcome_rows(world, "failed")
    assert "slot closed" in extra["error"]


def test_unreachable_database_fails_closed_and_the_job_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "CADENCIA_DATABASE_URL", f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    )
    batch = world.batch(["U0"])
    enqueue_batch(world.queue, batch, retry=None)
    world.drain()
    assert fetch_job(job_id(batch), world.redis).get_status() == "failed"
    assert world.standin.state.sent_emails() == []
    assert world.standin.state.counts.get("sendgrid.requests", 0) == 0


def test_a_finished_batch_is_not_run_again_by_a_resync_and_a_late_rerun_blames_no_sent_message(
    world: World,
) -> None:
    """A resync looks for jobs Redis lost: one that finished stays finished, even
    though one of its messages was refused (no attempt). And a rerun after the
    slot closed (Redis lost it, the run recreated it late) notes as dropped only
    what was never attempted: a sent message gets no refusal beside it."""
    set_zone(world.engine, zone_at_local_hour(3), ["U1"])  # U1: outside allowed hours
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    batch = world.batch(["U0", "U1"], batch_id="r", start=start, minutes=60)
    enqueue_batch(world.queue, batch)
    world.drain()
    assert [e.to_email for e in world.standin.state.sent_emails()] == ["mary0@example.com"]
    first = fetch_job(job_id(batch), world.redis)
    assert first.get_status() == "finished"
    notes_before = job_notes(world)

    again = enqueue_batch(world.queue, batch, keep_finished=True)
    assert again.id == first.id and again.get_status() == "finished"
    assert len(world.queue) == 0 and not ScheduledJobRegistry(queue=world.queue).get_job_ids()
    assert job_notes(world) == notes_before

    # Redis lost the finished job; it comes back after the slot closed.
    world.redis.delete(first.key)
    late = dataclasses.replace(batch, not_after=start + dt.timedelta(seconds=1))
    enqueue_batch(world.queue, late, keep_finished=True, retry=None)
    world.drain()
    report = fetch_job(job_id(late), world.redis).return_value()
    assert report is not None and (report["dropped"], report["already_done"]) == (1, 1)
    late_notes = [key for key, rules in job_notes(world) if "slot closed" in rules]
    assert late_notes == ["r:U1:email"]  # never U0, whose email went out
    assert len(world.standin.state.sent_emails()) == 1


def test_a_job_enqueued_under_the_old_path_still_runs(world: World) -> None:
    """RQ keeps a job's function as a dotted path; jobs queued before the move still run."""
    customers = ["U0", "U1"]
    batch = world.batch(customers)
    world.queue.enqueue("campaigns.jobs.queue.send_batch_job", batch.to_payload())
    rq_worker([world.queue], world.redis, SimpleWorker).work(burst=True)
    assert sorted(e.to_email for e in world.standin.state.sent_emails()) == [
        "mary0@example.com",
        "mary1@example.com",
    ]
    assert all(v == ["sent"] for v in attempts(world).values())
