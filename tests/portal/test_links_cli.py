"""``cadencia links``: an operator lists a customer's links and revokes them."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.portal.links import issue_links, live_link
from tests.portal.conftest import CAMPAIGN, NOW, TTL, Bed

runner = CliRunner()


def cadencia(db: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db, *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_states_not_references_and_revoke_closes_the_link(bed: Bed) -> None:
    db = bed.engine.url.render_as_string(hide_password=False)
    code, out, _ = cadencia(db, "links", "list", "C1", "--json")
    assert code == 0
    (listed,) = json.loads(out)
    assert listed["campaign"] == CAMPAIGN and bed.reference not in out
    with bed.engine.connect() as conn:
        assert live_link(conn, bed.reference, NOW) is not None
    code, out, err = cadencia(db, "links", "revoke", "--reference", bed.reference,
                              "--reason", "message forwarded to a relative")  # fmt: skip
    assert code == 0, err
    with bed.engine.connect() as conn:  # live at NOW until revoked
        assert live_link(conn, bed.reference, NOW) is None
    code, out, _ = cadencia(db, "links", "list", "C1", "--json")
    assert json.loads(out)[0]["state"] == "revoked"
    assert json.loads(out)[0]["revoked_reason"] == "message forwarded to a relative"
    # Again: nothing active matched, and the command says so with a failing code.
    code, _, err = cadencia(db, "links", "revoke", "--reference", bed.reference, "--reason", "x")
    assert code == 1 and "no active link matched" in err


def test_revoke_every_link_of_a_customer_and_by_id(bed: Bed) -> None:
    db = bed.engine.url.render_as_string(hide_password=False)
    now = dt.datetime.now(dt.UTC)
    with bed.engine.begin() as conn:
        issue_links(conn, ["C2"], CAMPAIGN, now=now, ttl=TTL)
        issue_links(conn, ["C2"], "co-vehiculos", now=now, ttl=TTL)
    code, out, _ = cadencia(db, "links", "list", "C2", "--json")
    ids = {item["campaign"]: item["id"] for item in json.loads(out)}
    code, out, err = cadencia(db, "links", "revoke", "--id", str(ids["co-vehiculos"]),
                              "--reason", "debt withdrawn", "--json")  # fmt: skip
    assert code == 0 and json.loads(out) == {"revoked": 1}, err
    code, out, _ = cadencia(
        db, "links", "revoke", "--customer", "C2", "--reason", "asked", "--json"
    )
    assert code == 0 and json.loads(out) == {"revoked": 1}
    code, _, err = cadencia(db, "links", "revoke", "--customer", "C2", "--id", "1", "--reason", "x")
    assert code == 2 and "exactly one of" in err
