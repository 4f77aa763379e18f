"""Fault: a portfolio file with every kind of malformed row (fuzzed with hypothesis).

Invariant: validation never crashes; every problem is a located error
(``file:line: field: message`` with a real line of the file), a file with
errors never reaches the database, a clean file loads completely, and the
ledger passes every check of ``tests.faults.invariants``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.portfolio import spec
from campaigns.portfolio.load import load_portfolio, table_counts
from campaigns.portfolio.validate import validate_text
from campaigns.storage.db import make_engine, migrate
from tests.faults.invariants import check_ledger
from tests.support.portfolio import row, to_csv

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
NASTY = st.one_of(
    st.just(""),
    st.just("   "),
    st.just('"'),
    st.just("1.234,56"),
    st.just("-1"),
    st.just("NaN"),
    st.just("1e309"),
    st.just("+57 123"),
    st.just("ñandú"),
    st.just("\u0000"),
    st.just("a" * 300),
    st.just("2026-02-30"),
    st.text(max_size=12),
)


@st.composite
def broken_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    rows = []
    for i in range(draw(st.integers(1, 6))):
        cells = row(customer_id=f"C{draw(st.integers(0, 3))}", account_id=f"A{i}")
        for column in draw(st.lists(st.sampled_from(spec.ALL_COLUMNS), max_size=3)):
            cells[column] = draw(NASTY)
        rows.append(cells)
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=broken_rows(), delimiter=st.sampled_from([",", ";", "\t"]))
def test_validation_never_crashes_and_locates_every_error(
    rows: list[dict[str, str]], delimiter: str
) -> None:
    text = to_csv(rows, delimiter)
    result = validate_text(text, "fuzz.csv", delimiter)
    last_line = text.count("\n") + 1
    for error in result.errors:
        assert str(error).startswith(f"fuzz.csv:{error.line}: {error.field}: ")
        assert 1 <= error.line <= last_line and error.message
    if not result.errors:
        assert len(result.accounts) == len(rows)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=broken_rows())
def test_a_file_with_errors_never_changes_the_database(
    rows: list[dict[str, str]], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/fuzz.db"
    if not Path(f"{tmp_path}/fuzz.db").exists():
        migrate(url)
    engine = make_engine(url)
    before = table_counts(engine)
    result = validate_text(to_csv(rows), "fuzz.csv")
    if result.errors:
        with pytest.raises(ValueError, match="nothing loaded"):
            load_portfolio(engine, result, now=NOW)
        assert table_counts(engine) == before
    else:
        load_portfolio(engine, result, now=NOW)
        assert table_counts(engine)["accounts"] >= len(result.accounts)
    # an import (accepted or rejected) contacts nobody and leaves the ledger sound
    assert not check_ledger(engine, visibly_pending=[]).attempts
    engine.dispose()


def test_truncated_quote_and_binary_garbage_are_located() -> None:
    text = to_csv([row()]) + '"C9,unterminated\n'
    (error,) = validate_text(text, "cut.csv").errors
    assert error.line >= 3 and error.field in ("row", "customer_id", "header")
    garbage = "\x00\x01\x02,\x03\n\x04"
    errors = validate_text(garbage, "bin.csv").errors
    assert errors and errors[0].line == 1 and errors[0].field == "header"
