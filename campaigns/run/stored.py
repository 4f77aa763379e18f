"""What a run keeps of itself: its campaign file as it started, and its plan's attempt keys.

Below the run's state machine, planning and reports, which all read these.
"""

from __future__ import annotations

import tomllib

from campaigns.campaign import Campaign
from campaigns.storage.models import Run


def plan_key(planned_contact_id: int) -> str:
    """The guard key of the attempt made for a planned contact."""
    return f"plan:{planned_contact_id}"


def campaign_of(run: Run) -> Campaign:
    """The campaign exactly as it was when the run started (the stored file text)."""
    return Campaign.model_validate(tomllib.loads(run.campaign_toml))
