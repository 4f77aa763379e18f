"""Portal links: opaque references kept in the database, one active per customer and campaign,
created in bulk (one INSERT for a batch), revocable."""

from __future__ import annotations

import base64
import datetime as dt

import sqlalchemy as sa
from sqlalchemy import event

from campaigns.portal.links import LINKS, issue_links, live_link, revoke
from tests.portal.conftest import CAMPAIGN, NOW, TTL, Bed


def test_references_are_random_say_nothing_and_are_reused_while_fresh(bed: Bed) -> None:
    with bed.engine.begin() as conn:
        again = issue_links(conn, ["C1", "C2"], CAMPAIGN, now=NOW + dt.timedelta(hours=1), ttl=TTL)
    assert again["C1"] == bed.reference  # still more than half its life left: the same link
    assert again["C2"] != bed.reference
    for reference in again.values():
        assert len(reference) >= 43  # 32 random bytes, URL-safe base64
        # Opaque: random bytes, not an encoding of who it is for (a two-letter id
        # may turn up in random text by chance; the campaign's name may not).
        assert CAMPAIGN not in reference
        assert CAMPAIGN.encode() not in base64.urlsafe_b64decode(reference + "==")
    with bed.engine.connect() as conn:
        link = live_link(conn, bed.reference, NOW)
    assert link is not None and link.customer_id == "C1" and link.campaign == CAMPAIGN


def test_an_ageing_link_is_replaced_and_the_old_one_revoked(bed: Bed) -> None:
    later = NOW + dt.timedelta(hours=40)  # less than half of 72 hours left
    with bed.engine.begin() as conn:
        fresh = issue_links(conn, ["C1"], CAMPAIGN, now=later, ttl=TTL)["C1"]
    assert fresh != bed.reference
    with bed.engine.connect() as conn:
        assert live_link(conn, bed.reference, later) is None
        active = conn.execute(
            sa.select(sa.func.count()).where(
                LINKS.c.customer_id == "C1", LINKS.c.revoked_at.is_(None)
            )
        ).scalar_one()
    assert active == 1


def test_a_batch_of_links_is_one_insert(bed: Bed) -> None:
    with bed.engine.begin() as conn:
        conn.execute(LINKS.delete())
    inserts: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PORTAL_LINKS"):
            inserts.append(statement)

    event.listen(bed.engine, "before_cursor_execute", count)
    try:
        with bed.engine.begin() as conn:
            made = issue_links(conn, [f"X{i}" for i in range(250)], CAMPAIGN, now=NOW, ttl=TTL)
    finally:
        event.remove(bed.engine, "before_cursor_execute", count)
    assert len(made) == 250 and len(set(made.values())) == 250
    assert len(inserts) == 1


def test_a_revoked_link_is_dead(bed: Bed) -> None:
    assert revoke(bed.engine, bed.reference, now=NOW, reason="customer asked")
    assert not revoke(bed.engine, bed.reference, now=NOW, reason="again")
    with bed.engine.connect() as conn:
        assert live_link(conn, bed.reference, NOW) is None
