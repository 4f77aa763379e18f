"""The console in Spanish, English and Portuguese: catalogs complete, every page translated.

Every page of every role is rendered in each language on a real database
(a planned run, a customer open on the desktop); the catalogs' fallback
records any text a page asked for that Spanish or Portuguese lacks, and the
test fails on it. The catalogs themselves are checked against what Babel
extracts from the templates and the Python, so a new text cannot ship
without its translations.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cadencia.console.catalogs import extract
from cadencia.console.i18n import (
    LANGUAGES,
    UNTRANSLATED,
    accepted_language,
    catalog_path,
    money,
    translations,
    when,
)
from campaigns.storage.accounts import WebUser
from tests.web.conftest import PASSWORD, Console
from tests.web.test_desktop import open_customer
from tests.web.test_pages import planned_run

PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%")


def _po(language: str) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with catalog_path(language).open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po, locale=language) if m.id}


def test_every_marked_text_has_a_spanish_and_a_portuguese_translation() -> None:
    wanted = {str(m.id) for m in extract() if m.id}
    assert len(wanted) > 300  # the extraction found the templates and the Python
    for language in ("es", "pt"):
        catalog = _po(language)
        missing = sorted(t for t in wanted if not catalog.get(t))
        assert missing == [], f"{language} lacks {missing[:10]}"
        for text in wanted:
            # a translation keeps every field of its text, and no other
            fields = sorted(PLACEHOLDER.findall(catalog[text]))
            assert fields == sorted(PLACEHOLDER.findall(text)), (language, text)
    assert set(_po("en")) >= wanted  # English's catalog lists them too (source language)


def test_language_falls_back_to_the_browser_then_english() -> None:
    assert accepted_language("pt-BR,pt;q=0.9,en;q=0.5") == "pt"
    assert accepted_language("fr-FR, es-CO;q=0.8, en;q=0.7") == "es"
    assert accepted_language("de, en;q=0.1") == "en"
    assert accepted_language("fr") is None and accepted_language(None) is None
    assert translations("es").gettext("Log out") == "Cerrar sesión"


def test_money_and_times_as_the_viewer_writes_them() -> None:
    assert money(Decimal("1500000.50"), "COP", "es") == "$1.500.000,50"  # its cents kept
    assert money("1500000", "COP", "es") == "$1.500.000"  # a peso has no cents in CLDR
    assert money("1500000.5", "BRL", "pt") == "R$\xa01.500.000,50"
    assert money("1500000.5", "USD", "en") == "$1,500,000.50"
    assert money(None, "COP", "es") == "–"
    shown = when("2026-11-24T15:00:00+00:00", "America/Bogota", "es")
    assert shown == "2026-11-24 10:00 America/Bogota"
    assert when("2026-11-24T15:00:00+00:00", None, "en") == "2026-11-24 15:00 UTC"


def _get_pages(console: Console, run_id: int) -> dict[str, list[str]]:
    """The GET pages of each role, with real ids in them."""
    return {
        "ana": ["/agent", "/agent/history", "/agent/search?q=Nunez", "/profile"],
        "mara": [
            "/dashboard",
            "/wallboard",
            "/runs",
            f"/runs/{run_id}",
            "/runs/abc",
            "/customers/lookup?customer_id=C1",
            "/customers/lookup?customer_id=C2",
            "/customers/lookup?customer_id=C999",
            "/uploads",
            "/campaigns",
            "/compliance",  # not hers: the 403 page
        ],
        "cora": [
            "/compliance",
            "/compliance?q=Perez",
            "/compliance/customer/C1",
            "/compliance/customer/NOPE",
            "/compliance/audit",
            "/compliance/ledger",
            "/admin/log",
            f"/runs/{run_id}",
        ],
        "root": ["/", "/admin/users", "/admin/log", "/profile"],
    }


def _set_language(console: Console, client: TestClient, language: str) -> None:
    token = console.csrf("/profile")
    saved = client.post(
        "/profile",
        data={"csrf": token, "language": language, "timezone": "America/Bogota"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_page_renders_in_each_language_with_nothing_untranslated(
    console: Console, language: str
) -> None:
    run_id, _ = planned_run(console)
    UNTRANSLATED.clear()
    for username, paths in _get_pages(console, run_id).items():
        console.client.cookies.clear()
        client = console.login(username)
        _set_language(console, client, language)
        if username == "ana":  # the screen pop too: a customer open on the desktop
            open_customer(console, client, "C1", "C1")
            paths = [*paths, "/agent/customer/C1"]
        for path in paths:
            page = client.get(path)
            assert page.status_code < 500, (path, page.text[-1500:])
            assert page.headers["content-type"].startswith("text/html"), path
            assert f'<html lang="{language}">' in page.text, path
            assert "<nav>" in page.text, path
    if language != "en":
        assert UNTRANSLATED.get(language, set()) == set()
    with console.engine.connect() as conn:
        stored = set(conn.execute(sa.select(WebUser.language).where(WebUser.username == "ana")))
    assert stored == {(language,)}


def test_spanish_desktop_shows_money_and_times_as_colombians_write_them(console: Console) -> None:
    client = console.login("ana")
    _set_language(console, client, "es")
    open_customer(console, client, "C1", "C1")
    page = client.get("/agent").text
    assert "Cerrar sesión" in page and "Esperando" not in page
    assert "$1.500.000,50" in page  # A1's balance, 1500000.50 COP
    assert "America/Bogota" in page  # the customer's zone, shown
    assert 'placeholder="150.000,50"' in page  # how the customer's country writes an amount


def test_the_login_page_follows_the_browser_and_the_choice_is_stored(console: Console) -> None:
    page = console.client.get("/login", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert '<html lang="pt">' in page.text and "Entrar" in page.text
    assert '<html lang="en">' in console.client.get("/login").text
    chosen = console.client.get("/login?lang=es")
    assert '<html lang="es">' in chosen.text and "Iniciar sesión" in chosen.text
    # the cookie keeps the choice for the next login page
    again = console.client.get("/login")
    assert '<html lang="es">' in again.text
    token = re.search(r'name="csrf" value="([^"]+)"', again.text)
    assert token is not None
    response = console.client.post(
        "/login",
        data={"username": "mara", "password": "wrong password", "csrf": token.group(1)},
    )
    assert response.status_code == 401 and "Usuario o contraseña incorrectos." in response.text
    token = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert token is not None
    logged = console.client.post(
        "/login",
        data={
            "username": "mara",
            "password": PASSWORD,
            "csrf": token.group(1),
            "language": "pt",
        },
    )
    assert logged.status_code == 200 and '<html lang="pt">' in logged.text
    assert "Painel" in logged.text  # the navigation, in Portuguese
