"""Administration: the accounts, what an admin may do to one, and the admin log.

Deactivating, changing a role and setting a password end every session of
the account at once (``cadencia.console.security``); each action is a line
in the admin log, which compliance officers read too.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import WebContext, context, role, say
from cadencia.console.i18n import LANGUAGES, Msg, msg
from cadencia.console.security import (
    AccountError,
    CurrentUser,
    admin_log,
    change_role,
    create_user,
    reset_password,
    revoke_sessions,
    set_active,
    set_preferences,
)
from campaigns.storage.accounts import ROLES, WebSession, WebUser

router = APIRouter()
admins = role("admin")
auditors = role("compliance")  # and admins, who pass every role check
ACTIONS = ("deactivate", "reactivate", "role", "password", "revoke")


def _users(ctx: WebContext) -> list[object]:
    """Every account, with how many sessions it has open now."""
    now = ctx.clock()
    live = (
        sa.select(sa.func.count())
        .where(WebSession.user_id == WebUser.id, WebSession.expires_at > now)
        .correlate(WebUser)
        .scalar_subquery()
    )
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(
                    WebUser.username,
                    WebUser.role,
                    WebUser.agent_id,
                    WebUser.queue_interface,
                    WebUser.active,
                    WebUser.language,
                    live.label("sessions"),
                ).order_by(WebUser.username)
            )
        )


def _page(
    request: Request,
    user: CurrentUser,
    ctx: WebContext,
    *,
    error: Msg | str = "",
    posted: dict[str, str] | None = None,
) -> Response:
    """The accounts page; after a refused form, 422 with the reason and what was typed."""
    return ctx.render(
        request,
        "admin_users.html",
        user,
        status=422 if error else 200,
        users=_users(ctx),
        roles=ROLES,
        error=say(request, user, error) if error else "",
        posted=posted or {},
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users(
    request: Request, user: CurrentUser = Depends(admins), ctx: WebContext = Depends(context)
) -> Response:
    """Every account, the form to add one, and each account's actions."""
    return _page(request, user, ctx)


@router.post("/admin/users", response_class=HTMLResponse)
async def add_user(
    request: Request, user: CurrentUser = Depends(admins), ctx: WebContext = Depends(context)
) -> Response:
    """Create an account from the form; after an error the form keeps what was typed."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        created = create_user(
            ctx.engine,
            form.get("username", "").strip(),
            form.get("password", ""),
            form.get("role", ""),
            now=ctx.clock(),
            agent_id=form.get("agent_id") or None,
            queue_interface=form.get("queue_interface") or None,
            actor=user.username,
        )
    except AccountError as exc:
        kept = {k: v for k, v in form.items() if k not in ("password", "csrf")}
        return _page(request, user, ctx, error=exc.message, posted=kept)
    if form.get("language") in LANGUAGES:
        set_preferences(ctx.engine, created, language=form["language"])
    return RedirectResponse("/admin/users", status_code=303)


def _act(
    ctx: WebContext, user: CurrentUser, username: str, action: str, form: dict[str, str]
) -> None:
    """Do ``action`` to ``username`` (raises ``AccountError`` with the reason it cannot)."""
    now = ctx.clock()
    if action in ("deactivate", "reactivate"):
        set_active(ctx.engine, user, username, action == "reactivate", now=now)
    elif action == "role":
        change_role(
            ctx.engine,
            user,
            username,
            form.get("role", ""),
            now=now,
            agent_id=form.get("agent_id", "").strip() or None,
            queue_interface=form.get("queue_interface", "").strip() or None,
        )
    elif action == "password":
        reset_password(ctx.engine, user, username, form.get("password", ""), now=now)
    else:
        revoke_sessions(ctx.engine, user, username, now=now)


@router.post("/admin/users/{username}/{action}", response_class=HTMLResponse)
async def manage_user(
    request: Request,
    username: str,
    action: str,
    user: CurrentUser = Depends(admins),
    ctx: WebContext = Depends(context),
) -> Response:
    """Deactivate, reactivate, change the role, set a password or end the sessions of an account.

    An admin's own session may end with it (a new password ends them all):
    then the next page is the login.
    """
    if action not in ACTIONS:
        raise HTTPException(
            404,
            msg("No such account action: choose one of %(actions)s.", actions=", ".join(ACTIONS)),
        )
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        # Argon2 and the database off the event loop.
        await run_in_threadpool(_act, ctx, user, username, action, form)
    except AccountError as exc:
        return _page(request, user, ctx, error=exc.message)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/log", response_class=HTMLResponse)
def log_page(
    request: Request, user: CurrentUser = Depends(auditors), ctx: WebContext = Depends(context)
) -> Response:
    """The admin log: who did what to which account, and when (newest first)."""
    return ctx.render(request, "admin_log.html", user, actions=admin_log(ctx.engine))
