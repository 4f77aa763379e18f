"""Synthetic portfolios: realistic, deterministic, and valid by our own importer's rules.

Used by the demo, the tests and the benchmarks. Emails use the reserved
``example.*`` domains and US numbers the fictional 555-01XX range; the Latin
American numbers are merely well-formed, so a generated file must never be
loaded into a production trunk.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import phonenumbers
from phonenumbers import PhoneNumberType

from campaigns.portfolio import spec

DEFAULT_COUNTRIES: tuple[str, ...] = ("CO", "MX", "CL", "PE", "US")
COUNTRY_WEIGHTS = {"CO": 0.3, "MX": 0.25, "CL": 0.15, "PE": 0.15, "US": 0.15, "EC": 0.1}
CURRENCY = {"CO": "COP", "MX": "MXN", "CL": "CLP", "PE": "PEN", "US": "USD", "EC": "USD"}
# Local currency per US dollar, to keep balances comparable across countries.
FX = {"COP": 4000.0, "MXN": 18.0, "CLP": 950.0, "PEN": 3.8, "USD": 1.0}
SUBDIVISIONS = {
    "CO": ("CO-DC", "CO-ANT", "CO-VAC", "CO-ATL", "CO-SAN"),
    "MX": ("MX-CMX", "MX-JAL", "MX-NLE", "MX-BCN", "MX-YUC"),
    "CL": ("CL-RM", "CL-VS", "CL-BI", "CL-MA"),
    "PE": ("PE-LIM", "PE-ARE", "PE-CUS"),
    "US": ("US-NY", "US-CA", "US-TX", "US-FL", "US-IL", "US-MA", "US-AZ"),
    "EC": ("EC-P", "EC-G", "EC-A"),
}
US_AREA_CODES = ("212", "718", "305", "213", "312", "617", "602", "713", "415", "646")
# Median balance in USD and log-normal sigma per product.
PRODUCTS: dict[str, tuple[float, float]] = {
    "card": (1500.0, 0.9),
    "personal_loan": (5000.0, 0.8),
    "auto_loan": (12000.0, 0.6),
    "mortgage": (80000.0, 0.5),
}
PRODUCT_WEIGHTS = (0.5, 0.3, 0.15, 0.05)
DPD_BUCKETS = ((1, 29, 0.40), (30, 59, 0.25), (60, 89, 0.15), (90, 179, 0.12), (180, 360, 0.08))
FIRST_ES = (
    "María José Camila Valentina Sofía Daniela Alejandra Lucía Ana Paula Isabella "
    "Gabriela Juan Andrés Carlos Santiago Sebastián Mateo Diego Felipe Luis Jorge "
    "Ramón Héctor Iñaki"
).split()
LAST_ES = (
    "García Rodríguez Martínez López González Hernández Pérez Sánchez Ramírez Torres "
    "Flores Rivera Gómez Díaz Muñoz Rojas Vargas Castro Ortiz Morales Jiménez Peña "
    "Núñez Zúñiga"
).split()
FIRST_EN = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William "
    "Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher "
    "Nancy Daniel Lisa"
).split()
LAST_EN = (
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas "
    "Moore Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young "
    "Allen King"
).split()
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
# Where the row's cells are: the segment is filled in once the accounts are drawn.
SEGMENT_CELL = spec.CUSTOMER_COLUMNS.index("segment")
DAYS_PAST_DUE_CELL = spec.ACCOUNT_COLUMNS.index("days_past_due")


@dataclass(frozen=True)
class _PhonePlan:
    """Valid national-number prefixes for one country and line type."""

    prefixes: tuple[str, ...]
    suffix_digits: int


def _phone_plan(country: str, kind: int, rng: np.random.Generator) -> _PhonePlan:
    """Sample random numbers shaped like the example number, keep valid prefixes.

    Validity in libphonenumber depends on leading digits, so a valid prefix
    followed by any suffix stays valid (the importer re-checks every number).
    """
    example = phonenumbers.example_number_for_type(country, kind)
    if example is None:
        raise ValueError(f"no example {kind} number for {country}")
    national = str(example.national_number)
    suffix = 4
    head = national[:2]
    prefixes: set[str] = set()
    for _ in range(4000):
        middle = "".join(str(d) for d in rng.integers(0, 10, len(national) - suffix - len(head)))
        candidate = head + middle + "0000"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}", None)
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
            kind,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            prefixes.add(f"+{example.country_code}{head}{middle}")
        if len(prefixes) >= 300:
            break
    if not prefixes:
        prefixes.add(f"+{example.country_code}{national[:-suffix]}")
    return _PhonePlan(tuple(sorted(prefixes)), suffix)


def _number(plan: _PhonePlan, rng: np.random.Generator) -> str:
    prefix = plan.prefixes[int(rng.integers(len(plan.prefixes)))]
    return prefix + f"{int(rng.integers(10**plan.suffix_digits)):0{plan.suffix_digits}d}"


def _us_number(rng: np.random.Generator) -> str:
    area = US_AREA_CODES[int(rng.integers(len(US_AREA_CODES)))]
    return f"+1{area}55501{int(rng.integers(100)):02d}"


def generate_portfolio(
    out: TextIO,
    customers: int,
    seed: int,
    countries: Sequence[str] = DEFAULT_COUNTRIES,
    first_id: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write a portfolio CSV with ``customers`` customers to ``out``; returns rows written.

    ``on_progress`` is called with the number of customers written so far.
    """
    # Every value comes from one generator in a fixed order of draws: the same
    # seed gives the same bytes only while the helpers below draw in this order.
    _check_countries(countries)
    rng = np.random.default_rng(seed)
    weights = np.array([COUNTRY_WEIGHTS[c] for c in countries])
    plans = _phone_plans(countries, rng)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(spec.ALL_COLUMNS)
    country_idx = rng.choice(len(countries), size=customers, p=weights / weights.sum())
    n_accounts = 1 + (rng.random(customers) < 0.25) * (1 + (rng.random(customers) < 0.3))
    scores = np.clip(rng.normal(550, 150, customers), 0, 1000).astype(int)
    rows = 0
    for i in range(customers):
        if on_progress is not None and i % 10_000 == 0:
            on_progress(i)
        number = first_id + i
        country = countries[int(country_idx[i])]
        customer_cells = _customer_cells(country, number, scores[i], plans, rng)
        accounts = [
            _account_cells(CURRENCY[country], number, a, rng) for a in range(int(n_accounts[i]))
        ]
        customer_cells[SEGMENT_CELL] = _segment(accounts, scores[i])
        for acc in accounts:
            writer.writerow(customer_cells + acc)
            rows += 1
    if on_progress is not None:
        on_progress(customers)
    return rows


def _check_countries(countries: Sequence[str]) -> None:
    """Raise naming the countries there is no generator data for."""
    unknown = [c for c in countries if c not in COUNTRY_WEIGHTS]
    if unknown:
        raise ValueError(
            f"--countries: no generator data for {unknown}; use {sorted(COUNTRY_WEIGHTS)}"
        )


def _phone_plans(
    countries: Sequence[str], rng: np.random.Generator
) -> dict[tuple[str, int], _PhonePlan]:
    """Mobile and landline plans per country; US numbers come from the fictional range instead."""
    return {
        (c, k): _phone_plan(c, k, rng)
        for c in countries
        if c != "US"
        for k in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)
    }


def _customer_cells(
    country: str,
    number: int,
    score: int,
    plans: Mapping[tuple[str, int], _PhonePlan],
    rng: np.random.Generator,
) -> list[str]:
    """One customer's columns, the segment left empty."""
    english = country == "US" and rng.random() < 0.8
    first, last, name = _name(english, rng)
    subdivisions = SUBDIVISIONS[country]
    subdivision = subdivisions[int(rng.integers(len(subdivisions)))]
    phone_1, phone_2 = _phones(country, plans, rng)
    email = _email(first, last, rng)
    consents = _consents((phone_1, phone_2, email), rng)
    consent_day = int(rng.integers(1, 365))
    consent_at = f"2025-{1 + consent_day // 31 % 12:02d}-{1 + consent_day % 28:02d}"
    return [
        f"C{number:08d}",
        name,
        country,
        subdivision,
        "",
        "en" if english else "es",
        str(score),
        "",  # segment, filled in from the worst account
        phone_1,
        consents[0],
        phone_2,
        consents[1],
        email,
        consents[2],
        consent_at if any(consents) else "",
        "onboarding" if any(consents) else "",
    ]


def _name(english: bool, rng: np.random.Generator) -> tuple[str, str, str]:
    """(first name, last name, full name); Spanish names carry a second last name."""
    first = (FIRST_EN if english else FIRST_ES)[int(rng.integers(24))]
    last = (LAST_EN if english else LAST_ES)[int(rng.integers(24))]
    second_last = "" if english else " " + LAST_ES[int(rng.integers(24))]
    return first, last, f"{first} {last}{second_last}"


def _phones(
    country: str, plans: Mapping[tuple[str, int], _PhonePlan], rng: np.random.Generator
) -> tuple[str, str]:
    """A mobile, and sometimes a second number (a landline outside the US)."""
    if country == "US":
        phone_1, phone_2 = _us_number(rng), (_us_number(rng) if rng.random() < 0.4 else "")
        if phone_2 == phone_1:
            phone_2 = ""  # the fictional 555-01XX range is small; twins happen
        return phone_1, phone_2
    phone_1 = _number(plans[(country, PhoneNumberType.MOBILE)], rng)
    has_landline = rng.random() < 0.4
    phone_2 = _number(plans[(country, PhoneNumberType.FIXED_LINE)], rng) if has_landline else ""
    return phone_1, phone_2


def _email(first: str, last: str, rng: np.random.Generator) -> str:
    """An address at a reserved example domain for three customers in four, else empty."""
    ascii_name = (
        unicodedata.normalize("NFKD", f"{first}.{last}".lower()).encode("ascii", "ignore").decode()
    )
    return (
        f"{ascii_name}{int(rng.integers(1000))}@{EMAIL_DOMAINS[int(rng.integers(3))]}"
        if rng.random() < 0.75
        else ""
    )


def _consents(points: Sequence[str], rng: np.random.Generator) -> list[str]:
    """A consent per contact point, empty for an empty point (drawn for every point)."""
    consents = []
    for point in points:
        draw = rng.random()
        consent = (
            "granted"
            if draw < 0.7
            else "denied"
            if draw < 0.8
            else "opted_out"
            if draw < 0.83
            else ""
        )
        consents.append(consent if point else "")
    return consents


def _account_cells(currency: str, number: int, index: int, rng: np.random.Generator) -> list[str]:
    """The account columns of the customer's ``index``-th account (from 0)."""
    product = list(PRODUCTS)[int(rng.choice(4, p=PRODUCT_WEIGHTS))]
    median, sigma = PRODUCTS[product]
    usd = float(rng.lognormal(np.log(median), sigma))
    decimals = 0 if currency == "CLP" else 2
    balance = round(usd * FX[currency], decimals)
    bucket = DPD_BUCKETS[int(rng.choice(5, p=[b[2] for b in DPD_BUCKETS]))]
    dpd = int(rng.integers(bucket[0], bucket[1] + 1))
    minimum = round(min(balance, balance * 0.05 + 10 * FX[currency]), decimals)
    opened = f"{2015 + int(rng.integers(11))}-{1 + int(rng.integers(12)):02d}-15"
    return [
        f"A{number:08d}-{index + 1}",
        product,
        f"{balance:.{decimals}f}",
        currency,
        str(dpd),
        f"{minimum:.{decimals}f}",
        "open",
        opened,
    ]


def _segment(accounts: Sequence[Sequence[str]], score: int) -> str:
    """The collection stage of the worst account and the score band, e.g. ``mid-high``."""
    worst = max(int(acc[DAYS_PAST_DUE_CELL]) for acc in accounts)
    stage = "early" if worst < 30 else "mid" if worst < 90 else "late"
    return f"{stage}-{'high' if score >= 550 else 'low'}"


def generate_file(
    path: Path, customers: int, seed: int, countries: Sequence[str] = DEFAULT_COUNTRIES
) -> int:
    """Write a generated portfolio to ``path`` (UTF-8); returns the number of account rows."""
    with path.open("w", encoding="utf-8", newline="") as out:
        return generate_portfolio(out, customers, seed, countries)
