"""What every console route depends on: the shared context, the logged-in user, role checks.

Every page declares the roles that may see it (``Depends(role(...))``);
there is no page without one except the login form. Unauthenticated browsers
are sent to the login page; an authenticated user without the role gets 403.
Every POST checks the session's CSRF token before reading anything else.
Database work runs in FastAPI's thread pool (plain ``def`` routes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from cadencia.console.i18n import (
    LANGUAGES,
    Msg,
    accepted_language,
    choose_language,
    msg,
    translations,
    zone_label,
    zone_or_default,
)
from cadencia.console.pbx import AmiSettings
from cadencia.console.security import (
    IDLE_TIMEOUT,
    CurrentUser,
    csrf_ok,
    session_user,
)
from campaigns.agents.events import AgentEvent

log = logging.getLogger(__name__)
COOKIE = "cadencia_session"
LOGIN_CSRF_COOKIE = "cadencia_login_csrf"
# The language picked on the login page before anyone is logged in.
LANGUAGE_COOKIE = "cadencia_lang"
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
    templates: dict[str, Jinja2Templates]  # one per language (jinja2.ext.i18n installs one)
    # where an agent may transfer a call (CADENCIA_TRANSFER_QUEUES)
    transfer_queues: tuple[str, ...] = ("cadencia-supervisors",)
    # a session unused this long ends (the 12-hour lifetime holds regardless)
    idle_timeout: dt.timedelta = IDLE_TIMEOUT
    hub: EventHub = field(default_factory=EventHub)
    _redis: redis.Redis | None = None

    @property
    def redis(self) -> redis.Redis:
        """A shared synchronous Redis client (thread-safe connection pool)."""
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    def close(self) -> None:
        """Close the shared Redis client, if one was opened."""
        if self._redis is not None:
            self._redis.close()

    def render(
        self, request: Request, name: str, user: CurrentUser | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        """Render template ``name`` in the viewer's language, with the user and its CSRF token.

        ``tz`` is the viewer's zone, which the ``when`` filter shows times in.
        """
        language = language_of(request, user)
        zone = zone_or_default(user.timezone if user else None).key
        values = {
            "user": user,
            "csrf": user.csrf_token if user else "",
            "lang": language,
            "languages": LANGUAGES,
            "tz": zone,
            "tz_label": zone_label(zone),
            "transfer_queues": self.transfer_queues,
            **ctx,
        }
        return self.templates[language].TemplateResponse(request, name, values, status_code=status)


def language_of(request: Request, user: CurrentUser | None) -> str:
    """The viewer's language: their choice, else the login page's, else the browser's, else en."""
    chosen = user.language if user else None
    if user is None:
        chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return choose_language(chosen, accepted_language(request.headers.get("accept-language")))


def say(request: Request, user: CurrentUser | None, message: Msg | str) -> str:
    """``message`` in the viewer's language (a plain string is shown as it is)."""
    if isinstance(message, Msg):
        return message.translate(translations(language_of(request, user)))
    return message


def context(request: Request) -> WebContext:
    """The app's context."""
    ctx: WebContext = request.app.state.ctx
    return ctx


def current_user(request: Request, ctx: WebContext = Depends(context)) -> CurrentUser | None:
    """The logged-in user, or None."""
    return session_user(
        ctx.engine, request.cookies.get(COOKIE), now=ctx.clock(), idle=ctx.idle_timeout
    )


def role(*roles: str) -> Callable[..., Any]:
    """A dependency admitting only ``roles`` (admin always), checking CSRF on every POST."""

    async def check(
        request: Request, user: CurrentUser | None = Depends(current_user)
    ) -> CurrentUser:
        if user is None:
            raise NotLoggedIn()
        if user.role != "admin" and user.role not in roles:
            raise HTTPException(
                403, msg("The %(role)s role may not open this page.", role=user.role)
            )
        if request.method not in ("GET", "HEAD"):
            given = request.headers.get("x-csrf-token")
            if given is None:
                form = await request.form()
                value = form.get("csrf")
                given = value if isinstance(value, str) else None
            if not csrf_ok(user.csrf_token, given):
                raise HTTPException(
                    403,
                    msg("The form was out of date (missing or wrong CSRF token): reload the page."),
                )
        return user

    return check


def home_of(user: CurrentUser) -> str:
    """The page a user lands on after login: their role's home."""
    return HOME.get(user.role, "/")
