"""What the bank's file does to a contact point is in the ledger: retired, then relisted.

The files go through ``cadencia portfolio import`` as a campaign manager runs it;
the ledger is read back the way an auditor does (``cadencia audit verify``,
``audit contacts``) and the way the rules read it (``customer_histories``):
the events are chained, and they are not contacts.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.chain import EVENTS
from campaigns.ledger.history import customer_histories
from campaigns.storage.db import make_engine
from tests.campaigns.test_retired_points import C1_FIRST, C2_PHONE, import_file, rows
from tests.support.portfolio import row


def point_events(url: str) -> list[dict[str, Any]]:
    """The ledger's rows about contact points, in ledger order."""
    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(EVENTS)
            .where(EVENTS.c.kind.in_(("retired", "relisted")))
            .order_by(EVENTS.c.id)
        ).mappings()
        out = [dict(r) for r in found]
    engine.dispose()
    return out


def cli(db: str, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_retiring_and_relisting_a_point_are_chained_ledger_events_not_contacts(
    database_url: str, tmp_path: Path
) -> None:
    db = database_url
    day1 = rows(("300 123 4567", "310 555 0000"), "320 999 8877", "c2@example.com")
    import_file(db, tmp_path / "day1.csv", day1)
    assert point_events(db) == []
    day2 = [
        row(phone_1="310 555 0000", phone_1_consent="granted"),
        day1[1] | {"phone_1": "", "phone_1_consent": ""},
    ]
    import_file(db, tmp_path / "day2.csv", day2, "--full-refresh")

    retired = point_events(db)
    assert [(r["kind"], r["customer_id"], r["contact_point"]) for r in retired] == [
        ("retired", "C1", C1_FIRST),
        ("retired", "C2", C2_PHONE),
    ]
    first = retired[0]
    assert (first["channel"], first["direction"], first["status"]) == (
        "portfolio",
        "inbound",
        "final",
    )
    assert first["line_type"] == "mobile"
    assert json.loads(first["extra"]) == {"point": "phone", "file": "day2.csv"}

    # The same full file again retires nothing more and writes nothing.
    import_file(db, tmp_path / "day2-again.csv", day2, "--full-refresh")
    assert len(point_events(db)) == 2

    # The bank lists both numbers again: one relisting each, naming the retirement.
    import_file(db, tmp_path / "day3.csv", day1, "--full-refresh")
    events = point_events(db)
    relisted = [r for r in events if r["kind"] == "relisted"]
    assert [(r["customer_id"], r["contact_point"]) for r in relisted] == [
        ("C1", C1_FIRST),
        ("C2", C2_PHONE),
    ]
    retired_at = dt.datetime.fromisoformat(json.loads(relisted[0]["extra"])["retired_at"])
    assert retired_at == first["at"]

    # Chained like every row; neither an auditor's timeline nor the rules count them.
    assert cli(db, "audit", "verify", "--json")["ok"] is True
    timeline = cli(db, "audit", "contacts", "--customer", "C1", "--format", "json")
    assert [e["kind"] for e in timeline] == []
    engine = make_engine(db)
    with engine.connect() as conn:
        histories = customer_histories(conn, ["C1", "C2"], first["at"] - dt.timedelta(days=1))
    engine.dispose()
    kinds = {e.kind for h in histories.values() for e in h.events}
    assert kinds <= {"consent", "opt_out"}  # the points' consent state only
