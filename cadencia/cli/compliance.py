"""``cadencia compliance|ledger|audit …``: what compliance officers run."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cadencia.cli._common import err_console, fail, print_json, ready_engine, settings_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

compliance_app = typer.Typer(help="Rule packs and what-if checks.", no_args_is_help=True)
ledger_app = typer.Typer(
    help="The contact ledger: JSON-lines interchange and signed checkpoints.",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="Audit contacts, violations and the ledger's integrity.", no_args_is_help=True
)

JSON_OPT = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _day(value: str, option: str) -> dt.datetime:
    """A date (UTC midnight) or an ISO instant with offset."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (YYYY-MM-DD) or ISO 8601 instant", code=2)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _optional_day(value: str | None, option: str) -> dt.datetime | None:
    return None if not value else _day(value, option)


@compliance_app.command("packs")
def list_packs(as_json: JSON_OPT = False) -> None:
    """List the shipped rule packs and every rule with its statute citation."""
    from compliance import available_packs, load_pack

    packs = [load_pack(name) for name in available_packs()]
    if as_json:
        print_json(
            [
                {
                    "pack": p.name,
                    "title": p.title,
                    "jurisdiction": p.jurisdiction,
                    "rules": [
                        {
                            "id": r.id,
                            "kind": r.kind,
                            "citation": r.citation,
                            "description": " ".join(r.description.split()),
                        }
                        for r in p.rules
                    ],
                }
                for p in packs
            ]
        )
        return
    console = Console()
    for pack in packs:
        table = Table(
            "rule",
            "kind",
            "citation",
            "description",
            title=f"{pack.name} — {pack.title} ({pack.jurisdiction})",
            show_lines=True,
        )
        for r in pack.rules:
            table.add_row(r.id, r.kind, r.citation, " ".join(r.description.split()))
        console.print(table)


@compliance_app.command("check")
def check(
    pack: Annotated[str, typer.Option(help="Comma-separated packs, e.g. us-regf,house.")],
    history: Annotated[Path, typer.Option(help="JSON-lines history (docs/ledger-format.md).")],
    proposal: Annotated[Path, typer.Option(help="JSON object: the contact being considered.")],
    as_json: JSON_OPT = False,
) -> None:
    """What-if: could we make this contact, given this history? Exit 0 allowed, 3 refused."""
    from campaigns.ledger.interchange import parse_jsonl
    from compliance import ComplianceInputError, evaluate, load_packs, proposal_from_dict

    try:
        packs = load_packs([p.strip() for p in pack.split(",") if p.strip()])
    except (ComplianceInputError, KeyError, FileNotFoundError) as exc:
        fail(f"--pack: {exc}", code=2)
    parsed = parse_jsonl(history)
    if parsed.errors:
        for error in parsed.errors:
            err_console.print(error, markup=False, highlight=False)
        fail(f"{history}: {len(parsed.errors)} errors", code=2)
    try:
        doc = json.loads(proposal.read_text(encoding="utf-8"))
        prop = proposal_from_dict(doc, where=str(proposal))
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"{proposal}: cannot read the proposal: {exc}", code=2)
    except ComplianceInputError as exc:
        fail(str(exc), code=2)
    decision = evaluate(packs, parsed.events, prop)
    if as_json:
        print_json(decision.to_dict())
    else:
        table = Table(
            "rule",
            "ok",
            "citation",
            "detail",
            title="allowed" if decision.allowed else "NOT allowed",
        )
        for r in decision.results:
            table.add_row(r.rule, "yes" if r.ok else "[red]no[/]", r.citation, r.detail)
        Console().print(table)
    if not decision.allowed:
        raise typer.Exit(3)


@ledger_app.command("import")
def ledger_import(ctx: typer.Context, file: Path, as_json: JSON_OPT = False) -> None:
    """Seed the ledger from another system's JSON-lines history: all lines or none."""
    from campaigns.ledger.interchange import import_events, parse_jsonl
    from campaigns.payments.taken import PromiseRejected

    parsed = parse_jsonl(file)
    if parsed.errors:
        if as_json:
            print_json({"ok": False, "errors": parsed.errors})
        for error in parsed.errors[:100]:
            err_console.print(error, markup=False, highlight=False)
        fail(f"{file}: {len(parsed.errors)} errors; nothing was imported")
    engine = ready_engine(ctx)
    try:
        new = import_events(engine, parsed.events, now=dt.datetime.now(dt.UTC), terms=parsed.terms)
    except PromiseRejected as exc:
        fail(f"{file}: a promise cannot be tracked: {exc}; nothing was imported")
    finally:
        engine.dispose()
    result = {
        "ok": True,
        "events": len(parsed.events),
        "new": new,
        "already_present": len(parsed.events) - new,
    }
    if as_json:
        print_json(result)
    else:
        err_console.print(
            f"imported {new} new events ({result['already_present']} already present)"
        )


@ledger_app.command("export")
def ledger_export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default stdout).")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this date (inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Up to this date (exclusive).")] = None,
) -> None:
    """Export settled events as JSON lines (pending attempts are counted, not written)."""
    from campaigns.ledger.interchange import export_jsonl

    engine = ready_engine(ctx)
    filters = {
        "customer_id": customer,
        "since": _optional_day(since, "--from"),
        "until": _optional_day(until, "--to"),
    }
    try:
        if output is None:
            written, pending = export_jsonl(engine, sys.stdout, **filters)
        else:
            with output.open("w", encoding="utf-8") as out:
                written, pending = export_jsonl(engine, out, **filters)
    finally:
        engine.dispose()
    err_console.print(f"exported {written} events; {pending} pending attempts not yet settled")


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A signed checkpoint file, or the directory of them all: the ledger must "
            "hold what they attest (a rewritten or cut ledger fails, naming the row)."
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="File with the checkpoints' public key(s) (base64 or PEM); default "
            "CADENCIA_CHECKPOINT_PUBLIC_KEY. An auditor should use a copy they obtained "
            "independently."
        ),
    ] = None,
    as_json: JSON_OPT = False,
) -> None:
    """Recompute the ledger's hash chain; exit 1 if any row was edited or deleted."""
    from campaigns.ledger.chain import verify

    if checkpoint is not None:
        _verify_with_checkpoints(ctx, checkpoint, public_key, as_json)
        return
    engine = ready_engine(ctx)
    try:
        report = verify(engine)
    finally:
        engine.dispose()
    if as_json:
        print_json(report.as_dict())
    elif report.ok:
        err_console.print(f"ledger intact: {report.events} events, every link verified")
    if not report.ok:
        fail(f"ledger BROKEN at event {report.event_id}: {report.problem}")


def _verify_with_checkpoints(
    ctx: typer.Context, path: Path, public_key: Path | None, as_json: bool
) -> None:
    """``audit verify --checkpoint``: the signatures, then the ledger against them."""
    from campaigns.ledger.attest import checkpoint_names, verify_with_checkpoints
    from campaigns.ledger.checkpoint import CheckpointError
    from campaigns.ledger.checkpoint_store import DirectoryStore

    publics = _public_keys(ctx, public_key)
    whole = path.is_dir()
    if whole:
        store = DirectoryStore(path)
        names = checkpoint_names(store)
    elif path.is_file():
        store, names = DirectoryStore(path.parent), [path.name]
    else:
        fail(f"--checkpoint {path}: no such file or directory", code=2)
    engine = ready_engine(ctx)
    try:
        report = verify_with_checkpoints(engine, store, names, publics, from_first=whole)
    except CheckpointError as exc:
        if as_json:
            print_json({"ok": False, "problem": str(exc), "event_id": None})
        fail(f"checkpoint REFUSED: {exc}")
    finally:
        engine.dispose()
    if as_json:
        print_json(report.as_dict())
    elif report.ok:
        newest = report.checkpoints[-1]
        err_console.print(
            f"ledger intact: {report.chain.events} events, every link verified; "
            f"{report.attested} attested by {len(report.checkpoints)} signed checkpoints "
            f"(newest {newest.seq}, signed {newest.at} by key {newest.key_id}); "
            f"{report.unattested} appended since"
        )
    if not report.ok:
        chain = report.chain
        fail(f"ledger BROKEN at event {chain.event_id}: {chain.problem}")


def _public_keys(ctx: typer.Context, path: Path | None) -> dict[str, Ed25519PublicKey]:
    """The public keys from ``--public-key`` or the settings; exit 2 when there are none."""
    from campaigns.ledger.signing import SigningKeyError, load_publics

    if path is None:
        publics = settings_of(ctx).checkpoint_publics()
        if not publics:
            fail(
                "no public key: pass --public-key FILE or set CADENCIA_CHECKPOINT_PUBLIC_KEY",
                code=2,
            )
        return publics
    try:
        return load_publics(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SigningKeyError) as exc:
        fail(f"--public-key {path}: {exc}", code=2)


@ledger_app.command("keygen")
def ledger_keygen(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The private key file to create (mode 0600).")
    ],
    as_json: JSON_OPT = False,
) -> None:
    """Make the checkpoints' Ed25519 key pair: OUTPUT (private, PEM) and OUTPUT.pub (public)."""
    from campaigns.ledger.signing import generate, public_line

    try:
        signer, public_path = generate(output)
    except FileExistsError as exc:
        fail(f"{exc.filename} already exists: a key is never overwritten")
    except OSError as exc:
        fail(f"cannot write the key: {exc}")
    result = {
        "private_key": str(output),
        "public_key_file": str(public_path),
        "public_key": public_line(signer.public),
        "key_id": signer.key_id,
    }
    if as_json:
        print_json(result)
        return
    err_console.print(
        f"private key {output} (readable only by you: give it to the checkpoint job as "
        f"CADENCIA_CHECKPOINT_KEY_FILE)\npublic key {public_path}, key id {signer.key_id}:\n"
        f"  CADENCIA_CHECKPOINT_PUBLIC_KEY={result['public_key']}",
        highlight=False,
    )


@ledger_app.command("checkpoint")
def ledger_checkpoint(ctx: typer.Context, as_json: JSON_OPT = False) -> None:
    """Sign the ledger's head and the rows since the last checkpoint; store it write-once.

    Run it on a schedule (docs/deploy.md). Exit 1, signing nothing, when the
    ledger no longer holds what the newest checkpoint attests.
    """
    from campaigns.ledger.attest import make_checkpoint
    from campaigns.ledger.checkpoint import CheckpointError, CheckpointRefused
    from campaigns.ledger.checkpoint_store import CheckpointExists
    from campaigns.settings import ConfigError

    settings = settings_of(ctx)
    try:
        signer, publics = settings.checkpoint_signer(), settings.checkpoint_publics()
    except (ConfigError, ValueError) as exc:
        fail(str(exc), code=2)
    store = settings.checkpoint_store()
    engine = ready_engine(ctx)
    try:
        made = make_checkpoint(engine, store, signer, now=dt.datetime.now(dt.UTC), publics=publics)
    except (CheckpointError, CheckpointRefused, CheckpointExists) as exc:
        fail(f"no checkpoint written: {exc}")
    finally:
        engine.dispose()
    result = {**made.as_dict(), **made.head.as_dict(), "rows": made.rows}
    if as_json:
        print_json(result)
    else:
        err_console.print(
            f"checkpoint {made.seq}: {made.head.events} events up to id "
            f"{made.head.last_event_id} ({made.rows} new), signed by key {made.key_id}: "
            f"{made.source}",
            highlight=False,
        )


@ledger_app.command("verify")
def ledger_verify(
    ctx: typer.Context,
    every: Annotated[
        int | None,
        typer.Option(
            min=60,
            help="Check again every this many seconds until stopped (the schedule; a broken "
            "ledger is recorded and the checks go on).",
        ),
    ] = None,
    as_json: JSON_OPT = False,
) -> None:
    """Recompute the ledger's hash chain here and record the result for the console.

    The console's ledger page shows the newest recorded check. Exit 1 when the
    ledger is broken (without --every).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from campaigns.ledger.verification import check_now

    engine = ready_engine(ctx)
    try:
        while True:
            try:
                check = check_now(engine, source="schedule" if every else "cli")
            except SQLAlchemyError as exc:
                # Recorded as finished without a verdict; the schedule tries again.
                err_console.print(f"ledger check failed: {exc}", markup=False, highlight=False)
                if every is None:
                    raise typer.Exit(1) from None
                time.sleep(every)
                continue
            _print_check(check.as_dict(), as_json)
            if every is None:
                break
            time.sleep(every)
    finally:
        engine.dispose()
    if not check.ok:
        raise typer.Exit(1)


def _print_check(result: dict[str, Any], as_json: bool) -> None:
    """One recorded ledger check, as JSON or a sentence."""
    if as_json:
        print_json(result)
    elif result["ok"]:
        err_console.print(
            f"check {result['id']}: ledger intact, {result['events']} events, every link "
            f"verified in {result['duration_s']:.1f} s",
            highlight=False,
        )
    else:
        err_console.print(
            f"check {result['id']}: ledger BROKEN at event {result['event_id']} after "
            f"{result['events']} good events: {result['problem']}",
            markup=False,
            highlight=False,
        )


@audit_app.command("contacts")
def audit_contacts(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option(help="The customer's id.")],
    debt: Annotated[str | None, typer.Option(help="Only events about this debt.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this date.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Up to this date (exclusive).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """A customer's contact timeline: every attempt, outcome, consent and promise."""
    from campaigns.ledger.audit import timeline

    if fmt not in ("table", "csv", "json"):
        fail(f"--format must be table, csv or json, not {fmt!r}", code=2)
    engine = ready_engine(ctx)
    try:
        rows = timeline(
            engine,
            customer,
            debt_id=debt,
            since=_optional_day(since, "--from"),
            until=_optional_day(until, "--to"),
        )
    finally:
        engine.dispose()
    columns = [
        "at",
        "channel",
        "direction",
        "kind",
        "outcome",
        "debt_ids",
        "contact_point",
        "campaign",
        "agent",
        "pending",
    ]
    if fmt == "json":
        print_json(rows)
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([";".join(r[c]) if c == "debt_ids" else r.get(c, "") for c in columns])
    else:
        table = Table(
            *columns, title=f"Contacts of {customer}" + (f", debt {debt}" if debt else "")
        )
        for r in rows:
            table.add_row(
                *(";".join(r[c]) if c == "debt_ids" else str(r.get(c, "")) for c in columns)
            )
        Console().print(table)


@audit_app.command("violations")
def audit_violations(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--from", help="From this date.")],
    until: Annotated[str, typer.Option("--to", help="Up to this date (exclusive).")],
    pack: Annotated[
        str, typer.Option(help="Packs for attempts that recorded none (imported).")
    ] = "",
    as_json: JSON_OPT = False,
) -> None:
    """Re-judge every attempt in the period by the rules of its day; exit 1 on any finding."""
    from campaigns.ledger.audit import violations

    engine = ready_engine(ctx)
    defaults = tuple(p.strip() for p in pack.split(",") if p.strip())
    try:
        checked, findings = violations(
            engine, _day(since, "--from"), _day(until, "--to"), default_packs=defaults
        )
    finally:
        engine.dispose()
    if as_json:
        print_json({"checked": checked, "findings": [f.as_dict() for f in findings]})
    else:
        for f in findings:
            reasons = "; ".join(f"{r['rule']} ({r['citation']}): {r['detail']}" for r in f.failed)
            err_console.print(
                f"{f.kind}: event {f.event_id} {f.at.isoformat()} {f.customer_id} "
                f"{f.channel}: {reasons}",
                markup=False,
                highlight=False,
            )
        err_console.print(f"{checked} attempts re-evaluated, {len(findings)} findings")
    if findings:
        raise typer.Exit(1)


@audit_app.command("frequency")
def audit_frequency(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--from", help="From this date.")],
    until: Annotated[str, typer.Option("--to", help="Up to this date (exclusive).")],
    pack: Annotated[
        str, typer.Option(help="Packs for attempts that recorded none (imported).")
    ] = "",
    as_json: JSON_OPT = False,
) -> None:
    """Per-rule histograms: how close each debt, customer or number came to its cap."""
    from campaigns.ledger.audit_frequency import cap_usage

    engine = ready_engine(ctx)
    defaults = tuple(p.strip() for p in pack.split(",") if p.strip())
    try:
        report = cap_usage(
            engine, _day(since, "--from"), _day(until, "--to"), default_packs=defaults
        )
    finally:
        engine.dispose()
    if as_json:
        print_json(report)
        return
    table = Table(
        "rule",
        "campaign",
        "channel",
        "cap",
        "scopes",
        "peak count → scopes",
        "at cap",
        "over",
        title="Frequency caps: peak counts reached in the period",
    )
    for r in report:
        histogram = "  ".join(f"{k}→{v}" for k, v in r["histogram"].items())
        table.add_row(
            r["rule"],
            r["campaign"] or "",
            r["channel"],
            str(r["cap"]),
            str(r["scopes"]),
            histogram,
            str(r["at_cap"]),
            str(r["over_cap"]),
        )
    Console().print(table)
