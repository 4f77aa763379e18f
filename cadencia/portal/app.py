"""The debtor portal's web app: ``/p/<reference>`` and its forms.

A visitor with a live link answers the identity check, then sees every open
debt (across campaigns), the offers they qualify for, and the forms: promise,
accept a plan, preferred channel and hours, opt out of a channel, ask to be
called back. Every action goes through ``campaigns.portal.actions``.

A tampered, expired, revoked or unknown reference gets one plain page (same
status, same body, same headers) that names no one and nothing. Pages load
no script at all; the Content-Security-Policy allows only the portal's own
stylesheet, and ``Referrer-Policy: no-referrer`` keeps the reference out of
other sites' logs.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from cadencia.portal.i18n import LANGUAGES, Speaker, choose
from cadencia.portal.session import COOKIE, SESSION_MINUTES, Session, Signer
from campaigns.amounts import EXAMPLE, written
from campaigns.portal import actions
from campaigns.portal.actions import PortalRefused
from campaigns.portal.identity import check_identity
from campaigns.portal.links import Link, known_link_id, live_link, log_use
from campaigns.portal.terms import open_debts, terms_of
from campaigns.portfolio.view import customer_360

HERE = Path(__file__).parent
LANG_COOKIE = "cadencia_portal_lang"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
ACTIONS: dict[str, Callable[..., Any]] = {
    "promise": actions.promise,
    "plan": actions.accept_plan,
    "preference": actions.set_preference,
    "opt-out": actions.opt_out,
    "callback": actions.request_callback,
}
NEEDS_LOCALE = {"promise", "callback"}
Clock = Callable[[], dt.datetime]


def _wall() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Portal:
    """The app's state: storage, clock, cookie signer, templates."""

    def __init__(self, engine: Engine, clock: Clock, signer: Signer, secure: bool) -> None:
        self.engine, self.clock, self.signer, self.secure = engine, clock, signer, secure
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def page(self, name: str, speaker: Speaker, status: int = 200, **context: Any) -> HTMLResponse:
        """A template rendered in the speaker's language, with the portal's headers."""
        html = self.templates.get_template(name).render(
            _=speaker, lang=speaker.language, languages=LANGUAGES, **context
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def bad_link(self, request: Request) -> HTMLResponse:
        """The one page for every unusable reference: no name, debt, campaign or creditor."""
        return self.page("bad_link.html", _speaker(request), status=404, here=None)

    def link(self, reference: str, now: dt.datetime) -> Link | None:
        """The live link, or None after logging why not (the response never says)."""
        with self.engine.begin() as conn:
            found = live_link(conn, reference, now)
            if found is None:
                log_use(conn, known_link_id(conn, reference), "open", "bad_link", now=now)
        return found

    def session(self, request: Request, link: Link, now: dt.datetime) -> Session | None:
        """The verified session of this browser for ``link``, if any."""
        return self.signer.read(request.cookies.get(COOKIE), link.id, now)


def _speaker(request: Request, country: str | None = None) -> Speaker:
    return Speaker(
        choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")), country
    )


def create_portal_app(
    engine: Engine,
    *,
    clock: Clock | None = None,
    secret: str | None = None,
    secure_cookies: bool = True,
) -> FastAPI:
    """The portal app on ``engine``; ``secret`` signs its session cookies."""
    portal = Portal(engine, clock or _wall, Signer(secret), secure_cookies)
    app = FastAPI(title="Cadencia portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _routes(app, portal)
    return app


def _routes(app: FastAPI, portal: Portal) -> None:
    @app.get("/p/{reference}", response_class=HTMLResponse)
    def show(request: Request, reference: str, lang: str | None = None) -> Response:
        if lang in LANGUAGES:
            response = RedirectResponse(request.url.path, status_code=303, headers=HEADERS)
            _cookie(response, LANG_COOKIE, str(lang), portal.secure, 365 * 86400)
            return response
        now = portal.clock()
        link = portal.link(reference, now)
        if link is None:
            return portal.bad_link(request)
        session = portal.session(request, link, now)
        if session is None:
            return _check_page(portal, request, reference, link, now)
        return _home(
            portal, request, reference, link, session, now, done=request.query_params.get("done")
        )

    @app.post("/p/{reference}/check", response_class=HTMLResponse)
    async def check(request: Request, reference: str) -> Response:
        now = portal.clock()
        link = portal.link(reference, now)
        if link is None:
            return portal.bad_link(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        speaker = _speaker(request)
        verdict = check_identity(portal.engine, link.id, form.get("answer", "")[:40],
                                 locale=speaker.locale, now=now)  # fmt: skip
        if verdict == "ok":
            response = RedirectResponse(f"/p/{reference}", status_code=303, headers=HEADERS)
            value, _ = portal.signer.issue(link.id, now)
            _cookie(response, COOKIE, value, portal.secure, SESSION_MINUTES * 60)
            return response
        # A lock that this very answer set shows as the lock notice.
        return _check_page(portal, request, reference, link, now,
                           wrong=True if verdict == "wrong" else None)  # fmt: skip

    @app.post("/p/{reference}/{action}", response_class=HTMLResponse)
    async def act(request: Request, reference: str, action: str) -> Response:
        now = portal.clock()
        link = portal.link(reference, now)
        if link is None or action not in ACTIONS:
            return portal.bad_link(request)
        session = portal.session(request, link, now)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if session is None or not secrets.compare_digest(form.get("csrf", ""), session.csrf):
            return RedirectResponse(f"/p/{reference}", status_code=303, headers=HEADERS)
        ctx = actions.context_of(portal.engine, link)
        if ctx is None:
            return portal.bad_link(request)
        speaker = _speaker(request, ctx.who.country)
        extra = {"locale": speaker.locale} if action in NEEDS_LOCALE else {}
        try:
            ACTIONS[action](portal.engine, ctx, form, now=now, **extra)
        except PortalRefused as exc:
            with portal.engine.begin() as conn:
                log_use(conn, link.id, action, "refused", now=now, detail={"errors": exc.errors})
            return _home(portal, request, reference, link, session, now, errors=exc.problems,
                         form=form, status=400)  # fmt: skip
        return RedirectResponse(f"/p/{reference}?done={action}", status_code=303, headers=HEADERS)


def _cookie(response: Response, name: str, value: str, secure: bool, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/p/", secure=secure,
                        httponly=True, samesite="strict")  # fmt: skip


def _check_page(
    portal: Portal, request: Request, reference: str, link: Link, now: dt.datetime,
    *, wrong: bool | None = False,
) -> HTMLResponse:  # fmt: skip
    """The identity question (or the lock notice), naming nothing about the debt.

    ``wrong``: True after a wrong answer, None when the answer just locked the link.
    """
    speaker = _speaker(request)
    if link.locked(now) or wrong is None:
        return portal.page("locked.html", speaker, status=429, here=reference)
    with portal.engine.connect() as conn:
        method = terms_of(conn, link.campaign).portal.identity
    return portal.page("check.html", speaker, status=400 if wrong else 200, here=reference,
                       method=method, wrong=wrong)  # fmt: skip


def _home(
    portal: Portal, request: Request, reference: str, link: Link, session: Session,
    now: dt.datetime, *, done: str | None = None, errors: list[Any] | None = None,
    form: dict[str, str] | None = None, status: int = 200,
) -> HTMLResponse:  # fmt: skip
    """Every open debt, the offers, the forms."""
    ctx = actions.context_of(portal.engine, link)
    if ctx is None:
        return portal.bad_link(request)
    speaker = _speaker(request, ctx.who.country)
    view = customer_360(portal.engine, ctx.who.customer_id)
    with portal.engine.begin() as conn:
        debts = open_debts(conn, ctx.who.pk)
        log_use(conn, link.id, "view", "ok", now=now)
    return portal.page(
        "home.html", speaker, status=status, here=reference, csrf=session.csrf,
        nonce=secrets.token_urlsafe(18), first_name=view["name"].split(" ")[0], debts=debts,
        accounts={a["account_id"]: a for a in view["accounts"]},
        promises=[p for p in view["promises"] if p["status"] == "pending"],
        offers=actions.offers_for(portal.engine, ctx, now), today=ctx.who.today(now),
        window=ctx.terms.offers.promise_window_days, done=done if done in ACTIONS else None,
        errors=errors or [], form=form or {}, example=written(EXAMPLE, speaker.locale),
        preferred=actions.PREFERRED_CHANNELS, opt_out_channels=actions.OPT_OUT_CHANNELS,
    )  # fmt: skip
