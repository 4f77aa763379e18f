"""Parallel validation gives exactly what one process gives, across chunk boundaries too."""

from __future__ import annotations

import io

from campaigns.portfolio.generate import generate_portfolio
from campaigns.portfolio.parallel import chunk_bounds
from campaigns.portfolio.validate import PARALLEL_MIN_CHARS, validate_text


def big_portfolio() -> str:
    out = io.StringIO()
    generate_portfolio(out, 20_000, seed=9)
    text = out.getvalue()
    assert len(text) > PARALLEL_MIN_CHARS
    return text


def test_clean_file_same_records_in_parallel() -> None:
    text = big_portfolio()
    one, two = validate_text(text, "p.csv"), validate_text(text, "p.csv", workers=2)
    assert one.errors == two.errors == []
    assert one.customers == two.customers
    assert one.accounts == two.accounts
    assert one.contact_points == two.contact_points


def test_conflicts_and_duplicates_across_chunks_are_found() -> None:
    lines = big_portfolio().splitlines()
    first, last = lines[1].split(","), lines[-1].split(",")
    # The last row claims the first row's customer with another name, and reuses
    # the first row's account id: each pair straddles the two chunks.
    last[0], last[1] = first[0], "Somebody Else"
    lines[-1] = ",".join(last)
    lines.append(lines[2].split(",", 1)[0] + "," + ",".join(lines[-2].split(",")[1:]))
    dup = lines[-2].split(",")
    dup[16] = first[16]
    lines[-2] = ",".join(dup)
    text = "\n".join(lines) + "\n"
    one, two = validate_text(text, "p.csv"), validate_text(text, "p.csv", workers=2)
    assert {(e.line, e.field) for e in one.errors} == {(e.line, e.field) for e in two.errors}
    fields = {e.field for e in two.errors}
    assert "account_id" in fields and "customer_name" in fields


def test_chunks_never_split_a_quoted_field() -> None:
    text = 'h\n"a\nb"\n"c\nd"\n"e\nf"\n'
    for a, b in chunk_bounds(text, 2, 3):
        assert text[a:b].count('"') % 2 == 0
