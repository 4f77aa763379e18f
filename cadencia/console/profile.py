"""The user's profile: the console's language and the time zone times are shown in."""

from __future__ import annotations

from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cadencia.console.deps import HOME, WebContext, context, language_of, role, say
from cadencia.console.i18n import LANGUAGES, msg, zone_names, zone_or_default
from cadencia.console.security import CurrentUser, set_preferences

router = APIRouter()
everyone = role(*HOME)
# The zones offered first: where the console's floors and debtors are.
ZONES = (
    "UTC",
    "America/Bogota",
    "America/Lima",
    "America/Guayaquil",
    "America/Santiago",
    "America/Mexico_City",
    "America/Monterrey",
    "America/Argentina/Buenos_Aires",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/Madrid",
    "Europe/Lisbon",
)


def _page(
    request: Request, ctx: WebContext, user: CurrentUser, *, error: str = "", status: int = 200
) -> Response:
    language = language_of(request, user)
    zone = zone_or_default(user.timezone).key
    return ctx.render(
        request,
        "profile.html",
        user,
        status=status,
        zones=zone_names(language, ZONES if zone in ZONES else (zone, *ZONES)),
        zone=zone,
        language=language,
        error=error,
        saved=request.query_params.get("saved") == "1",
    )


@router.get("/profile", response_class=HTMLResponse)
def profile(
    request: Request, user: CurrentUser = Depends(everyone), ctx: WebContext = Depends(context)
) -> Response:
    """The language and time-zone form."""
    return _page(request, ctx, user)


@router.post("/profile", response_class=HTMLResponse)
async def save_profile(
    request: Request, user: CurrentUser = Depends(everyone), ctx: WebContext = Depends(context)
) -> Response:
    """Store the chosen language and zone on the account."""
    form = await request.form()
    language, zone = str(form.get("language", "")), str(form.get("timezone", ""))
    if language not in LANGUAGES:
        error = msg("Choose one of the languages offered.")
        return _page(request, ctx, user, error=say(request, user, error), status=422)
    if zone not in available_timezones():
        error = msg("%(zone)s is not a time zone: choose one from the list.", zone=zone)
        return _page(request, ctx, user, error=say(request, user, error), status=422)
    await run_in_threadpool(
        lambda: set_preferences(ctx.engine, user.id, language=language, timezone=zone)
    )
    return RedirectResponse("/profile?saved=1", status_code=303)
