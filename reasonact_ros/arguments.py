"""argparse value types shared by the `reasonact` commands (each module adds its own)."""

from __future__ import annotations

import argparse


def _int_at_least(value: str, minimum: int, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return number


def positive_int(value: str) -> int:
    return _int_at_least(value, 1, "a positive integer")


def non_negative_int(value: str) -> int:
    return _int_at_least(value, 0, "an integer >= 0")


def seed(value: str) -> int:
    return _int_at_least(value, 0, "a seed (an integer >= 0)")
