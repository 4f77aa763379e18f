"""The streaming import: chunk by chunk into staging, all or nothing, the same result
in one process or several, and the same errors as validating the whole text.

Chunks are made small (``chunk_bytes``) so a few thousand rows span many of them.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from campaigns.portfolio.generate import generate_portfolio
from campaigns.portfolio.load import load_portfolio, table_counts
from campaigns.portfolio.stream import import_file
from campaigns.portfolio.validate import validate_file, validate_text
from campaigns.storage.db import make_engine, migrate
from tests.support.portfolio import row, to_csv

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
CHUNK = 16 * 1024  # about 80 rows


def portfolio_text(customers: int = 600, seed: int = 5) -> str:
    out = io.StringIO()
    generate_portfolio(out, customers, seed=seed)
    return out.getvalue()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every customer, account and contact point by external ids (not surrogate keys)."""
    engine = make_engine(url)
    queries = {
        "customers": "SELECT external_id, name, name_folded, country, subdivision, timezones,"
        " language, behavior_score, segment FROM customers",
        "accounts": "SELECT a.external_id, c.external_id, product, balance, currency,"
        " days_past_due, minimum_due, status, opened_on"
        " FROM accounts a JOIN customers c ON c.id = a.customer_id",
        "points": "SELECT c.external_id, kind, value, line_type, position, consent, consent_at,"
        " consent_source, opted_out_at, retired_at"
        " FROM contact_points p JOIN customers c ON c.id = p.customer_id",
    }
    with engine.connect() as conn:
        found = {
            k: sorted(tuple(str(v) for v in r) for r in conn.execute(sa.text(q)))
            for k, q in queries.items()
        }
    engine.dispose()
    return found


def test_a_bad_line_after_many_chunks_loads_nothing(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    good = write(tmp_path / "day1.csv", portfolio_text(customers=100, seed=3))
    assert import_file(engine, good, now=NOW).summary is not None
    before, before_rows = table_counts(engine), dump(database_url)
    lines = portfolio_text().splitlines()
    cells = lines[-3].split(",")
    cells[lines[0].split(",").index("balance")] = "12x"  # a row near the end
    lines[-3] = ",".join(cells)
    text = "\n".join(lines) + "\n"
    bad = write(tmp_path / "day2.csv", text)
    for workers in (1, 2):
        outcome = import_file(engine, bad, now=NOW, workers=workers, chunk_bytes=CHUNK)
        assert outcome.summary is None
        assert [str(e) for e in outcome.errors] == [
            str(e) for e in validate_text(text, str(bad)).errors
        ]
        assert [(e.line, e.field) for e in outcome.errors] == [(len(lines) - 2, "balance")]
    assert table_counts(engine) == before and dump(database_url) == before_rows
    engine.dispose()


def test_parallel_serial_and_in_memory_loads_give_the_same_database(tmp_path: Path) -> None:
    import random

    # Shuffled: a customer's rows land in different chunks, and only the first is kept.
    header, *body = portfolio_text().splitlines()
    random.Random(4).shuffle(body)
    path = write(tmp_path / "p.csv", "\n".join([header, *body]) + "\n")
    urls = []
    for label in ("serial", "parallel", "memory"):
        url = f"sqlite:///{tmp_path}/{label}.db"
        migrate(url)
        engine = make_engine(url)
        if label == "memory":
            load_portfolio(engine, validate_file(path), now=NOW)
        else:
            workers = 2 if label == "parallel" else 1
            outcome = import_file(engine, path, now=NOW, workers=workers, chunk_bytes=CHUNK)
            assert outcome.errors == [] and outcome.summary is not None
            assert outcome.summary.customers == 600
        engine.dispose()
        urls.append(url)
    serial, parallel, memory = (dump(u) for u in urls)
    assert serial == parallel == memory
    assert len(serial["customers"]) == 600


@pytest.mark.postgres
def test_parallel_and_serial_identical_on_postgresql(tmp_path: Path) -> None:
    from tests.conftest import fresh_postgres

    path = write(tmp_path / "p.csv", portfolio_text())
    dumps = []
    for workers in (1, 2):
        with fresh_postgres() as url:
            engine = make_engine(url)
            outcome = import_file(engine, path, now=NOW, workers=workers, chunk_bytes=CHUNK)
            assert outcome.summary is not None and outcome.summary.customers_created == 600
            engine.dispose()
            dumps.append(dump(url))
    assert dumps[0] == dumps[1]


def test_errors_across_chunks_are_those_of_the_whole_text(tmp_path: Path) -> None:
    """A customer whose rows straddle chunks and disagree, an account id reused far
    away, a repeated customer that agrees (not an error): as one pass finds them."""
    lines = portfolio_text().splitlines()
    first, last = lines[1].split(","), lines[-1].split(",")
    last[0], last[1] = first[0], "Somebody Else"
    lines[-1] = ",".join(last)
    dup = lines[-2].split(",")
    dup[16] = first[16]
    lines[-2] = ",".join(dup)
    agreeing = lines[3].split(",")
    agreeing[16] = "NEW-ACCOUNT-1"
    lines.append(",".join(agreeing))
    text = "\n".join(lines) + "\n"
    path = write(tmp_path / "p.csv", text)
    expected = [str(e) for e in validate_text(text, str(path)).errors]
    assert len(expected) == 2
    url = f"sqlite:///{tmp_path}/x.db"
    migrate(url)
    engine = make_engine(url)
    for workers in (1, 2):
        outcome = import_file(engine, path, now=NOW, workers=workers, chunk_bytes=CHUNK)
        assert [str(e) for e in outcome.errors] == expected
    assert table_counts(engine) == {"customers": 0, "accounts": 0, "contact_points": 0}
    engine.dispose()


def test_a_late_undecodable_byte_is_the_only_error(tmp_path: Path) -> None:
    text = portfolio_text(customers=300)
    raw = text.encode() + b"C9,\xff\xfe broken\n"
    path = tmp_path / "bin.csv"
    path.write_bytes(raw)
    url = f"sqlite:///{tmp_path}/x.db"
    migrate(url)
    engine = make_engine(url)
    outcome = import_file(engine, path, now=NOW, chunk_bytes=CHUNK, workers=2)
    assert [str(e) for e in outcome.errors] == [str(e) for e in validate_file(path).errors]
    assert outcome.errors[0].field == "encoding"
    engine.dispose()


def test_a_reimport_merges_closes_retires_and_relists(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    day1 = [
        row(phone_2="310 555 0000", phone_2_consent="granted"),
        row(account_id="A2", phone_2="310 555 0000", phone_2_consent="granted"),
        row(customer_id="C2", account_id="B1", email="c2@example.com"),
    ]
    outcome = import_file(engine, write(tmp_path / "d1.csv", to_csv(day1)), now=NOW)
    assert outcome.summary is not None
    assert (outcome.summary.customers_created, outcome.summary.contact_points_created) == (2, 5)
    # Day 2: A1's balance changes, A2 is gone, C1's second phone is gone, C3 is new.
    day2 = [
        row(balance="99.00"),
        row(customer_id="C2", account_id="B1", email="c2@example.com"),
        row(customer_id="C3", account_id="D1", phone_1="315 444 1234", email="c3@example.com"),
    ]
    later = NOW + dt.timedelta(days=1)
    summary = import_file(
        engine, write(tmp_path / "d2.csv", to_csv(day2)), now=later, full_refresh=True
    ).summary
    assert summary is not None
    assert (summary.customers_created, summary.customers_updated) == (1, 2)
    assert (summary.accounts_created, summary.accounts_updated, summary.accounts_closed) == (
        1,
        2,
        1,
    )
    assert (summary.contact_points_created, summary.contact_points_retired) == (2, 1)
    # Day 3 lists the phone again: relisted.
    summary = import_file(
        engine, write(tmp_path / "d3.csv", to_csv(day1)), now=later + dt.timedelta(days=1)
    ).summary
    assert summary is not None and summary.accounts_created == 0
    with engine.connect() as conn:
        balance = conn.execute(
            sa.text("SELECT balance, status FROM accounts WHERE external_id = 'A2'")
        ).one()
        events = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT kind, contact_point FROM contact_events"
                    " WHERE kind IN ('retired', 'relisted') ORDER BY id"
                )
            )
        ]
        retired = conn.execute(
            sa.text("SELECT count(*) FROM contact_points WHERE retired_at IS NOT NULL")
        ).scalar_one()
    assert str(balance[1]) == "open"
    assert events == [("retired", "+573105550000"), ("relisted", "+573105550000")]
    assert retired == 0
    engine.dispose()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_broken_files_give_the_errors_of_one_pass(tmp_path: Path, seed: int) -> None:
    """Rows shuffled (a customer's rows far apart), then damaged at random: a wrong name
    on one of a customer's rows, a reused account id, a bad phone, a bad balance. Chunks
    of a few rows each; the errors are exactly those of validating the whole text."""
    import random

    rng = random.Random(seed)
    header, *body = portfolio_text(customers=150, seed=seed).splitlines()
    columns = header.split(",")
    rng.shuffle(body)
    for _ in range(12):
        cells = body[rng.randrange(len(body))].split(",")
        column, value = rng.choice(
            [
                ("customer_name", "Someone Else"),
                ("account_id", body[rng.randrange(len(body))].split(",")[16]),
                ("phone_1", "+57 123"),
                ("balance", "1.234,50"),
            ]
        )
        cells[columns.index(column)] = value
        body[rng.randrange(len(body))] = ",".join(cells)
    text = "\n".join([header, *body]) + "\n"
    path = write(tmp_path / "p.csv", text)
    expected = [str(e) for e in validate_text(text, str(path)).errors]
    assert expected
    url = f"sqlite:///{tmp_path}/x.db"
    migrate(url)
    engine = make_engine(url)
    for workers in (1, 2):
        outcome = import_file(engine, path, now=NOW, workers=workers, chunk_bytes=2048)
        assert [str(e) for e in outcome.errors] == expected
    engine.dispose()


def test_bom_crlf_semicolons_and_quoted_newlines_stream_like_the_whole_text(
    tmp_path: Path,
) -> None:
    """Chunks are cut in bytes: a BOM, CRLF line ends, another delimiter and names with
    quoted newlines and semicolons load the same rows as validating the text whole."""
    rows = [
        row(
            customer_id=f"C{n}",
            account_id=f"A{n}",
            customer_name=f'Ana "la {n}"\nPérez; Núñez',
            phone_1=f"300 123 {n:04d}",
            email=f"c{n}@example.com",
        )
        for n in range(1, 400)
    ]
    text = to_csv(rows, delimiter=";").replace("\n", "\r\n")
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    urls = []
    for label in ("stream", "memory"):
        url = f"sqlite:///{tmp_path}/{label}.db"
        migrate(url)
        engine = make_engine(url)
        if label == "memory":
            load_portfolio(engine, validate_file(path), now=NOW)
        else:
            outcome = import_file(engine, path, now=NOW, workers=2, chunk_bytes=2048)
            assert outcome.errors == [] and outcome.summary is not None
            assert outcome.summary.customers == 399
        engine.dispose()
        urls.append(url)
    assert dump(urls[0]) == dump(urls[1])


def test_reading_stops_at_malformed_csv_as_one_pass_does(tmp_path: Path) -> None:
    """A record the CSV reader cannot read ends validation (one pass stops there): a
    bad balance in a later chunk is not reported, whichever the chunking."""
    lines = portfolio_text().splitlines()
    balance = lines[0].split(",").index("balance")
    late = lines[-5].split(",")
    late[balance] = "12x"
    lines[-5] = ",".join(late)
    early = lines[40].split(",")
    early[1] = '"Ana" Pérez'  # text after a closing quote: strict CSV refuses it
    lines[40] = ",".join(early)
    text = "\n".join(lines) + "\n"
    path = write(tmp_path / "p.csv", text)
    expected = [str(e) for e in validate_text(text, str(path)).errors]
    assert len(expected) == 1 and "malformed CSV" in expected[0]
    url = f"sqlite:///{tmp_path}/x.db"
    migrate(url)
    engine = make_engine(url)
    for workers in (1, 2):
        outcome = import_file(engine, path, now=NOW, workers=workers, chunk_bytes=CHUNK)
        assert [str(e) for e in outcome.errors] == expected
    engine.dispose()
