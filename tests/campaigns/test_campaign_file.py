"""Campaign files: the shipped examples load; mistakes are named by key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.campaign import CampaignFileError, load_campaign

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["co-tarjetas", "cl-consumo", "us-cards"])
def test_shipped_examples_load(name: str) -> None:
    campaign = load_campaign(EXAMPLES / f"{name}.toml")
    assert campaign.name == name and campaign.slots >= 12
    assert any(c.enabled for c in campaign.channels.values())


def test_subdivision_packs_override_the_country() -> None:
    campaign = load_campaign(EXAMPLES / "us-cards.toml")
    assert campaign.packs_for("US", "US-MA") == ("us-regf", "us-ma", "house")
    assert campaign.packs_for("US", "US-TX") == ("us-regf", "house")
    assert campaign.packs_for("CO", None) == ()


def test_errors_name_the_key_and_its_line(tmp_path: Path) -> None:
    text = (EXAMPLES / "co-tarjetas.toml").read_text(encoding="utf-8")
    text = text.replace("cost = 60.0", "cost = -60.0").replace('"co-ley2300"', '"co-ley-2300"')
    text = text.replace('mode = "predictive"', 'mode = "turbo"')
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignFileError) as caught:
        load_campaign(path)
    lines = text.splitlines()

    def line_of(snippet: str) -> int:
        return next(i for i, line in enumerate(lines, start=1) if snippet in line)

    errors = caught.value.errors
    assert (
        f"{path}:{line_of('cost = -60.0')}: channels.sms.cost: "
        "Input should be greater than or equal to 0" in errors
    )
    assert any(
        e.startswith(
            f"{path}:{line_of('co-ley-2300')}: rule_packs.CO: unknown packs ['co-ley-2300']"
        )
        for e in errors
    )
    assert any(
        e.startswith(f"{path}:{line_of('turbo')}: dialer.mode: Input should be") for e in errors
    )


def test_broken_toml_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\ncurrency = "COP\n', encoding="utf-8")
    with pytest.raises(CampaignFileError) as caught:
        load_campaign(path)
    assert caught.value.errors[0].startswith(f"{path}:2: toml:")
    text = (EXAMPLES / "cl-consumo.toml").read_text(encoding="utf-8") + "\n[dialer2]\nmode = 1\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignFileError) as caught:
        load_campaign(path)
    assert caught.value.errors == [
        f"{path}:{len(text.splitlines()) - 1}: dialer2: Extra inputs are not permitted"
    ]
