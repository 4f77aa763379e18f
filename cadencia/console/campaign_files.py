"""The campaign files the console knows about, and whether each one validates.

The files are the ``*.toml`` of ``CADENCIA_CAMPAIGN_DIR`` (``create_web_app``'s
``campaign_dir``); each is read with ``campaigns.campaign.load_campaign``,
the validation ``cadencia run --campaign`` applies, so a file listed as valid
here is one a run accepts. An invalid file shows every error the loader
names, with its line and key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from cadencia.console.deps import WebContext, context, role
from cadencia.console.security import CurrentUser
from cadencia.console.uploads import Located, located
from campaigns.campaign import CampaignFileError, load_campaign

router = APIRouter()
managers = role("manager")
MAX_FILES = 200


@dataclass(frozen=True)
class CampaignFile:
    """One campaign file: its name, jurisdictions and zone, and its errors (none: valid)."""

    file: str
    name: str
    jurisdictions: tuple[str, ...]
    timezone: str
    errors: list[Located] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether the file validates."""
        return not self.errors


def _raw(path: Path) -> dict[str, Any]:
    """The file's TOML as written, or nothing when it does not parse."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def read_campaign_file(path: Path) -> CampaignFile:
    """Validate ``path`` as a run would; an invalid file keeps what can be read of it."""
    try:
        campaign = load_campaign(path)
    except CampaignFileError as exc:
        raw = _raw(path)
        packs = raw.get("rule_packs")
        return CampaignFile(
            file=path.name,
            name=str(raw.get("name", "")),
            jurisdictions=tuple(sorted(str(k) for k in packs)) if isinstance(packs, dict) else (),
            timezone=str(raw.get("timezone", "")),
            errors=[located(str(e), (str(path),)) for e in exc.errors],
        )
    return CampaignFile(
        file=path.name,
        name=campaign.name,
        jurisdictions=tuple(sorted(campaign.rule_packs)),
        timezone=campaign.timezone,
    )


def campaign_files(directory: Path | None) -> list[CampaignFile]:
    """Every ``*.toml`` of ``directory`` (the first ``MAX_FILES``, by file name)."""
    if directory is None or not directory.is_dir():
        return []
    return [read_campaign_file(p) for p in sorted(directory.glob("*.toml"))[:MAX_FILES]]


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request, user: CurrentUser = Depends(managers), ctx: WebContext = Depends(context)
) -> Response:
    """The campaign files, each with its name, jurisdictions and validation status."""
    directory: Path | None = getattr(request.app.state, "campaign_dir", None)
    return ctx.render(
        request,
        "campaign_files.html",
        user,
        directory=str(directory) if directory else "",
        found=directory is not None and directory.is_dir(),
        files=campaign_files(directory),
    )
