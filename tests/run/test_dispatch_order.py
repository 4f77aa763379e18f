"""Within one slot, the most valuable messages are queued first.

A slot's batches all fall due at its start. RQ's scheduler releases jobs due at
the same second in job-id order and workers take them first in, first out, so
both the dispatch order and the batch ids must rank a slot's channels by the
planned value per message; in channel order, bulk email went first and a
slot's SMS and WhatsApp could miss its close behind it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from redis import Redis
from rq.registry import ScheduledJobRegistry

from campaigns.queues import rq_queue
from campaigns.run.execute import execution_step
from campaigns.run.state import advance
from campaigns.storage.models import PlannedContact
from tests.faults.test_redis_restart import chilean_run
from tests.support.redis_server import PrivateRedis


def test_a_slots_batches_are_released_most_valuable_channel_first(tmp_path: Path) -> None:
    engine, run_id, now = chilean_run(tmp_path, voice=False)
    with PrivateRedis() as server:
        redis = Redis.from_url(server.url)
        queue = rq_queue("messages", connection=redis)
        assert advance(engine, run_id, now=now, dispatch=execution_step(queue)) == "executing"
        registry = ScheduledJobRegistry(queue=queue)
        # (score, id) is the order the scheduler releases them in
        released = [jid.decode() for jid, _ in redis.zrange(registry.key, 0, -1, withscores=True)]
        redis.close()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(PlannedContact.slot, PlannedContact.channel, PlannedContact.value).where(
                PlannedContact.run_id == run_id
            )
        ).all()
    values: dict[tuple[int, str], list[float]] = defaultdict(list)
    for slot, channel, value in rows:
        values[(int(slot), str(channel))].append(float(value))
    mean = {key: sum(v) / len(v) for key, v in values.items()}
    order: dict[int, list[str]] = defaultdict(list)
    for jid in released:
        slot = int(jid.split("-s", 1)[1].split("-", 1)[0])
        channel = jid.split("-")[4]  # msg-run1-s2-p00-sms-…
        if channel not in order[slot]:
            order[slot].append(channel)
    several = {slot: chans for slot, chans in order.items() if len(chans) > 1}
    assert several, "the plan should put several channels in one slot"
    # not merely alphabetical, which is the order they used to go out in
    assert any(channels != sorted(channels) for channels in several.values()), several
    for slot, channels in several.items():
        expected = sorted(channels, key=lambda c: -mean[(slot, c)])
        assert channels == expected, (slot, {c: round(mean[(slot, c)]) for c in channels})
    engine.dispose()
