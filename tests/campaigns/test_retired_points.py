"""What the bank removes is removed: a full file retires the numbers and emails it drops.

The files go through ``cadencia portfolio import`` as a campaign manager runs it;
what is read back is what the planner (``usable_channels``), the dial session
(``load_voice_target``), the agent's manual dial (``customer_phones``) and the
360 view read.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.dialing.ledger import load_voice_target
from campaigns.dialing.manual import customer_phones
from campaigns.portfolio.view import customer_360
from campaigns.reach import usable_channels
from campaigns.storage.db import make_engine
from tests.support.portfolio import row, to_csv

C1_FIRST, C1_SECOND, C2_PHONE = "+573001234567", "+573105550000", "+573209998877"


def rows(c1_phones: tuple[str, str], c2_phone: str, c2_email: str) -> list[dict[str, str]]:
    """C1 with two phones, C2 with one phone and an email (both consented)."""
    return [
        row(phone_1=c1_phones[0], phone_2=c1_phones[1], phone_2_consent="granted"),
        row(customer_id="C2", account_id="B1", phone_1=c2_phone, email=c2_email),
    ]


def import_file(db: str, path: Path, content: list[dict[str, str]], *flags: str) -> dict:
    path.write_text(to_csv(content), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--db", db, "portfolio", "import", str(path), "--json", "--workers", "1", *flags]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def points(engine_url: str, customer_id: str) -> dict[str, str | None]:
    """The customer's contact points in the 360 view: value -> retired_at."""
    engine = make_engine(engine_url)
    view = customer_360(engine, customer_id)
    engine.dispose()
    return {p["value"]: p["retired_at"] for p in view["contact_points"]}


def test_a_full_file_retires_what_it_no_longer_lists_and_nothing_contacts_it(
    database_url: str, tmp_path: Path
) -> None:
    db = database_url
    day1 = rows(("300 123 4567", "310 555 0000"), "320 999 8877", "c2@example.com")
    import_file(db, tmp_path / "day1.csv", day1)
    # The bank's next file drops C1's first number and all of C2's phone.
    day2 = [
        row(phone_1="310 555 0000", phone_1_consent="granted"),
        day1[1] | {"phone_1": "", "phone_1_consent": ""},
    ]

    # An incremental file says nothing about what it leaves out: nothing retired.
    summary = import_file(db, tmp_path / "day2-changes.csv", day2)
    assert summary["contact_points_retired"] == 0
    assert set(points(db, "C1").values()) == {None}

    summary = import_file(db, tmp_path / "day2-full.csv", day2, "--full-refresh")
    assert summary["contact_points_retired"] == 2
    c1, c2 = points(db, "C1"), points(db, "C2")
    # Kept, with the date, for the ledger and the audit.
    assert c1[C1_FIRST] is not None and c1[C1_SECOND] is None
    assert c2[C2_PHONE] is not None and c2["c2@example.com"] is None

    engine = make_engine(db)
    with engine.connect() as conn:
        reach = usable_channels(conn, ["C1", "C2"], ("voice", "sms", "email"))
    assert reach["C2"] == frozenset({"email"})  # the planner leaves C2's phone channels out
    target = load_voice_target(engine, "C1")
    assert target is not None and target.number == C1_SECOND  # the dial session skips it
    refusals = {p.value: p.refusal for p in customer_phones(engine, "C1")}
    assert refusals[C1_SECOND] is None
    assert refusals[C1_FIRST] is not None and "retired" in refusals[C1_FIRST]
    c2_target = load_voice_target(engine, "C2")
    assert c2_target is not None and c2_target.number is None
    assert c2_target.unusable is not None and "retired" in c2_target.unusable

    # The bank lists the number again: it is usable again.
    import_file(db, tmp_path / "day3-full.csv", day1, "--full-refresh")
    assert set(points(db, "C1").values()) == {None}
    with engine.connect() as conn:
        assert "voice" in usable_channels(conn, ["C2"], ("voice",))["C2"]
    engine.dispose()
