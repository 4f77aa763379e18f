"""The console's assembly: context, lifespan, security headers, error pages, routers.

Routes live in their page-group modules (``login``, ``desktop``,
``dashboard``, ``compliance_pages``, ``admin``); what they depend on is in
``deps``. This module only puts them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cadencia.console.admin import router as admin_pages
from cadencia.console.agent_events import pump_agent_events
from cadencia.console.agent_work import router as agent_work_pages
from cadencia.console.campaign_files import router as campaign_file_pages
from cadencia.console.compliance_pages import router as compliance_pages
from cadencia.console.dashboard import router as dashboard_pages
from cadencia.console.deps import NotLoggedIn, WebContext, current_user
from cadencia.console.desktop import router as desktop_pages
from cadencia.console.i18n import LANGUAGES, Msg, day, money, msg, translations, when
from cadencia.console.labels import label_of
from cadencia.console.login import router as login_pages
from cadencia.console.offers_pages import router as offer_pages
from cadencia.console.pbx import PbxUnavailable
from cadencia.console.profile import router as profile_pages
from cadencia.console.recordings import router as recording_pages
from cadencia.console.runs_pages import router as runs_pages
from cadencia.console.runs_view import number
from cadencia.console.security import IDLE_TIMEOUT
from cadencia.console.softphone import install_softphone, wss_origin
from cadencia.console.uploads import MAX_UPLOAD_BYTES
from cadencia.console.uploads import router as upload_pages
from cadencia.console.wallboard import router as wallboard_pages
from campaigns.agents.events import NAMESPACE
from campaigns.recordings.store import DirectoryStore
from campaigns.settings import AmiSettings, SoftphoneSettings

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).parent
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
ERROR_TITLES = {
    400: msg("That request cannot be read"),
    401: msg("Not logged in"),
    403: msg("Not allowed"),
    404: msg("Not found"),
    409: msg("Not now"),
    503: msg("A service is unreachable"),
}
CANNOT = msg("Cannot do that")
# What to do when a service the console leans on is down: said in the page,
# with the setting that names it (the operator's side) and what an agent can do.
REDIS_DOWN = msg(
    "The console cannot reach Redis, which carries the agents' states and the dial queue. "
    "Try again in a minute; if it lasts, ask your administrator to check that Redis is "
    "running and that CADENCIA_REDIS_URL points at it."
)
PBX_DOWN = msg(
    "The console cannot reach the Asterisk manager (AMI), so your queue state was not "
    "changed. Try again in a minute; if it lasts, ask your administrator to check Asterisk "
    "and the CADENCIA_AMI_HOST, CADENCIA_AMI_PORT, CADENCIA_AMI_USERNAME and "
    "CADENCIA_AMI_SECRET settings."
)
DATABASE_DOWN = msg(
    "The console cannot read its database. Try again in a minute; if it lasts, ask your "
    "administrator to check the database and CADENCIA_DATABASE_URL."
)
UNEXPECTED = msg(
    "Something went wrong on our side and nothing was changed. Try again; if it happens "
    "again, tell your administrator the time it happened (it is in the server's log)."
)


def create_web_app(
    engine: Engine,
    *,
    redis_url: str,
    ami: AmiSettings | None = None,
    namespace: str = NAMESPACE,
    clock: Callable[[], dt.datetime] | None = None,
    secure_cookies: bool = True,
    transfer_queues: tuple[str, ...] = ("cadencia-supervisors",),
    idle_timeout: dt.timedelta = IDLE_TIMEOUT,
    campaign_dir: Path | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    recording_dir: Path | None = None,
    softphone: SoftphoneSettings | None = None,
) -> FastAPI:
    """The console. ``namespace`` names the agent-events channel and state keys
    (``campaigns.agents.events``); ``clock`` gives "now" (UTC); agents may
    transfer calls to ``transfer_queues``; a session unused for ``idle_timeout`` ends.
    The campaign files page lists ``campaign_dir``'s files; an upload larger than
    ``max_upload_bytes`` is refused unread. Call recordings are played from
    ``recording_dir`` (``CADENCIA_RECORDING_DIR``; default ``recordings``).

    ``secure_cookies`` marks cookies Secure (HTTPS only); turn it off only for
    plain-HTTP development on localhost. ``softphone`` turns on the agents'
    WebRTC softphone (docs/softphone.md); its WSS origin joins the CSP's connect-src.
    """
    ctx = WebContext(
        engine=engine,
        redis_url=redis_url,
        ami=ami,
        namespace=namespace,
        clock=clock or (lambda: dt.datetime.now(dt.UTC)),
        secure_cookies=secure_cookies,
        templates={language: _templates(language) for language in LANGUAGES},
        transfer_queues=transfer_queues,
        idle_timeout=idle_timeout,
    )
    app = FastAPI(
        title="Cadencia console",
        lifespan=_lifespan(ctx),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.state.campaign_dir = campaign_dir
    app.state.max_upload_bytes = max_upload_bytes
    app.state.recording_store = DirectoryStore(recording_dir or Path("recordings"))
    app.state.security_headers = _headers_for(softphone)
    app.middleware("http")(_security_headers)
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    _install_error_pages(app, ctx)
    for router in (login_pages, desktop_pages, dashboard_pages, compliance_pages, admin_pages):
        app.include_router(router)
    app.include_router(profile_pages)
    app.include_router(wallboard_pages)
    app.include_router(runs_pages)
    app.include_router(agent_work_pages)
    app.include_router(upload_pages)
    app.include_router(campaign_file_pages)
    app.include_router(recording_pages)
    app.include_router(offer_pages)
    install_softphone(app, softphone)
    return app


def _lifespan(ctx: WebContext) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(warn_missing_settings, ctx)
        task = asyncio.create_task(pump_agent_events(ctx), name="agent-events")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            ctx.close()

    return lifespan


def _headers_for(softphone: SoftphoneSettings | None) -> dict[str, str]:
    """The security headers; a softphone's pages may also connect to its WSS origin."""
    origin = wss_origin(softphone)
    if not origin:
        return SECURITY_HEADERS
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    return {**SECURITY_HEADERS, "Content-Security-Policy": f"{policy}; connect-src 'self' {origin}"}


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    headers: dict[str, str] = getattr(request.app.state, "security_headers", SECURITY_HEADERS)
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    return response


def _templates(language: str) -> Jinja2Templates:
    """The templates in ``language``: its gettext catalog installed, money and time filters."""
    env = Environment(
        loader=FileSystemLoader(str(PACKAGE / "templates")),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
    )
    # Texts are translated per whole sentence; newlines and indents in a
    # {% trans %} block are not part of the message.
    env.policies["ext.i18n.trimmed"] = True
    catalog = translations(language)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]

    def translate(value: Any) -> str:
        return value.translate(catalog) if isinstance(value, Msg) else str(value)

    @pass_context
    def shown_when(
        context: Context, value: Any, zone: str | None = None, seconds: bool = False
    ) -> str:
        return when(value, zone or context.get("tz"), language, seconds=seconds)

    env.filters.update(
        t=translate,
        label=lambda code: translate(label_of(code)),
        money=lambda amount, currency=None: money(amount, currency, language),
        when=shown_when,
        day=lambda value: day(value, language),
        number=lambda value, decimals=0: number(value, language, decimals),
    )
    return Jinja2Templates(env=env)


def warn_missing_settings(ctx: WebContext) -> None:
    """Log, at startup, each setting the console needs that is absent or points at nothing."""
    if ctx.ami is None:
        log.warning(
            "CADENCIA_AMI_HOST is not set: agents cannot go Ready or Pause, and no queue "
            "member is paused for wrap-up (set CADENCIA_AMI_HOST, CADENCIA_AMI_PORT, "
            "CADENCIA_AMI_USERNAME and CADENCIA_AMI_SECRET)"
        )
    try:
        client = redis.Redis.from_url(ctx.redis_url, socket_connect_timeout=2.0)
        try:
            client.ping()
        finally:
            client.close()
    except (OSError, redis.RedisError, ValueError) as exc:
        log.warning(
            "Redis is unreachable at CADENCIA_REDIS_URL (%s): the agent desktop, the agent "
            "board and the dial queue will not work until it is",
            type(exc).__name__,
        )


def _install_error_pages(app: FastAPI, ctx: WebContext) -> None:
    @app.exception_handler(NotLoggedIn)
    async def _to_login(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.endswith("/events") or request.method != "GET":
            return Response("not logged in", status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return await _error_page(
            request, ctx, exc.status_code, exc.detail, ERROR_TITLES.get(exc.status_code, CANNOT)
        )

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI would answer a JSON list of pydantic errors; say it in words.
        fields = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
        message = msg("This request is missing or has a wrong field: %(fields)s.", fields=fields)
        return await _error_page(request, ctx, 400, message, ERROR_TITLES[400])

    @app.exception_handler(redis.RedisError)
    async def _redis_down(request: Request, exc: redis.RedisError) -> Response:
        log.error("%s %s: Redis: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return await _error_page(request, ctx, 503, REDIS_DOWN, ERROR_TITLES[503])

    @app.exception_handler(PbxUnavailable)
    async def _pbx_down(request: Request, exc: PbxUnavailable) -> Response:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return await _error_page(request, ctx, 503, PBX_DOWN, ERROR_TITLES[503])

    @app.exception_handler(SQLAlchemyError)
    async def _database_down(request: Request, exc: SQLAlchemyError) -> Response:
        log.exception("%s %s: database error", request.method, request.url.path)
        return await _error_page(request, ctx, 503, DATABASE_DOWN, ERROR_TITLES[503])

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return await _error_page(request, ctx, 500, UNEXPECTED, CANNOT)


async def _error_page(
    request: Request, ctx: WebContext, status: int, message: Any, title: Msg
) -> Response:
    """The error page in the console's layout, the user's navigation kept, in their language."""
    user = None
    with contextlib.suppress(SQLAlchemyError):  # the database itself may be what failed
        user = await asyncio.to_thread(current_user, request, ctx)
    shown = message if isinstance(message, Msg) else str(message)
    return ctx.render(request, "error.html", user, status=status, message=shown, title=title)
