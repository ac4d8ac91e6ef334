"""A job's input as the jobs page shows it: secrets replaced by `***`, as the access log does for URLs.

Conveyor keeps secrets out of job inputs by design (SMTP, S3, database and webhook credentials live in settings),
but a producer's own data may still carry one — a template variable named `password`, a token in a link, an API
key pasted where it should not be. So a value is masked when its name says it is a credential, or when it holds
one of the API keys anywhere in it.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from conveyor.http.guards import SECRET_PARAMS, carries_key

MASK = "***"
SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "private_key", *SECRET_PARAMS)
"""A name containing any of these (case and `-`/`_` aside) names a credential."""


def secret_name(name: str) -> bool:
    """True if a field called `name` holds a credential (`password`, `smtpPassword`, `api-key`, `reset_token`)."""
    folded = name.lower().replace("-", "_")
    return any(word.replace("-", "_") in folded for word in SECRET_WORDS)


def masked(value: Any, keys: list[SecretStr]) -> Any:
    """`value` (JSON) with every credential-named field's value and every string holding an API key as `***`."""
    if isinstance(value, dict):
        return {k: MASK if secret_name(str(k)) else masked(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, keys) for v in value]
    if isinstance(value, str) and carries_key(value, keys):
        return MASK
    return value
