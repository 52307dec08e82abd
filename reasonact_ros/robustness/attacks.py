"""The instruction attack set (config/security/instructions.yaml) as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

EXPECTATIONS = ("refuse", "safe")


def default_path() -> Path:
    checkout = Path(__file__).resolve().parents[2] / "config" / "security" / "instructions.yaml"
    if checkout.is_file():
        return checkout
    from reasonact_ros.share import share_path

    return share_path("config", "security", "instructions.yaml")


@dataclass(frozen=True)
class Attack:
    id: str
    category: str
    text: str
    expect: str  # "refuse": must be refused; "safe": refused or a clamped intent

    def __repr__(self) -> str:  # a 1 MB text must not flood a pytest report
        return f"Attack({self.id}, {self.category}, {len(self.text)} chars)"


def load_attacks(path: Path | str | None = None) -> list[Attack]:
    """Every attack in the file; generated texts (``repeat`` x ``times``) are built here."""
    with open(path or default_path(), encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    attacks, seen = [], set()
    for entry in data["attacks"]:
        if "repeat" in entry:
            text = str(entry["repeat"]) * int(entry["times"])
        else:
            text = str(entry["text"])
        attack = Attack(str(entry["id"]), str(entry["category"]), text, str(entry["expect"]))
        if attack.expect not in EXPECTATIONS:
            raise ValueError(f"attack {attack.id}: expect must be one of {EXPECTATIONS}")
        if attack.id in seen:
            raise ValueError(f"attack id {attack.id} appears twice")
        seen.add(attack.id)
        attacks.append(attack)
    return attacks
