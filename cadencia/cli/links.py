"""``cadencia links``: list and revoke the portal links messages carry (docs/portal.md).

A link is a capability: whoever holds the message can open the portal's
identity check. When a customer says a message reached someone else (a
shared phone, a forwarded email) or the bank withdraws a debt, an operator
revokes it: by the reference the message shows, by the id ``list`` prints, or
every active link of a customer. ``list`` never prints references.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from cadencia.cli._common import err_console, fail, print_json, ready_engine

links_app = typer.Typer(help="List and revoke the debtor portal's links.", no_args_is_help=True)


@links_app.command("list")
def list_links(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="The customer's id in the portfolio.")],
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's links.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
) -> None:
    """Every link issued to a customer, newest first, with its state (no references)."""
    from campaigns.portal.links import links_of

    engine = ready_engine(ctx)
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        rows = links_of(conn, customer, campaign)
    engine.dispose()
    listed = [
        {
            "id": row.id,
            "campaign": row.campaign,
            "state": row.state(now),
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat(),
            "revoked_reason": row.revoked_reason,
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "failures": row.failures,
        }
        for row in rows
    ]
    if as_json:
        print_json(listed)
        return
    if not listed:
        err_console.print(f"no portal link was ever issued to customer {customer}")
    for item in listed:
        why = f" ({item['revoked_reason']})" if item["revoked_reason"] else ""
        print(
            f"{item['id']}\t{item['campaign']}\t{item['state']}{why}\t"
            f"created {item['created_at']}\texpires {item['expires_at']}"
        )


@links_app.command("revoke")
def revoke_links(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why (kept with the link, up to 80 characters).")],
    reference: Annotated[
        str | None, typer.Option(help="The reference in the message's link (after /p/).")
    ] = None,
    link_id: Annotated[int | None, typer.Option("--id", help="A link id from `list`.")] = None,
    customer: Annotated[
        str | None, typer.Option(help="Every active link of this customer.")
    ] = None,
    campaign: Annotated[
        str | None, typer.Option(help="With --customer: only this campaign's links.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Revoke one link (by reference or id) or every active link of a customer."""
    from campaigns.portal.links import revoke, revoke_customer, revoke_id

    chosen = [x for x in (reference, link_id, customer) if x is not None]
    if len(chosen) != 1:
        fail("links revoke: give exactly one of --reference, --id or --customer", code=2)
    if campaign is not None and customer is None:
        fail("links revoke: --campaign goes with --customer", code=2)
    if not reason.strip():
        fail("links revoke: --reason must say why", code=2)
    engine = ready_engine(ctx)
    now = dt.datetime.now(dt.UTC)
    if reference is not None:
        revoked = int(revoke(engine, reference.strip(), now=now, reason=reason))
    elif link_id is not None:
        revoked = int(revoke_id(engine, link_id, now=now, reason=reason))
    else:
        assert customer is not None
        revoked = revoke_customer(engine, customer, now=now, reason=reason, campaign=campaign)
    engine.dispose()
    if as_json:
        print_json({"revoked": revoked})
    elif revoked:
        err_console.print(f"revoked {revoked} link(s)")
    if not revoked:
        # Nothing active matched: say so and fail, so a script notices a typo.
        fail("links revoke: no active link matched (already revoked, expired or unknown)")
