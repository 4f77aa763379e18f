"""axe-core on every portal page, in Debian's Chromium on a 360x740 phone.

The portal is where a debtor acts alone, often on a cheap phone, sometimes
with a screen reader: no page may carry a serious or critical WCAG violation.
Each page's full axe result is written to ``out/accessibility/portal.json``
(what the closing note reports).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from cadencia.portal.app import create_portal_app
from campaigns.storage.db import make_engine
from tests.portal.conftest import NOW, RIGHT_ANSWER, Clock, link_for, seed
from tests.web.browser import LiveServer, browser  # noqa: F401  (the shared fixture)

pytestmark = pytest.mark.slow
WAIT_MS = 15_000
REPORT = Path(__file__).resolve().parents[2] / "out" / "accessibility" / "portal.json"
BLOCKING = ("serious", "critical")


@pytest.fixture()
def phone(browser: Any) -> Iterator[Any]:  # noqa: F811
    # axe is injected through the DevTools protocol; the pages' CSP forbids
    # every script, so the audit's context bypasses it (the pages themselves
    # are served with the CSP unchanged).
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="es-CO", bypass_csp=True
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def _audit(page: Any, name: str, found: dict[str, Any]) -> None:
    results = Axe().run(page).response
    found[name] = {
        "url": page.url.split("/p/")[0] + "/p/…",  # the reference is a key: not in reports
        "violations": [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"])}
            for v in results["violations"]
        ],
        "passes": len(results.get("passes", [])),
    }


def test_no_portal_page_has_a_serious_or_critical_violation(
    postgres_url: str,
    phone: Any,
) -> None:
    engine = make_engine(postgres_url)
    seed(engine)
    reference = link_for(engine)
    app = create_portal_app(engine, clock=Clock(NOW), secret="s", secure_cookies=False)
    found: dict[str, Any] = {}
    with LiveServer(app) as server:
        page = phone
        page.goto(f"{server.url}/p/not-a-real-reference")
        _audit(page, "bad link", found)
        page.goto(f"{server.url}/p/{reference}")
        _audit(page, "identity check", found)
        page.get_by_label("Los últimos cuatro dígitos").fill("0000")
        page.get_by_role("button", name="Continuar").click()
        page.wait_for_load_state()
        _audit(page, "identity check, wrong answer", found)
        page.get_by_label("Los últimos cuatro dígitos").fill(RIGHT_ANSWER)
        page.get_by_role("button", name="Continuar").click()
        page.get_by_role("heading", name="Lo que debe").wait_for(timeout=WAIT_MS)
        _audit(page, "debts and offers (es)", found)
        page.goto(f"{server.url}/p/{reference}?lang=en")
        _audit(page, "debts and offers (en)", found)
        page.goto(f"{server.url}/p/{reference}?lang=es")
        page.get_by_role("button", name="Aceptar este plan de 3 pagos").click()
        page.get_by_role("status").wait_for(timeout=WAIT_MS)
        _audit(page, "after accepting a plan", found)
    engine.dispose()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(found, indent=2, ensure_ascii=False), encoding="utf-8")
    blocking = {
        name: [v for v in page_found["violations"] if v["impact"] in BLOCKING]
        for name, page_found in found.items()
    }
    assert all(not v for v in blocking.values()), blocking
    assert len(found) == 6
