"""Typed readers for environment settings.

Each reader fails loudly with the variable's name when a value is malformed, so a typo in a
deployment stops the process at start-up instead of surfacing as odd behaviour later.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote, urlsplit


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


def env_decimal(name: str, default: str, *, minimum: str | None = None) -> Decimal:
    value = env_str(name, default)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or (minimum is not None and number < Decimal(minimum)):
        raise ConfigurationError(f"{name} must be a number of at least {minimum}, got {value!r}")
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


@dataclass(frozen=True)
class EmailSettings:
    """Where e-mail goes, read from one URL (EMAIL_URL, or a tenant's SMTP account):

    smtp://user:pass@host:port?tls=1   SMTP, STARTTLS with tls=1 (port 25, or 587 with tls)
    smtps://user:pass@host:port        SMTP over TLS (port 465)
    console://                         printed on standard output
    file:///absolute/path              one file per message in that directory
    memory://  dummy://                kept in django.core.mail.outbox / thrown away (tests)

    Query parameters: tls, ssl (booleans) and timeout (seconds, default 10). User and
    password are percent-decoded, so "@" in a password is written %40.
    """

    backend: str
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: float = 10.0
    file_path: str = ""

    def connection_kwargs(self) -> dict[str, object]:
        """Keyword arguments for django.core.mail.get_connection(self.backend, ...)."""
        if self.backend == _EMAIL_BACKENDS["smtp"]:
            return {
                "host": self.host,
                "port": self.port,
                "username": self.username,
                "password": self.password,
                "use_tls": self.use_tls,
                "use_ssl": self.use_ssl,
                "timeout": self.timeout,
            }
        return {"file_path": self.file_path} if self.file_path else {}


FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
_EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": FILE_EMAIL_BACKEND,
    "memory": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}


def _url_bool(name: str, key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}: {key} must be a boolean (1/0, true/false), got {value!r}")


def parse_email_url(url: str, name: str = "EMAIL_URL") -> EmailSettings:
    """Read an e-mail URL (see EmailSettings); raise ConfigurationError naming `name` when it
    is malformed. The password never appears in the error."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _EMAIL_BACKENDS:
        raise ConfigurationError(
            f"{name} must start with one of {', '.join(s + '://' for s in _EMAIL_BACKENDS)}"
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"tls", "ssl", "timeout"}
    if unknown:
        raise ConfigurationError(f"{name}: unknown parameters {sorted(unknown)}")
    if scheme == "file":
        if parts.netloc not in {"", "localhost"} or not parts.path.startswith("/"):
            raise ConfigurationError(f"{name}: file:// needs an absolute path, as file:///srv/mail")
        return EmailSettings(_EMAIL_BACKENDS[scheme], file_path=unquote(parts.path))
    if scheme not in {"smtp", "smtps"}:
        return EmailSettings(_EMAIL_BACKENDS[scheme])
    use_tls = _url_bool(name, "tls", query["tls"][-1]) if "tls" in query else False
    use_ssl = scheme == "smtps" or (
        _url_bool(name, "ssl", query["ssl"][-1]) if "ssl" in query else False
    )
    if use_tls and use_ssl:
        raise ConfigurationError(f"{name}: choose tls=1 (STARTTLS) or SSL (smtps://), not both")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{name}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ConfigurationError(f"{name}: an SMTP URL needs a host, as smtp://mail.example.org")
    try:
        timeout = float(query["timeout"][-1]) if "timeout" in query else 10.0
    except ValueError:
        raise ConfigurationError(f"{name}: timeout must be a number of seconds") from None
    if timeout <= 0:
        raise ConfigurationError(f"{name}: timeout must be positive")
    return EmailSettings(
        _EMAIL_BACKENDS[scheme],
        host=parts.hostname,
        port=port or (465 if use_ssl else 587 if use_tls else 25),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        timeout=timeout,
    )


def env_email_url(name: str) -> EmailSettings | None:
    value = env_str(name)
    return None if value is None else parse_email_url(value, name)
