"""Finding a customer the way an agent asks: by id, by phone number, or by name.

The agent desktop's search (``cadencia.console.agent_work``): a customer who
writes in or calls from an unknown number is found by any of the three.

* an id matches the creditor's customer id exactly;
* a phone matches when its digits end with the digits typed (at least
  seven: ``310 555 0101`` finds ``+573105550101``);
* a name matches when every word typed appears in it, accents and case
  folded on both sides (``jose nunez`` finds ``María José Núñez``).

The name fold runs in SQL (``translate`` on PostgreSQL, nested ``replace``
on SQLite), so nothing needs an extension or a new column; it scans the
customers table, which an agent's occasional search can afford (an indexed
folded column would need a migration, not worth it yet).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from campaigns.storage.models import ContactPoint, Customer

MIN_PHONE_DIGITS = 7
MAX_QUERY = 100
# Accented letters of the portfolios' languages (es, pt, fr, de) and their base letter.
_FOLD = {ch: unicodedata.normalize("NFKD", ch)[0] for ch in "áàâäãåéèêëíìîïóòôöõúùûüñçýÿ"}

_SQLITE_FOLD = "áéíóúüñÁÉÍÓÚÜÑ"


@dataclass(frozen=True)
class CustomerHit:
    """One customer a search found, with their phones (raw: the caller masks them)."""

    customer_id: str
    name: str
    country: str
    phones: tuple[str, ...]


def fold(text: str) -> str:
    """``text`` lower-cased without accents: what names are compared on."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _folded(column: sa.ColumnExpressionArgument[str], dialect: str) -> ColumnElement[str]:
    """``column`` lower-cased and stripped of accents, in SQL.

    PostgreSQL folds every letter of ``_FOLD`` in one ``translate``. SQLite has
    no ``translate``, its ``lower`` folds ASCII only, and its parser refuses
    more than about 28 nested calls, so there the Spanish letters are folded
    (both cases), which covers the portfolios it serves (the demo, tests).
    """
    expr: ColumnElement[str] = sa.type_coerce(column, sa.String)
    if dialect == "postgresql":
        accented = "".join(_FOLD) + "".join(_FOLD).upper()
        plain = "".join(_FOLD.values()) + "".join(_FOLD.values()).upper()
        return sa.func.lower(sa.func.translate(expr, accented, plain))
    for letter in _SQLITE_FOLD:
        expr = sa.func.replace(expr, letter, _FOLD[letter.lower()])
    return sa.func.lower(expr)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_customers(engine: Engine, query: str, *, limit: int = 20) -> list[CustomerHit]:
    """Customers matching ``query`` by id, phone or name; ids first, then by name."""
    text = query.strip()[:MAX_QUERY]
    if not text:
        return []
    digits = "".join(ch for ch in text if ch.isdigit())
    matches: list[ColumnElement[bool]] = [Customer.external_id == text]
    if len(digits) >= MIN_PHONE_DIGITS:
        phone_owners = sa.select(ContactPoint.customer_id).where(
            ContactPoint.kind == "phone",
            ContactPoint.value.like(f"%{digits}", escape="\\"),
        )
        matches.append(Customer.id.in_(phone_owners))
    words = [w for w in fold(text).split() if w]
    if words:
        folded = _folded(Customer.name, engine.dialect.name)
        matches.append(sa.and_(*(folded.like(f"%{_like_escape(w)}%", escape="\\") for w in words)))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Customer.id, Customer.external_id, Customer.name, Customer.country)
            .where(sa.or_(*matches))
            .order_by(sa.case((Customer.external_id == text, 0), else_=1), Customer.name)
            .limit(limit)
        ).all()
        phones: dict[int, list[str]] = {r.id: [] for r in rows}
        for owner, value in conn.execute(
            sa.select(ContactPoint.customer_id, ContactPoint.value)
            .where(ContactPoint.customer_id.in_(list(phones)), ContactPoint.kind == "phone")
            .order_by(ContactPoint.position)
        ):
            phones[owner].append(str(value))
    return [
        CustomerHit(str(r.external_id), str(r.name), str(r.country), tuple(phones[r.id]))
        for r in rows
    ]
