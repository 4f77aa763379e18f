"""Logging in and out, and the landing page that sends each role home."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cadencia.console.deps import (
    COOKIE,
    HOME,
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    WebContext,
    context,
    current_user,
    home_of,
    role,
    say,
)
from cadencia.console.i18n import LANGUAGES, msg
from cadencia.console.security import (
    CurrentUser,
    LoginThrottled,
    csrf_ok,
    login,
    logout,
    set_preferences,
)
from cadencia.console.security import session_user as user_of_session
from cadencia.console.softphone import leave_on_logout
from campaigns.observability import user_ref

log = logging.getLogger(__name__)
router = APIRouter()
SESSION_MAX_AGE_S = 12 * 3600


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next: str = "", lang: str = "", ctx: WebContext = Depends(context)
) -> Response:
    """The login form, with a fresh double-submit CSRF token; ``lang`` shows it in a language."""
    token = secrets.token_urlsafe(24)
    chosen = lang if lang in LANGUAGES else ""
    response = ctx.render(
        request, "login.html", None, login_csrf=token, next=next, error="", chosen=chosen
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=ctx.secure_cookies
    )
    if chosen:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, httponly=True, samesite="lax", secure=ctx.secure_cookies
        )
    return response


def _refused(
    request: Request,
    ctx: WebContext,
    next: str,
    throttled: LoginThrottled | None,
    language: str = "",
) -> Response:
    again = secrets.token_urlsafe(24)
    if throttled is not None and throttled.retry_after_s < 120:
        status = 429
        error = msg(
            "Too many failed logins. Try again in %(seconds)s seconds.",
            seconds=throttled.retry_after_s,
        )
    elif throttled is not None:
        minutes = -(-throttled.retry_after_s // 60)  # rounded up
        status = 429
        error = msg("Too many failed logins. Try again in %(minutes)s minutes.", minutes=minutes)
    else:
        status, error = 401, msg("Wrong username or password.")
    response: Response = ctx.render(
        request,
        "login.html",
        None,
        status=status,
        login_csrf=again,
        next=next,
        error=say(request, None, error),
        chosen=language if language in LANGUAGES else "",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, again, httponly=True, samesite="strict", secure=ctx.secure_cookies
    )
    if throttled is not None:
        response.headers["Retry-After"] = str(throttled.retry_after_s)
    return response


@router.post("/login")
def login_submit(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    csrf: str = Form(""),
    next: str = Form(""),
    language: str = Form(""),
    ctx: WebContext = Depends(context),
) -> Response:
    """Check the password (throttled), open a session, and go to ``next`` or home.

    A language picked in the form becomes the account's (as on the profile page).
    """
    # Login CSRF (a forged login into the attacker's account) is stopped by
    # a double-submit token: cookie and form field must match.
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
        raise HTTPException(
            403, msg("The login form was out of date (missing or wrong CSRF token): reload it.")
        )
    # Behind a reverse proxy this is the browser's address only if the proxy
    # is trusted (`cadencia web --trusted-proxies`); else every failure
    # would count against the proxy, one client for all browsers.
    client = request.client.host if request.client else "unknown"
    try:
        token = login(ctx.engine, username.strip(), password, now=ctx.clock(), client=client)
    except LoginThrottled as exc:
        log.warning("login refused for %s from %s: %s", user_ref(username.strip()), client, exc)
        return _refused(request, ctx, next, exc, language)
    if token is None:
        log.info("failed login for %s from %s", user_ref(username.strip()), client)
        return _refused(request, ctx, next, None, language)
    user = user_of_session(ctx.engine, token, now=ctx.clock())
    assert user is not None
    if language in LANGUAGES and language != user.language:
        set_preferences(ctx.engine, user.id, language=language)
    target = next if next.startswith("/") and not next.startswith("//") else home_of(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=ctx.secure_cookies,
        max_age=SESSION_MAX_AGE_S,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    log.info("login %s (%s)", user_ref(user.username), user.role)
    return response


@router.post("/logout")
def logout_submit(
    request: Request,
    user: CurrentUser = Depends(role(*HOME)),
    ctx: WebContext = Depends(context),
) -> Response:
    """End the session (a softphone agent also leaves the queues)."""
    leave_on_logout(request.app, ctx, user)
    logout(ctx.engine, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def index(
    request: Request,
    user: CurrentUser | None = Depends(current_user),
    ctx: WebContext = Depends(context),
) -> Response:
    """Admins get the index; everyone else goes to their role's home, or to the login."""
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role != "admin":
        return RedirectResponse(home_of(user), status_code=303)
    return ctx.render(request, "index.html", user)
