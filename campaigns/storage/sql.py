"""``column IN (...)`` that stays cheap for a whole batch of ids.

SQLAlchemy renders ``IN`` with one placeholder per value; psycopg 3 then
re-parses that statement with a regular expression on every execution (it
only caches statements under 4 KB), which costs more than the query itself
for a batch of a thousand ids. On PostgreSQL one array parameter
(``= ANY(:ids)``) keeps the statement short and constant; SQLite keeps ``IN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def one_of(column: Any, values: Sequence[Any], dialect: str) -> Any:
    """A WHERE clause: ``column`` is one of ``values``."""
    if dialect == "postgresql":
        return column == sa.any_(sa.literal(list(values), postgresql.ARRAY(column.type)))
    return column.in_(list(values))
