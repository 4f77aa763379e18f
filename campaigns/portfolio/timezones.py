"""Which IANA time zones a debtor may be in, when the bank's file does not say.

Contact-hour laws are written in the debtor's local time, so a wrong zone is
a violation. When the subdivision or phone leaves several candidates we keep
them all, and compliance then requires every candidate to allow the contact.
"""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from phonenumbers import timezone as phone_timezone

NY, CHI, DEN, LA = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    **{
        s: (NY,)
        for s in [
            "CT",
            "DE",
            "DC",
            "GA",
            "ME",
            "MD",
            "MA",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ]
    },
    **{s: (CHI,) for s in ["AL", "AR", "IL", "IA", "LA", "MN", "MS", "MO", "OK", "WI"]},
    **{s: (DEN,) for s in ["CO", "MT", "NM", "UT", "WY"]},
    **{s: (LA,) for s in ["CA", "NV", "WA"]},
    # States split across zones: the file must not pretend to know which half.
    "FL": (NY, CHI),
    "IN": ("America/Indiana/Indianapolis", CHI),
    "KY": (NY, CHI),
    "TN": (CHI, NY),
    "MI": ("America/Detroit", "America/Menominee"),
    "KS": (CHI, DEN),
    "NE": (CHI, DEN),
    "ND": (CHI, DEN),
    "SD": (CHI, DEN),
    "TX": (CHI, DEN),
    "ID": ("America/Boise", LA),
    "OR": (LA, "America/Boise"),
    "AZ": ("America/Phoenix",),
    "AK": ("America/Anchorage", "America/Adak"),
    "HI": ("Pacific/Honolulu",),
    "PR": ("America/Puerto_Rico",),
}

MX_CENTRAL = "America/Mexico_City"
MX_SUBDIVISION_ZONES: dict[str, tuple[str, ...]] = {
    "BCN": ("America/Tijuana",),
    "BCS": ("America/Mazatlan",),
    "SON": ("America/Hermosillo",),
    "SIN": ("America/Mazatlan",),
    "NAY": ("America/Mazatlan", "America/Bahia_Banderas"),
    "CHH": ("America/Chihuahua", "America/Ciudad_Juarez", "America/Ojinaga"),
    "ROO": ("America/Cancun",),
    "YUC": ("America/Merida",),
    "CAM": ("America/Merida",),
    "NLE": ("America/Monterrey",),
    "TAM": ("America/Monterrey", "America/Matamoros"),
    "COA": ("America/Monterrey", "America/Matamoros"),
}

CL_SUBDIVISION_ZONES: dict[str, tuple[str, ...]] = {
    "MA": ("America/Punta_Arenas",),
    # Valparaíso region includes Easter Island (Pacific/Easter, two hours behind).
    "VS": ("America/Santiago", "Pacific/Easter"),
}

COUNTRY_ZONES: dict[str, tuple[str, ...]] = {
    "CO": ("America/Bogota",),
    "PE": ("America/Lima",),
    "EC": ("America/Guayaquil", "Pacific/Galapagos"),
    "CL": ("America/Santiago", "America/Punta_Arenas", "Pacific/Easter"),
    "AR": ("America/Argentina/Buenos_Aires",),
    "UY": ("America/Montevideo",),
    "PY": ("America/Asuncion",),
    "BO": ("America/La_Paz",),
    "VE": ("America/Caracas",),
    "PA": ("America/Panama",),
    "CR": ("America/Costa_Rica",),
    "GT": ("America/Guatemala",),
    "SV": ("America/El_Salvador",),
    "HN": ("America/Tegucigalpa",),
    "NI": ("America/Managua",),
    "DO": ("America/Santo_Domingo",),
    "GB": ("Europe/London",),
    "ES": ("Europe/Madrid", "Atlantic/Canary"),
}
EC_SUBDIVISION_ZONES: dict[str, tuple[str, ...]] = {"W": ("Pacific/Galapagos",)}


def zones_for_subdivision(country: str, subdivision: str | None) -> tuple[str, ...]:
    """Candidate zones from an ISO 3166-2 code (``"US-TX"``), or () when unknown."""
    if not subdivision:
        return ()
    code = subdivision.split("-", 1)[1] if "-" in subdivision else subdivision
    if country == "US":
        return US_STATE_ZONES.get(code, ())
    if country == "MX":
        return MX_SUBDIVISION_ZONES.get(code, (MX_CENTRAL,))
    if country == "CL":
        return CL_SUBDIVISION_ZONES.get(code, ("America/Santiago",))
    if country == "EC":
        return EC_SUBDIVISION_ZONES.get(code, ("America/Guayaquil",))
    return COUNTRY_ZONES.get(country, ())[:1]


def zones_for_phones(numbers: Iterable[phonenumbers.PhoneNumber]) -> tuple[str, ...]:
    """The union of the zones libphonenumber assigns to ``numbers`` (unknowns dropped)."""
    zones: list[str] = []
    for number in numbers:
        for zone in phone_timezone.time_zones_for_number(number):
            if zone != "Etc/Unknown" and zone not in zones:
                zones.append(zone)
    return tuple(zones)


def derive_zones(
    country: str, subdivision: str | None, phones: Iterable[phonenumbers.PhoneNumber]
) -> tuple[str, ...]:
    """Subdivision first, then phones, then every zone of the country; () if none."""
    return (
        zones_for_subdivision(country, subdivision)
        or zones_for_phones(phones)
        or COUNTRY_ZONES.get(country, ())
    )
