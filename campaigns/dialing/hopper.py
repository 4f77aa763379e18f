"""The Redis hopper of one campaign slot, rebuilt from the database when Redis lost it.

Keys (prefix ``cadencia:hopper:<name>:``): ``ready`` a sorted set of planned
contact ids by priority (the plan's order), ``leads`` their customer ids,
``taken`` the leads in progress, ``dialing`` those whose Originate may have
gone out, ``unknown`` those in progress when the hopper was rebuilt (nobody
can say whether they were dialed), ``meta`` proves the hopper exists,
``due`` the callbacks by the epoch second they are due (``campaigns.dialing.callbacks``):
:meth:`RedisHopper.take` moves a due callback to the front of ``ready`` first.
A callback's member is ``cb<callback id>`` and its guard key ``callback:<id>``.

A planned call the floor could not reach in its hour is not dropped:
:meth:`RedisHopper.carry_over` moves it, when the slot's session ends, into
the next slot's hopper behind that slot's own plan, as a dialer's hopper
keeps a list's undialed leads for later in the day (the guard still judges
it at its new instant: legal hours, daily caps). Carried leads live in Redis
only: a hopper rebuilt from the database holds its own slot's plan.

The plan lives in the database: :meth:`RedisHopper.ensure` rebuilds a lost
hopper from ``planned_contacts`` and the ledger (a planned contact with an
attempt row is in progress, as unknown; one without is ready). Taking is one
Lua script, so a lead is never both ready and taken, nor neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence

import sqlalchemy as sa
from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS
from campaigns.run.stored import plan_key
from campaigns.storage.models import PlannedContact
from dialer.session import Lead

_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[1], -2, id)
end
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('SADD', KEYS[2], id)
end
return ids
"""


# Move the ready planned contacts (not callbacks) of one hopper behind the
# leads of another that exists: KEYS ready, leads, target ready, target meta,
# target leads; ARGV the score offset that puts them behind the target's own.
_CARRY = """
if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local moved = 0
for i = 1, #ids, 2 do
  local id = ids[i]
  if string.sub(id, 1, 2) ~= 'cb' then
    local customer = redis.call('HGET', KEYS[2], id)
    redis.call('ZREM', KEYS[1], id)
    if customer then
      redis.call('HSET', KEYS[5], id, customer)
      redis.call('ZADD', KEYS[3], tonumber(ARGV[1]) + tonumber(ids[i + 1]), id)
      moved = moved + 1
    end
  end
end
return moved
"""
# Carried leads rank behind the receiving slot's own plan (ranks 0..N-1).
CARRIED_RANK = 1_000_000


def reserved_keys(engine: Engine, keys: Sequence[str]) -> set[str]:
    """Which guard keys already have an attempt row in the ledger."""
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(keys), 500):
            found |= set(
                conn.execute(
                    sa.select(EVENTS.c.idempotency_key).where(
                        EVENTS.c.idempotency_key.in_(keys[start : start + 500])
                    )
                ).scalars()
            )
    return found


CALLBACK_PREFIX = "callback:"


def callback_key(callback_id: int) -> str:
    """The guard key of the attempt that dials callback ``callback_id``."""
    return f"{CALLBACK_PREFIX}{callback_id}"


def _planned_id(lead: Lead) -> str:
    """The lead's member in the hopper's sets: the planned contact id, or ``cb<callback id>``."""
    prefix, _, number = lead.key.partition(":")
    if prefix == "callback" and number.isdigit():
        return f"cb{number}"
    if prefix != "plan" or not number.isdigit():
        raise ValueError(f"hopper lead key {lead.key!r} is not plan:<planned contact id>")
    return number


def _key_of(member: str) -> str:
    return callback_key(int(member[2:])) if member.startswith("cb") else plan_key(int(member))


class RedisHopper:
    """The session's ``Hopper`` for run ``run_id``, slot ``slot``."""

    def __init__(
        self,
        redis: Redis,
        run_id: int,
        slot: int,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.redis, self.run_id, self.slot = redis, run_id, slot
        # the instant callbacks fall due against (a compressed day's in tests)
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        base = f"cadencia:hopper:run{run_id}:s{slot}:"
        self.k_ready, self.k_leads, self.k_taken = base + "ready", base + "leads", base + "taken"
        self.k_dialing, self.k_unknown, self.k_meta = (
            base + "dialing",
            base + "unknown",
            base + "meta",
        )
        self.k_due = base + "due"
        self._take = redis.register_script(_TAKE)
        self._carry = redis.register_script(_CARRY)

    # ---- filling ------------------------------------------------------------
    def exists(self) -> bool:
        """True when the hopper is in Redis."""
        return bool(self.redis.exists(self.k_meta))

    def fill(self, contacts: Sequence[tuple[int, str]], reserved: Collection[str] = ()) -> bool:
        """Load (planned contact id, customer id) in priority order; once only.

        Returns False (and changes nothing) when the hopper already exists, so
        a dispatch repeated after a crash does not put back leads already
        taken. Contacts whose guard key is in ``reserved`` (an attempt exists
        in the ledger) go in as in progress and unknown: they may have been
        dialed, so they are reconciled, never dialed blindly.
        """
        if not self.redis.hsetnx(self.k_meta, "source", "plan"):
            return False
        self._load(contacts, set(reserved))
        return True

    def ensure(self, engine: Engine) -> bool:
        """Rebuild from the database if Redis lost the hopper; True when it rebuilt."""
        if self.exists():
            return False
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(PlannedContact.id, PlannedContact.customer_id)
                .where(
                    PlannedContact.run_id == self.run_id,
                    PlannedContact.slot == self.slot,
                    PlannedContact.channel == "voice",
                    PlannedContact.status.in_(("planned", "dispatched")),
                )
                .order_by(PlannedContact.rank, sa.desc(PlannedContact.value), PlannedContact.id)
            ).all()
        contacts = [(int(r.id), str(r.customer_id)) for r in rows]
        reserved = reserved_keys(engine, [plan_key(pid) for pid, _ in contacts])
        if not self.redis.hsetnx(self.k_meta, "source", "rebuilt"):
            return False  # another worker rebuilt it meanwhile
        self._load(contacts, reserved)
        return True

    def add_callback(
        self, callback_id: int, customer_id: str, due: dt.datetime, *, in_progress: bool = False
    ) -> None:
        """Put a callback in, handed out first once ``due`` has come.

        ``in_progress``: its attempt is reserved and may have been dialed
        (a rebuilt hopper), so it is reconciled, never dialed blindly.
        """
        member = f"cb{callback_id}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.k_leads, member, customer_id)
        if in_progress:
            pipe.sadd(self.k_taken, member)
            pipe.sadd(self.k_unknown, member)
        else:
            pipe.zadd(self.k_due, {member: due.timestamp()})
        pipe.execute()

    def _load(self, contacts: Sequence[tuple[int, str]], reserved: set[str]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        if contacts:
            pipe.hset(self.k_leads, mapping={str(pid): cid for pid, cid in contacts})
        for rank, (pid, _) in enumerate(contacts):
            if plan_key(pid) in reserved:
                pipe.sadd(self.k_taken, str(pid))
                pipe.sadd(self.k_unknown, str(pid))
            else:
                pipe.zadd(self.k_ready, {str(pid): rank})
        pipe.hset(self.k_meta, "filled", str(len(contacts)))
        pipe.execute()

    # ---- the Hopper protocol ----------------------------------------------
    def _leads(self, ids: Sequence[bytes | str]) -> list[Lead]:
        if not ids:
            return []
        names = [i.decode() if isinstance(i, bytes) else i for i in ids]
        customers = self.redis.hmget(self.k_leads, names)
        return [
            Lead(_key_of(n), c.decode() if isinstance(c, bytes) else str(c))
            for n, c in zip(names, customers, strict=True)
            if c is not None
        ]

    def take(self, n: int) -> list[Lead]:
        """The next ``n`` leads by priority, moved to "taken"."""
        if n <= 0:
            return []
        ids = self._take(
            keys=[self.k_ready, self.k_taken, self.k_due], args=[n, self.now().timestamp()]
        )
        return self._leads(list(ids))

    def in_progress(self) -> list[Lead]:
        """Leads taken and not finished, in plan order."""
        ids = sorted(self.redis.smembers(self.k_taken), key=_order)
        return self._leads(list(ids))

    def mark_dialing(self, lead: Lead) -> None:
        """Just before the Originate goes out."""
        self.redis.sadd(self.k_dialing, _planned_id(lead))

    def unmark_dialing(self, lead: Lead) -> None:
        """The Originate was provably not sent."""
        self.redis.srem(self.k_dialing, _planned_id(lead))

    def was_dialing(self, lead: Lead) -> bool:
        """An Originate may have gone out, or the hopper was rebuilt and cannot tell."""
        pid = _planned_id(lead)
        return bool(self.redis.sismember(self.k_dialing, pid)) or bool(
            self.redis.sismember(self.k_unknown, pid)
        )

    def give_back(self, lead: Lead) -> None:
        """Back to the front of the line (not dialed)."""
        pid = _planned_id(lead)
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(self.k_taken, pid)
        pipe.zadd(self.k_ready, {pid: -1})
        pipe.execute()

    def finish(self, lead: Lead) -> None:
        """Done with the lead for this slot."""
        pid = _planned_id(lead)
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(self.k_taken, pid)
        pipe.srem(self.k_dialing, pid)
        pipe.srem(self.k_unknown, pid)
        pipe.execute()

    def remaining(self) -> int:
        """Leads not yet taken, callbacks not yet due included."""
        return int(self.redis.zcard(self.k_ready)) + int(self.redis.zcard(self.k_due))

    def waiting_callbacks(self) -> list[int]:
        """Callbacks still waiting to be taken (not yet due, or due and not taken)."""
        members = [*self.redis.zrange(self.k_due, 0, -1), *self.redis.zrange(self.k_ready, 0, -1)]
        names = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        return [int(n[2:]) for n in names if n.startswith("cb")]

    def carry_over(self, into: RedisHopper) -> int:
        """Move the planned leads nobody took into ``into`` (behind its own); how many moved.

        Nothing moves when ``into`` does not exist (the day's last slot, or a
        slot never dispatched). Callbacks stay: they belong to their slot's
        window and are closed with it (``campaigns.dialing.callbacks``).
        """
        keys = [self.k_ready, self.k_leads, into.k_ready, into.k_meta, into.k_leads]
        return int(self._carry(keys=keys, args=[CARRIED_RANK]))

    def clear(self) -> None:
        """Delete the hopper (the slot is over)."""
        self.redis.delete(
            self.k_ready,
            self.k_leads,
            self.k_taken,
            self.k_dialing,
            self.k_unknown,
            self.k_meta,
            self.k_due,
        )


def _order(member: bytes | str) -> tuple[int, int]:
    """Plan order for planned contacts, callbacks after them by id."""
    name = member.decode() if isinstance(member, bytes) else member
    return (1, int(name[2:])) if name.startswith("cb") else (0, int(name))
