"""Portfolio import: validation errors are located, imports are all-or-nothing, re-imports merge."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio, table_counts
from campaigns.portfolio.validate import validate_file, validate_text
from campaigns.portfolio.view import customer_360
from campaigns.storage.db import make_engine
from tests.support.portfolio import row, to_csv

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def messages(text: str) -> list[str]:
    return [str(e) for e in validate_text(text, "p.csv").errors]


def test_valid_row_is_normalised() -> None:
    result = validate_text(to_csv([row()]), "p.csv")
    assert result.errors == []
    (customer,) = result.customers
    assert customer.timezones == "America/Bogota"  # derived from CO-DC
    assert customer.language == "es"
    phone = next(p for p in result.contact_points if p.kind == "phone")
    assert (phone.value, phone.line_type, phone.consent) == ("+573001234567", "mobile", "granted")
    email = next(p for p in result.contact_points if p.kind == "email")
    assert email.value == "maria.nunez@example.com"
    (account,) = result.accounts
    assert account.balance == Decimal("1500000.50")
    assert account.minimum_due == Decimal("75000")


def test_every_error_is_located_by_line_and_field() -> None:
    text = to_csv(
        [
            row(),
            row(customer_id="C2", account_id="A2", phone_1="+57 123"),
            row(customer_id="C3", account_id="A3", balance=""),
            row(customer_id="C4", account_id="A4", currency="COL", days_past_due="-3"),
            row(customer_id="C5", account_id="A1"),
            row(customer_id="C6", account_id="A6", balance="1.234,50", email="no-at-sign"),
        ]
    )
    assert messages(text) == [
        "p.csv:3: phone_1: '+57 123' is not a valid number for CO",
        "p.csv:4: balance: required",
        "p.csv:5: currency: 'COL' is not an ISO 4217 code",
        "p.csv:5: days_past_due: '-3' is not a whole number ≥ 0",
        "p.csv:6: account_id: A1 already on line 2",
        "p.csv:7: email: 'no-at-sign' is not an email address",
        "p.csv:7: balance: '1.234,50' is not a number (use '.' for decimals, no thousands "
        "separators)",
    ]


def test_one_customer_with_conflicting_names_is_an_error() -> None:
    text = to_csv([row(), row(account_id="A2", customer_name="Maria Jose Nunez")])
    assert messages(text) == [
        "p.csv:3: customer_name: customer C1 has customer_name 'Maria Jose Nunez' here but "
        "'María José Núñez' on line 2"
    ]


def test_header_problems_are_reported_on_line_1() -> None:
    text = "customer_id,customer_name,phone1\nC1,Ana,3001234567\n"
    errors = messages(text)
    assert errors[0].startswith("p.csv:1: header: missing required columns: account_id, balance")
    assert errors[1] == (
        "p.csv:1: header: unknown columns ['phone1'] (prefix extra columns with 'x_' to ignore)"
    )


def test_semicolon_delimiter_is_sniffed_and_accents_survive() -> None:
    result = validate_text(to_csv([row(customer_name="Iñaki Peña Zúñiga")], ";"), "p.csv")
    assert result.errors == [] and result.delimiter == ";"
    assert result.customers[0].name == "Iñaki Peña Zúñiga"


def test_ambiguous_time_zone_keeps_every_candidate() -> None:
    result = validate_text(
        to_csv(
            [
                row(
                    country="US",
                    subdivision="US-TX",
                    phone_1="(212) 555-0123",
                    currency="USD",
                    language="en",
                )
            ]
        ),
        "p.csv",
    )
    assert result.errors == []
    assert result.customers[0].timezones == "America/Chicago;America/Denver"


def test_time_zone_from_phone_when_no_subdivision() -> None:
    result = validate_text(
        to_csv([row(country="US", subdivision="", phone_1="(212) 555-0123", currency="USD")]),
        "p.csv",
    )
    assert result.customers[0].timezones == "America/New_York"


def test_bad_timezone_and_consent_without_date() -> None:
    text = to_csv(
        [row(timezone="America/Bogotá"), row(customer_id="C2", account_id="A2", consent_at="")]
    )
    assert messages(text) == [
        "p.csv:2: timezone: 'America/Bogotá' is not an IANA time zone",
        "p.csv:3: consent_at: required when phone_1_consent is granted",
    ]


def test_non_utf8_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(to_csv([row(customer_name="Núñez")]).encode("latin-1"))
    (error,) = validate_file(path).errors
    assert error.line == 2 and error.field == "encoding"


def test_import_then_reimport_updates_and_full_refresh_closes(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    first = validate_text(
        to_csv(
            [
                row(),
                row(account_id="A2", product="auto_loan"),
                row(customer_id="C2", account_id="B1"),
            ]
        ),
        "day1.csv",
    )
    summary = load_portfolio(engine, first, now=NOW)
    assert (
        summary.customers_created,
        summary.accounts_created,
        summary.contact_points_created,
    ) == (
        2,
        3,
        4,
    )
    second = validate_text(
        to_csv(
            [row(balance="1400000.00", days_past_due="46"), row(customer_id="C2", account_id="B1")]
        ),
        "day2.csv",
    )
    summary = load_portfolio(engine, second, now=NOW + dt.timedelta(days=1), full_refresh=True)
    assert (summary.customers_created, summary.customers_updated) == (0, 2)
    assert (summary.accounts_created, summary.accounts_updated, summary.accounts_closed) == (
        0,
        2,
        1,
    )
    view = customer_360(engine, "C1")
    by_id = {a["account_id"]: a for a in view["accounts"]}
    assert by_id["A1"]["balance"] == "1400000.00" and by_id["A1"]["days_past_due"] == 46
    assert by_id["A2"]["status"] == "closed"
    assert view["total_due"] == {"COP": "1400000.00"}
    engine.dispose()


def test_opt_out_is_sticky_across_reimports(database_url: str) -> None:
    engine = make_engine(database_url)
    load_portfolio(engine, validate_text(to_csv([row(phone_1_consent="opted_out")]), "d1"), now=NOW)
    load_portfolio(engine, validate_text(to_csv([row(phone_1_consent="granted")]), "d2"), now=NOW)
    phone = next(p for p in customer_360(engine, "C1")["contact_points"] if p["kind"] == "phone")
    assert phone["opted_out_at"] is not None and phone["consent"] == "denied"
    engine.dispose()


def test_rejected_file_changes_nothing(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    path = tmp_path / "p.csv"
    generate_file(path, 200, seed=3)
    load_portfolio(engine, validate_file(path), now=NOW)
    before = table_counts(engine)
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    broken = lines[7].split(",")
    broken[header.index("balance")] = ""
    lines[7] = ",".join(broken)
    lines.append(lines[1].replace(lines[1].split(",")[0], "NEWCUSTOMER", 1))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = validate_file(path)
    assert [str(e) for e in bad.errors][:1] == [f"{path}:8: balance: required"]
    try:
        load_portfolio(engine, bad, now=NOW)
    except ValueError as exc:
        assert "nothing loaded" in str(exc)
    else:
        raise AssertionError("a portfolio with errors must not load")
    assert table_counts(engine) == before
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM customers WHERE external_id='NEWCUSTOMER'")
            ).scalar()
            == 0
        )
    engine.dispose()


def test_same_number_in_both_phone_columns_is_one_contact_point(database_url: str) -> None:
    text = to_csv([row(phone_2="+57 300 1234567", phone_2_consent="granted")])
    result = validate_text(text, "p.csv")
    assert result.errors == []
    assert [p.value for p in result.contact_points if p.kind == "phone"] == ["+573001234567"]
    engine = make_engine(database_url)
    assert load_portfolio(engine, result, now=NOW).contact_points_created == 2
    engine.dispose()


def test_same_number_with_two_consents_is_an_error() -> None:
    text = to_csv([row(phone_2="3001234567", phone_2_consent="denied")])
    assert messages(text) == [
        "p.csv:2: phone_2_consent: +573001234567 is also phone_1 but with consent 'denied' "
        "instead of 'granted'"
    ]


def test_same_number_unknown_then_granted_keeps_the_stated_consent() -> None:
    text = to_csv([row(phone_1_consent="", phone_2="3001234567", phone_2_consent="granted")])
    result = validate_text(text, "p.csv")
    assert result.errors == []
    (phone,) = [p for p in result.contact_points if p.kind == "phone"]
    assert (phone.position, phone.consent, phone.line_type) == (1, "granted", "mobile")


def test_import_leaves_statistics_for_the_day_that_follows(
    postgres_url: str, tmp_path: Path
) -> None:
    # The day's run starts right after the import. Without statistics the
    # planner guesses the tables' sizes and picks sequential scans of every
    # contact point for each worker batch, so the import analyzes what it loaded.
    path = tmp_path / "p.csv"
    generate_file(path, 3000, 7, countries=("US",))
    engine = make_engine(postgres_url)
    load_portfolio(engine, validate_file(path), now=NOW)
    with engine.connect() as conn:
        for table in ("customers", "accounts", "contact_points"):
            analyzed = conn.execute(
                sa.text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            ).scalar()
            estimated = conn.execute(
                sa.text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
            ).scalar_one()
            actual = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert analyzed is not None, table
            assert abs(estimated - actual) <= 0.1 * actual, (table, estimated, actual)
    engine.dispose()
