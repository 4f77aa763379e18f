"""The debtor portal's web app: ``/p/<reference>`` and its forms.

A visitor with a live link answers the identity check, then sees every open
debt (across campaigns), the offers they qualify for, and the forms: promise,
accept a plan or the settlement, preferred channel and hours, opt out of a
channel, ask to be called back. Every action goes through
``campaigns.portal.actions``. With a processor configured, they can also pay
(``/p/<reference>/pay``, ``campaigns.portal.pay``): the page sends them to the
processor's hosted checkout and back; the money counts when the processor's
signed webhook reaches ``cadencia webhooks``.

A tampered, expired, revoked or unknown reference gets one plain page (same
status, same body, same headers) that names no one and nothing. Pages load
no script at all; the Content-Security-Policy allows only the portal's own
stylesheet (and, for forms, the processor's checkout origin, which a form's
redirect goes to), and ``Referrer-Policy: no-referrer`` keeps the reference out of
other sites' logs.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from cadencia.portal.i18n import LANGUAGES, Speaker, choose
from cadencia.portal.session import COOKIE, SESSION_MINUTES, Session, Signer
from campaigns.amounts import EXAMPLE, written
from campaigns.portal import actions
from campaigns.portal.actions import PortalRefused, Problem
from campaigns.portal.checkout import StripeCheckout
from campaigns.portal.identity import check_identity
from campaigns.portal.links import Link, known_link_id, live_link, log_use
from campaigns.portal.pay import PaymentUnavailable, chosen_payment, payable_promises, start_payment
from campaigns.portal.payments import session_status
from campaigns.portal.terms import open_debts, terms_of
from campaigns.portfolio.view import customer_360
from campaigns.settings import DEFAULT_STRIPE_API_BASE, StripeSettings

HERE = Path(__file__).parent
LANG_COOKIE = "cadencia_portal_lang"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{checkout}; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Stripe's hosted checkout, where the Pay form's redirect goes (Chromium
# applies form-action to the redirects that follow a form's submission).
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
HEADERS = {
    "Content-Security-Policy": CSP.format(checkout=""),
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
    "settlement": actions.accept_settlement,
}
NEEDS_LOCALE = {"promise", "callback"}
Clock = Callable[[], dt.datetime]


def _wall() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Portal:
    """The app's state: storage, clock, cookie signer, templates."""

    def __init__(self, engine: Engine, clock: Clock, signer: Signer, secure: bool,
                 checkout: StripeCheckout | None = None) -> None:  # fmt: skip
        self.engine, self.clock, self.signer, self.secure = engine, clock, signer, secure
        self.checkout = checkout
        self.headers = {**HEADERS, "Content-Security-Policy": CSP.format(
            checkout=f" {checkout_origin(checkout.settings)}" if checkout else "")}  # fmt: skip
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def page(self, name: str, speaker: Speaker, status: int = 200, **context: Any) -> HTMLResponse:
        """A template rendered in the speaker's language, with the portal's headers."""
        html = self.templates.get_template(name).render(
            _=speaker, lang=speaker.language, languages=LANGUAGES, **context
        )
        return HTMLResponse(html, status_code=status, headers=self.headers)

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


def checkout_origin(settings: StripeSettings) -> str:
    """The origin of the hosted checkout pages: Stripe's, or the API's when it is not Stripe's.

    A stand-in (or a proxy) pointed at by ``CADENCIA_STRIPE_API_BASE`` serves
    its hosted page on its own origin.
    """
    if settings.api_base.rstrip("/") == DEFAULT_STRIPE_API_BASE:
        return STRIPE_CHECKOUT_ORIGIN
    parts = urlsplit(settings.api_base)
    return f"{parts.scheme}://{parts.netloc}"


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
    stripe: StripeSettings | None = None,
) -> FastAPI:
    """The portal app on ``engine``; ``secret`` signs its session cookies.

    ``stripe`` (``Settings.stripe()``) lets customers pay through Stripe
    Checkout; without it no Pay button is shown.
    """
    checkout = StripeCheckout(stripe) if stripe else None
    portal = Portal(engine, clock or _wall, Signer(secret), secure_cookies, checkout)
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
            portal, request, reference, link, session, now, done=request.query_params.get("done"),
            payment=_returned(portal, link, request.query_params.get("payment")),
        )  # fmt: skip

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

    @app.post("/p/{reference}/pay", response_class=HTMLResponse)
    async def pay(request: Request, reference: str) -> Response:
        now = portal.clock()
        link = portal.link(reference, now)
        if link is None or portal.checkout is None:
            return portal.bad_link(request)
        session = portal.session(request, link, now)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if session is None or not secrets.compare_digest(form.get("csrf", ""), session.csrf):
            return RedirectResponse(f"/p/{reference}", status_code=303, headers=HEADERS)
        return await run_in_threadpool(
            _pay, portal, request, reference, link, session, form, now, portal.checkout
        )

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


def _pay(
    portal: Portal, request: Request, reference: str, link: Link, session: Session,
    form: dict[str, str], now: dt.datetime, checkout: StripeCheckout,
) -> Response:  # fmt: skip
    """The chosen payment's row, then the processor's checkout: a 303 to its hosted page."""
    ctx = actions.context_of(portal.engine, link)
    if ctx is None:
        return portal.bad_link(request)
    speaker = _speaker(request, ctx.who.country)
    try:
        chosen = chosen_payment(portal.engine, ctx, form, locale=speaker.locale)
    except PortalRefused as exc:
        with portal.engine.begin() as conn:
            log_use(conn, link.id, "pay", "refused", now=now, detail={"errors": exc.errors})
        # Not the form back: its amount would land in the promise form's field.
        return _home(portal, request, reference, link, session, now, errors=exc.problems,
                     status=400)  # fmt: skip
    try:
        url = start_payment(
            portal.engine, ctx, chosen, checkout, reference=reference,
            label=speaker("Payment"), language=speaker.language, now=now,
        )  # fmt: skip
    except PaymentUnavailable as exc:
        # Plain words for the customer; the reason stays on the failed row.
        problem = (
            Problem("pay", "The payment service did not answer. Nothing was charged; "
                           "please try again in a few minutes.")
            if exc.retry
            else Problem("pay", "We cannot take payments online right now. Nothing was "
                                "charged; please try again later.")
        )  # fmt: skip
        return _home(portal, request, reference, link, session, now, errors=[problem],
                     status=503)  # fmt: skip
    return RedirectResponse(url, status_code=303, headers=portal.headers)


def _returned(portal: Portal, link: Link, value: str | None) -> str | None:
    """What to say of a return from the checkout: ``cancelled``, ``confirmed``, ``received``."""
    if not value:
        return None
    if value == "cancelled":
        return "cancelled"
    status = session_status(portal.engine, link.id, value[:255])
    if status is None:
        return None
    return "confirmed" if status == "paid" else "received"


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
    form: dict[str, str] | None = None, status: int = 200, payment: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """Every open debt, the offers, the forms (and Pay, with a processor)."""
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
        window=ctx.offers.promise_window_days, done=done if done in ACTIONS else None,
        errors=errors or [], form=form or {}, example=written(EXAMPLE, speaker.locale),
        preferred=actions.PREFERRED_CHANNELS, opt_out_channels=actions.OPT_OUT_CHANNELS,
        can_pay=portal.checkout is not None, payment=payment,
        payable=payable_promises(portal.engine, ctx) if portal.checkout else [],
    )  # fmt: skip
