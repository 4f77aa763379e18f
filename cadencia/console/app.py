"""The console's assembly: context, lifespan, security headers, error pages, routers.

Routes live in their page-group modules (``login``, ``desktop``,
``dashboard``, ``compliance_pages``, ``admin``); what they depend on is in
``deps``. This module only puts them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from cadencia.console.admin import router as admin_pages
from cadencia.console.agent_events import pump_agent_events
from cadencia.console.agent_work import router as agent_work_pages
from cadencia.console.compliance_pages import router as compliance_pages
from cadencia.console.dashboard import router as dashboard_pages
from cadencia.console.deps import NotLoggedIn, WebContext, current_user
from cadencia.console.desktop import router as desktop_pages
from cadencia.console.login import router as login_pages
from cadencia.console.runs_pages import router as runs_pages
from campaigns.agents.events import NAMESPACE
from campaigns.settings import AmiSettings

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
ERROR_TITLES = {401: "Not logged in", 403: "Not allowed", 404: "Not found"}


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
    (``campaigns.agents.events``); ``clock`` gives "now" (UTC).

    ``secure_cookies`` marks cookies Secure (HTTPS only); turn it off only for
    plain-HTTP development on localhost.
    """
    ctx = WebContext(
        engine=engine,
        redis_url=redis_url,
        ami=ami,
        namespace=namespace,
        clock=clock or (lambda: dt.datetime.now(dt.UTC)),
        secure_cookies=secure_cookies,
        templates=Jinja2Templates(directory=str(PACKAGE / "templates")),
    )
    app = FastAPI(title="Cadencia console", lifespan=_lifespan(ctx), docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.middleware("http")(_security_headers)
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    _install_error_pages(app, ctx)
    for router in (login_pages, desktop_pages, dashboard_pages, compliance_pages, admin_pages):
        app.include_router(router)
    app.include_router(runs_pages)
    app.include_router(agent_work_pages)
    return app


def _lifespan(ctx: WebContext) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(pump_agent_events(ctx), name="agent-events")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            ctx.close()

    return lifespan


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _install_error_pages(app: FastAPI, ctx: WebContext) -> None:
    @app.exception_handler(NotLoggedIn)
    async def _to_login(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.endswith("/events") or request.method != "GET":
            return Response("not logged in", status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        user = current_user(request, ctx) if exc.status_code == 403 else None
        return ctx.render(
            request,
            "error.html",
            user,
            status=exc.status_code,
            message=str(exc.detail),
            title=ERROR_TITLES.get(exc.status_code, "Cannot do that"),
        )
