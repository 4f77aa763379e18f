"""Contact-compliance rules: rule packs as data, pure evaluation, allowances.

Rule packs (TOML shipped in this package, each rule with its statute
citation), the pure evaluation of one proposed contact against a history,
and vectorised allowances for a whole portfolio on a given day.

Pure: no I/O (no sockets, SQL, Redis, clock reads; time is passed in).
May import: third-party libraries only. Never ``campaigns``, ``optimizer``,
``dialer`` or ``channels``.
"""

from compliance.allowance import Allowances, SharedCap, allowances, lookback_days
from compliance.evaluation import Decision, RuleResult, evaluate
from compliance.frames import events_frame
from compliance.model import (
    CHANNELS,
    CONTACT_CHANNELS,
    OUTCOMES,
    ComplianceInputError,
    Event,
    Proposal,
    event_from_dict,
    event_to_dict,
    proposal_from_dict,
)
from compliance.packs import (
    Pack,
    PackError,
    Rule,
    available_packs,
    load_pack,
    load_packs,
    parse_pack,
)

__all__ = [
    "CHANNELS",
    "CONTACT_CHANNELS",
    "OUTCOMES",
    "Allowances",
    "ComplianceInputError",
    "Decision",
    "Event",
    "Pack",
    "PackError",
    "Proposal",
    "Rule",
    "RuleResult",
    "SharedCap",
    "allowances",
    "available_packs",
    "evaluate",
    "event_from_dict",
    "event_to_dict",
    "events_frame",
    "load_pack",
    "load_packs",
    "lookback_days",
    "parse_pack",
    "proposal_from_dict",
]
