"""The day's files from the browser: the portfolio file and the bank's payments file.

A manager uploads a file; the console runs the importers ``cadencia
portfolio import`` and ``cadencia payments import`` run
(``campaigns.portfolio`` and ``campaigns.payments``), so a file is taken
whole or not at all, and a rejected one is shown with the importer's own
errors, line and field. The body's size is checked from its Content-Length
before any of it is read (``CADENCIA_WEB_UPLOAD_MAX_MIB``); the multipart
parser spools the file to disk, and it is copied in chunks to a temporary
file the importer reads, deleted afterwards. Every import, loaded or
rejected, is a line of the admin log (``web_admin_log``) with who uploaded it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cadencia.console.deps import WebContext, context, language_of, role
from cadencia.console.i18n import Msg, money, msg
from cadencia.console.security import CurrentUser
from campaigns.storage.accounts import AdminAction

router = APIRouter()
managers = role("manager")
MIB = 1024 * 1024
MAX_UPLOAD_BYTES = 200 * MIB  # CADENCIA_WEB_UPLOAD_MAX_MIB's default
CHUNK = MIB
MAX_ERRORS_SHOWN = 100  # as the CLI prints; the count says how many more
LOG_ACTIONS = {"portfolio": "portfolio_imported", "payments": "payments_imported"}
KINDS = {"portfolio": msg("portfolio file"), "payments": msg("payments file")}


@dataclass(frozen=True)
class Located:
    """One of the importer's errors: the line, the field and the importer's message."""

    line: str
    field: str
    message: str | Msg  # translated where shown


@dataclass
class Outcome:
    """What became of one uploaded file: its counts, or its errors (nothing was loaded)."""

    kind: str
    name: str
    errors: list[Located] = field(default_factory=list)
    counts: list[tuple[Msg, int | str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the file was taken."""
        return not self.errors

    def detail(self) -> str:
        """The admin log's line: ``loaded`` or ``rejected``, and how many rows or errors."""
        if self.errors:
            return f"rejected: {len(self.errors)} errors"
        return "loaded: " + ", ".join(f"{label} {value}" for label, value in self.counts)[:190]


def upload_limit(request: Request) -> int:
    """The largest body the console takes (``create_web_app``'s ``max_upload_bytes``)."""
    return int(getattr(request.app.state, "max_upload_bytes", MAX_UPLOAD_BYTES))


async def size_cap(request: Request) -> None:
    """Refuse, before reading any of it, a body of unknown length (411) or too large (413)."""
    length = request.headers.get("content-length", "")
    limit = upload_limit(request)
    if not length.isdigit():
        raise HTTPException(
            411, msg("The browser did not say how large the file is: upload it again.")
        )
    if int(length) > limit:
        raise HTTPException(
            413,
            msg(
                "The file is larger than the %(size)s the console takes: split it, or ask "
                "your administrator to import it with the command line.",
                size=size_text(limit),
            ),
        )


def size_text(size: int) -> str:
    """A size in MiB, or in KiB below one MiB."""
    return f"{size // MIB} MiB" if size >= MIB else f"{max(1, size // 1024)} KiB"


def located(error: str, prefixes: tuple[str, ...]) -> Located:
    """Split the importer's ``file:line: field: message`` (the file is one of ``prefixes``)."""
    for prefix in prefixes:
        if error.startswith(prefix + ":"):
            error = error[len(prefix) + 1 :]
            break
    line, _, rest = error.partition(": ")
    column, _, message = rest.partition(": ")
    if not message:  # not the usual shape: keep the whole text as the message
        return Located("", "", error)
    return Located(line, column, message)


def _to_temporary_file(source: IO[bytes], suffix: str) -> Path:
    """Copy the upload, a chunk at a time, into a temporary file the importer can read."""
    with tempfile.NamedTemporaryFile(prefix="cadencia-upload-", suffix=suffix, delete=False) as out:
        shutil.copyfileobj(source, out, CHUNK)
        return Path(out.name)


def import_portfolio(
    ctx: WebContext, path: Path, name: str, *, full_refresh: bool, workers: int = 1
) -> Outcome:
    """Validate and load the portfolio at ``path`` as ``cadencia portfolio import`` does."""
    from campaigns.portfolio.load import load_portfolio
    from campaigns.portfolio.validate import validate_file

    portfolio = validate_file(path, None, workers=workers)
    outcome = Outcome("portfolio", name)
    if portfolio.errors:
        outcome.errors = [Located(str(e.line), e.field, e.message) for e in portfolio.errors]
        return outcome
    summary = load_portfolio(ctx.engine, portfolio, now=ctx.clock(), full_refresh=full_refresh)
    outcome.counts = [
        (msg("customers"), summary.customers),
        (msg("new customers"), summary.customers_created),
        (msg("accounts"), summary.accounts),
        (msg("new accounts"), summary.accounts_created),
        (msg("accounts closed"), summary.accounts_closed),
        (msg("contact points"), summary.contact_points),
        (msg("contact points retired"), summary.contact_points_retired),
    ]
    return outcome


def import_payments(ctx: WebContext, path: Path, name: str, language: str) -> Outcome:
    """Read and record the payments at ``path`` as ``cadencia payments import`` does."""
    from campaigns.payments.file import parse_payments_file
    from campaigns.payments.record import PaymentsRejected, record_payments

    outcome = Outcome("payments", name)
    parsed = parse_payments_file(path)
    if parsed.errors:
        outcome.errors = [Located(str(n), column, text) for n, column, text in parsed.located]
        return outcome
    try:
        summary = record_payments(
            ctx.engine, parsed.payments, source="file", now=ctx.clock(), name=name
        )
    except PaymentsRejected as exc:
        outcome.errors = [located(str(e), (name,)) for e in exc.errors]
        return outcome
    amounts = ", ".join(money(a, c, language) for c, a in sorted(summary.amounts.items()))
    outcome.counts = [
        (msg("payments in the file"), summary.received),
        (msg("payments recorded"), summary.recorded),
        (msg("already recorded before (counted once)"), summary.duplicates),
        (msg("amount recorded"), amounts or "–"),
        (msg("promises kept"), summary.promises.kept),
        (msg("promises partly kept"), summary.promises.partly_kept),
        (msg("promises broken"), summary.promises.broken),
    ]
    return outcome


def record_upload(ctx: WebContext, user: CurrentUser, outcome: Outcome) -> None:
    """Who imported which file, and what became of it: one line of the admin log."""
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.insert(AdminAction).values(
                at=ctx.clock(),
                actor=user.username[:80],
                action=LOG_ACTIONS[outcome.kind],
                target=outcome.name[:80],
                detail=outcome.detail()[:200],
            )
        )


def recent_uploads(ctx: WebContext, limit: int = 20) -> list[sa.Row[Any]]:
    """The latest imports from the console, newest first."""
    a = AdminAction
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(a.at, a.actor, a.action, a.target, a.detail)
                .where(a.action.in_(list(LOG_ACTIONS.values())))
                .order_by(a.at.desc(), a.id.desc())
                .limit(limit)
            )
        )


def _page(
    request: Request,
    ctx: WebContext,
    user: CurrentUser,
    *,
    outcome: Outcome | None = None,
    error: Msg | None = None,
) -> Response:
    """The uploads page: both forms, what became of the last file, the latest imports."""
    status = 422 if error or (outcome and not outcome.ok) else 200
    return ctx.render(
        request,
        "uploads.html",
        user,
        status=status,
        outcome=outcome,
        shown_errors=outcome.errors[:MAX_ERRORS_SHOWN] if outcome else [],
        more_errors=max(0, len(outcome.errors) - MAX_ERRORS_SHOWN) if outcome else 0,
        kinds=KINDS,
        error=error or "",
        max_size=size_text(upload_limit(request)),
        recent=recent_uploads(ctx),
        log_actions={v: k for k, v in LOG_ACTIONS.items()},
    )


@router.get("/uploads", response_class=HTMLResponse)
def uploads(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> Response:
    """The forms to upload the day's portfolio and payments files, and the latest imports."""
    return _page(request, ctx, user)


async def _receive(request: Request, ctx: WebContext, user: CurrentUser, kind: str) -> Response:
    """Take the form's file into a temporary file, import it, log it, show the outcome."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, ctx, user, error=msg("Choose a file to upload."))
    name = Path(upload.filename.replace("\\", "/")).name[:120] or kind
    path = await run_in_threadpool(_to_temporary_file, upload.file, Path(name).suffix[:10])
    try:
        if kind == "portfolio":
            full_refresh = form.get("full_refresh") == "yes"
            outcome = await run_in_threadpool(
                import_portfolio, ctx, path, name, full_refresh=full_refresh
            )
        else:
            language = language_of(request, user)
            outcome = await run_in_threadpool(import_payments, ctx, path, name, language)
    finally:
        path.unlink(missing_ok=True)
        await form.close()
    await run_in_threadpool(record_upload, ctx, user, outcome)
    return _page(request, ctx, user, outcome=outcome)


@router.post("/uploads/portfolio", response_class=HTMLResponse)
async def upload_portfolio(
    request: Request,
    _cap: None = Depends(size_cap),
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Import an uploaded portfolio file: all rows or none (CSRF checked by the role)."""
    return await _receive(request, ctx, user, "portfolio")


@router.post("/uploads/payments", response_class=HTMLResponse)
async def upload_payments(
    request: Request,
    _cap: None = Depends(size_cap),
    user: CurrentUser = Depends(managers),
    ctx: WebContext = Depends(context),
) -> Response:
    """Record an uploaded payments file: every row or none (CSRF checked by the role)."""
    return await _receive(request, ctx, user, "payments")
