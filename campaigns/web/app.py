"""The web console's app factory, its shared context, login and the role checks.

Every page declares the roles that may see it (``Depends(role(...))``);
there is no page without one except the login form. Unauthenticated browsers
are sent to the login page; an authenticated user without the role gets 403.
Every POST checks the session's CSRF token before reading anything else.
Database work runs in FastAPI's thread pool (plain ``def`` routes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from campaigns.web.events import NAMESPACE, AgentEvent, subscribe_agent_events
from campaigns.web.models import WebUser
from campaigns.web.pbx import AmiSettings, PbxUnavailable, queue_pause
from campaigns.web.security import (
    CurrentUser,
    LoginThrottled,
    csrf_ok,
    login,
    logout,
    session_user,
)

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).parent
COOKIE = "cadencia_session"
LOGIN_CSRF_COOKIE = "cadencia_login_csrf"
# Scripts only from our own origin (no inline script, so an injected tag
# cannot run); inline styles are allowed for the run report's one <style>;
# charts are same-origin PNGs or data: URIs. No framing (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HOME = {"agent": "/agent", "manager": "/dashboard", "compliance": "/compliance", "admin": "/"}


class NotLoggedIn(Exception):
    """Raised by the role check for a browser with no live session."""


@dataclass
class EventHub:
    """Fans agent events out from one Redis subscription to every open agent page."""

    listeners: dict[str, set[asyncio.Queue[AgentEvent]]] = field(default_factory=dict)

    def listen(self, agent: str) -> asyncio.Queue[AgentEvent]:
        """A queue that receives the events of ``agent``."""
        queue: asyncio.Queue[AgentEvent] = asyncio.Queue(maxsize=100)
        self.listeners.setdefault(agent, set()).add(queue)
        return queue

    def forget(self, agent: str, queue: asyncio.Queue[AgentEvent]) -> None:
        """Stop delivering to ``queue``."""
        self.listeners.get(agent, set()).discard(queue)

    def deliver(self, event: AgentEvent) -> None:
        """Hand ``event`` to the agent's pages; a page too slow to keep up loses the oldest."""
        for queue in self.listeners.get(event.agent, set()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)


@dataclass
class WebContext:
    """What every route needs: storage, Redis, the PBX, the clock and templates."""

    engine: Engine
    redis_url: str
    ami: AmiSettings | None
    namespace: str
    clock: Callable[[], dt.datetime]
    secure_cookies: bool
    templates: Jinja2Templates
    hub: EventHub = field(default_factory=EventHub)
    _redis: redis.Redis | None = None

    @property
    def redis(self) -> redis.Redis:
        """A shared synchronous Redis client (thread-safe connection pool)."""
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    def render(
        self, request: Request, name: str, user: CurrentUser | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        """Render template ``name`` with the user and its CSRF token."""
        return self.templates.TemplateResponse(
            request,
            name,
            {"user": user, "csrf": user.csrf_token if user else "", **ctx},
            status_code=status,
        )


def context(request: Request) -> WebContext:
    """The app's context."""
    ctx: WebContext = request.app.state.ctx
    return ctx


def current_user(request: Request, ctx: WebContext = Depends(context)) -> CurrentUser | None:
    """The logged-in user, or None."""
    return session_user(ctx.engine, request.cookies.get(COOKIE), now=ctx.clock())


def role(*roles: str) -> Callable[..., Any]:
    """A dependency admitting only ``roles`` (admin always), checking CSRF on every POST."""

    async def check(
        request: Request, user: CurrentUser | None = Depends(current_user)
    ) -> CurrentUser:
        if user is None:
            raise NotLoggedIn()
        if user.role != "admin" and user.role not in roles:
            raise HTTPException(403, f"the {user.role} role may not open this page")
        if request.method not in ("GET", "HEAD"):
            given = request.headers.get("x-csrf-token")
            if given is None:
                form = await request.form()
                value = form.get("csrf")
                given = value if isinstance(value, str) else None
            if not csrf_ok(user.csrf_token, given):
                raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        return user

    return check


def _home(user: CurrentUser) -> str:
    return HOME.get(user.role, "/")


def create_web_app(
    engine: Engine,
    *,
    redis_url: str,
    ami: AmiSettings | None = None,
    namespace: str = NAMESPACE,
    clock: Callable[[], dt.datetime] | None = None,
    secure_cookies: bool = True,
) -> FastAPI:
    """The console. ``namespace`` names the agent-events channel and state keys
    (``campaigns.web.events``); ``clock`` gives "now" (UTC).

    ``secure_cookies`` marks cookies Secure (HTTPS only); turn it off only for
    plain-HTTP development on localhost.
    """
    from campaigns.web import admin, compliance_pages, dashboard, desktop

    templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
    ctx = WebContext(
        engine=engine,
        redis_url=redis_url,
        ami=ami,
        namespace=namespace,
        clock=clock or (lambda: dt.datetime.now(dt.UTC)),
        secure_cookies=secure_cookies,
        templates=templates,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_pump(ctx), name="agent-events")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if ctx._redis is not None:
                ctx._redis.close()

    app = FastAPI(title="Cadencia console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ctx = ctx

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")

    @app.exception_handler(NotLoggedIn)
    async def _to_login(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.endswith("/events") or request.method != "GET":
            return Response("not logged in", status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        user = current_user(request, ctx) if exc.status_code == 403 else None
        title = {401: "Not logged in", 403: "Not allowed", 404: "Not found"}.get(
            exc.status_code, "Cannot do that"
        )
        return ctx.render(
            request,
            "error.html",
            user,
            status=exc.status_code,
            message=str(exc.detail),
            title=title,
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> Response:
        token = secrets.token_urlsafe(24)
        response = ctx.render(request, "login.html", None, login_csrf=token, next=next, error="")
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies
        )
        return response

    @app.post("/login")
    def login_submit(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        csrf: str = Form(""),
        next: str = Form(""),
    ) -> Response:
        # Login CSRF (a forged login into the attacker's account) is stopped by
        # a double-submit token: cookie and form field must match.
        if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
            raise HTTPException(403, "missing or wrong CSRF token: reload the login page")
        # Behind a reverse proxy this is the browser's address only if the proxy
        # is trusted (`cadencia web --trusted-proxies`); else every failure
        # would count against the proxy, one client for all browsers.
        client = request.client.host if request.client else "unknown"
        throttled: LoginThrottled | None = None
        try:
            token = login(ctx.engine, username.strip(), password, now=ctx.clock(), client=client)
        except LoginThrottled as exc:
            token, throttled = None, exc
        if token is None:
            again = secrets.token_urlsafe(24)
            if throttled is not None:
                log.warning("login refused for %r from %s: %s", username[:80], client, throttled)
                minutes = -(-throttled.retry_after_s // 60)  # rounded up
                status, error = 429, f"Too many failed logins. Try again in {minutes} minutes."
            else:
                log.info("failed login for %r from %s", username[:80], client)
                status, error = 401, "Wrong username or password."
            response: Response = ctx.render(
                request,
                "login.html",
                None,
                status=status,
                login_csrf=again,
                next=next,
                error=error,
            )
            response.set_cookie(
                LOGIN_CSRF_COOKIE, again, httponly=True, samesite="strict", secure=secure_cookies
            )
            if throttled is not None:
                response.headers["Retry-After"] = str(throttled.retry_after_s)
            return response
        user = session_user(ctx.engine, token, now=ctx.clock())
        assert user is not None
        target = next if next.startswith("/") and not next.startswith("//") else _home(user)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=secure_cookies,
            max_age=12 * 3600,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        log.info("login %s (%s)", user.username, user.role)
        return response

    @app.post("/logout")
    def logout_submit(request: Request, user: CurrentUser = Depends(role(*HOME))) -> Response:
        logout(ctx.engine, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: CurrentUser | None = Depends(current_user)) -> Response:
        if user is None:
            return RedirectResponse("/login", status_code=303)
        if user.role != "admin":
            return RedirectResponse(_home(user), status_code=303)
        return ctx.render(request, "index.html", user)

    app.include_router(desktop.router)
    app.include_router(dashboard.router)
    app.include_router(compliance_pages.router)
    app.include_router(admin.router)
    return app


def _interface_of(ctx: WebContext, agent: str) -> str | None:
    with ctx.engine.connect() as conn:
        value = conn.execute(
            sa.select(WebUser.queue_interface).where(WebUser.agent_id == agent)
        ).scalar()
    return None if value is None else str(value)


async def _hold_for_wrap_up(ctx: WebContext, agent: str) -> None:
    """Pause the member when its call ends, so no call reaches it before its disposition.

    Asterisk's own ``wrapuptime`` is a fixed number of seconds; ours lasts
    exactly until the agent saves (the desktop unpauses then).
    """
    if ctx.ami is None:
        return
    try:
        interface = await asyncio.to_thread(_interface_of, ctx, agent)
        if interface is not None:
            await queue_pause(ctx.ami, interface, paused=True, reason="wrap-up")
    except (PbxUnavailable, SQLAlchemyError) as exc:
        log.error("agent %s: wrap-up pause failed: %s", agent, exc)


async def _pump(ctx: WebContext) -> None:
    """Forward agent events from Redis to the open pages; resubscribe after a Redis outage.

    The wrap-up pause runs as a task of its own: a slow Asterisk must not hold
    back the next screen pop.
    """
    holds: set[asyncio.Task[None]] = set()
    while True:
        try:
            async for event in subscribe_agent_events(ctx.redis_url, namespace=ctx.namespace):
                ctx.hub.deliver(event)
                if event.type == "complete":
                    task = asyncio.create_task(_hold_for_wrap_up(ctx, event.agent))
                    holds.add(task)
                    task.add_done_callback(holds.discard)
        except (OSError, redis.RedisError) as exc:
            log.warning("agent events: Redis subscription lost (%s); retrying in 1 s", exc)
        await asyncio.sleep(1.0)
