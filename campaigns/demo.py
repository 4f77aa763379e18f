"""``make demo``: the main job on embedded defaults, from a fresh clone.

Today it generates a 20,000-customer portfolio, creates the embedded SQLite
database, imports the file (all-or-nothing), shows one customer's 360 view
and verifies the ledger. It grows into the whole daily run as that lands.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from campaigns.db import make_engine, migrate
from campaigns.ledger.chain import verify
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.portfolio.view import customer_360

OUT = Path("out")
CUSTOMERS = 20_000


def main() -> int:
    """Run the demo; returns the process exit code."""
    OUT.mkdir(exist_ok=True)
    portfolio_path = OUT / "portfolio.csv"
    db_path = OUT / "demo.db"
    db_path.unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    started = time.perf_counter()
    rows = generate_file(portfolio_path, CUSTOMERS, seed=7)
    print(f"generated {CUSTOMERS} customers, {rows} accounts -> {portfolio_path}")
    print(f"database {url} at revision {migrate(url)}")
    portfolio = validate_file(portfolio_path)
    if portfolio.errors:
        for error in portfolio.errors[:20]:
            print(error, file=sys.stderr)
        return 1
    engine = make_engine(url)
    try:
        summary = load_portfolio(engine, portfolio, now=dt.datetime.now(dt.UTC))
        print("imported:", json.dumps(summary.as_dict()))
        view = customer_360(engine, portfolio.customers[0].external_id)
        print("a customer's 360 view:", json.dumps(view, ensure_ascii=False)[:600], "…")
        report = verify(engine)
        print(f"ledger chain ok={report.ok} events={report.events}")
    finally:
        engine.dispose()
    print(f"demo finished in {time.perf_counter() - started:.1f}s; files in {OUT.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
