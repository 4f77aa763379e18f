"""Every rule kind is implemented everywhere it must be: parsing, evaluate, allowances.

Each module dispatches on ``Rule.kind`` through one table. A kind added to
``RULE_KINDS`` (the vocabulary :func:`compliance.parse_pack` accepts) but missing
from one of the tables would be parsed and then crash :func:`compliance.evaluate`
or be silently ignored by :func:`compliance.allowances`, which would then allow
what the guard refuses; these tests fail first.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from compliance.allowance import _LOOKBACK, _RESTRICT
from compliance.evaluation import _CHECKS
from compliance.packs import _PARAMS, RULE_KINDS

TABLES: dict[str, Mapping[str, object]] = {
    "compliance.evaluation._CHECKS": _CHECKS,
    "compliance.allowance._RESTRICT": _RESTRICT,
    "compliance.allowance._LOOKBACK": _LOOKBACK,
    "compliance.packs._PARAMS": _PARAMS,
}


def test_rule_kinds_are_distinct() -> None:
    assert len(set(RULE_KINDS)) == len(RULE_KINDS)


def test_evaluate_and_allowances_dispatch_the_same_rule_kinds() -> None:
    only_checks = sorted(set(_CHECKS) - set(_RESTRICT))
    only_allowances = sorted(set(_RESTRICT) - set(_CHECKS))
    assert not only_checks, f"in evaluation._CHECKS, not allowance._RESTRICT: {only_checks}"
    assert not only_allowances, f"in allowance._RESTRICT, not evaluation._CHECKS: {only_allowances}"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_rule_kind_has_exactly_one_entry(name: str) -> None:
    table = TABLES[name]
    missing = sorted(set(RULE_KINDS) - set(table))
    unknown = sorted(set(table) - set(RULE_KINDS))
    assert not missing and not unknown, (
        f"{name}: no entry for {missing}; entries for kinds not in RULE_KINDS: {unknown}"
    )
    assert all(callable(step) for step in table.values())
