"""What a campaign's ``[recording]`` section means for its calls (pure)."""

from __future__ import annotations

import datetime as dt

from campaigns.campaign import Recording

# The US states whose wiretap laws require every party's consent to record a
# call (as of 2026; docs/recording.md cites each). A campaign calling debtors
# there sets ``[recording] announce = true``.
TWO_PARTY_STATES = ("CA", "CT", "DE", "FL", "IL", "MD", "MA", "MI", "MT", "NH", "OR", "PA", "WA")


def recording_variables(policy: Recording) -> dict[str, str]:
    """The channel variables a campaign's calls carry for the dialplan's recording.

    ``CADENCIA_RECORD=no`` records nothing; ``CADENCIA_ANNOUNCE=yes`` plays the
    recording notice before an agent is connected.
    """
    variables: dict[str, str] = {}
    if not policy.enabled:
        variables["CADENCIA_RECORD"] = "no"
    if policy.announce:
        variables["CADENCIA_ANNOUNCE"] = "yes"
    return variables


def retain_until(recorded_at: dt.datetime, retention_days: int) -> dt.datetime:
    """The instant after which a recording made at ``recorded_at`` is deleted."""
    return recorded_at + dt.timedelta(days=retention_days)
