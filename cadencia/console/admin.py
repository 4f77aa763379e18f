"""Administration: the list of accounts and a form to add one."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cadencia.console.deps import WebContext, context, role, say
from cadencia.console.i18n import LANGUAGES
from cadencia.console.security import AccountError, CurrentUser, create_user, set_preferences
from campaigns.storage.accounts import ROLES, WebUser

router = APIRouter()
admins = role("admin")


def _users(ctx: WebContext) -> list[object]:
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
                ).order_by(WebUser.username)
            )
        )


@router.get("/admin/users", response_class=HTMLResponse)
def users(
    request: Request, user: CurrentUser = Depends(admins), ctx: WebContext = Depends(context)
) -> Response:
    """Every account and the form to add one."""
    return ctx.render(
        request, "admin_users.html", user, users=_users(ctx), roles=ROLES, error="", posted={}
    )


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
        )
    except AccountError as exc:
        kept = {k: v for k, v in form.items() if k not in ("password", "csrf")}
        return ctx.render(
            request,
            "admin_users.html",
            user,
            status=422,
            users=_users(ctx),
            roles=ROLES,
            error=say(request, user, exc.message),
            posted=kept,
        )
    if form.get("language") in LANGUAGES:
        set_preferences(ctx.engine, created, language=form["language"])
    return RedirectResponse("/admin/users", status_code=303)
