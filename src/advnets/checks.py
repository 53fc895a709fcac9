"""Value checks that every options class uses in its `validate(prefix)` (docs/design.md, "The axes"): a choice
from a list, a positive number, a keep-probability. Each failure is a UserError that names the key and the fix.

A foundation: it imports nothing of advnets but `errors`, so that the config, the axes and the loop can all use
it without importing each other. It also holds the choices of a fixed config key whose code lives above the
foundations (the noise priors of `model.noise`, drawn in advnets.models.noise), so that checking a config never
imports the code that uses it.
"""

from __future__ import annotations

import math

from advnets.errors import UserError

NOISE_KINDS = ("uniform", "gaussian", "uniform01")  # model.noise: the priors advnets.models.noise draws from


def check_choice(key: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise UserError(f"{key}={value!r} is not allowed; choose one of: {', '.join(choices)}")


def check_positive(key: str, value: float | int, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise UserError(f"{key}={value} is impossible; it must be a finite number {bound}")


def check_probability(key: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise UserError(f"{key}={value} must be a keep-probability in (0, 1]; 1 turns dropout off")
