"""Typed readers for environment settings.

Each reader fails loudly with the variable's name when a value is malformed, so a typo in a
deployment stops the process at start-up instead of surfacing as odd behaviour later.
"""

from __future__ import annotations

import os
import re


class ConfigurationError(Exception):
    """An environment variable has a value Mifumo cannot use."""


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {number}")
    return number


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """Parse "100/m", "10/min", "5/10s" or "1000/h" into (count, period in seconds)."""
    match = _RATE.match(text or "")
    if not match:
        raise ValueError(f"a rate looks like 100/m, 10/min or 5/10s, not {text!r}")
    count, multiplier, unit = match.groups()
    period = int(multiplier or 1) * _PERIOD_SECONDS[unit]
    if int(count) <= 0 or period <= 0:
        raise ValueError(f"a rate must be positive, not {text!r}")
    return int(count), period


def env_rate(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        parse_rate(value)
    except ValueError as error:
        raise ConfigurationError(f"{name}: {error}") from None
    return value
