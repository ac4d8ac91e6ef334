"""The base of every job's request model: bad input raises `InvalidJobError`, however the job was built.

The client, the CLI and the HTTP API validate a dict or JSON and raise `InvalidJobError`; a producer that builds
the model by hand (`EmailJob(to=["nope"], ...)`) gets the same error type, with the same field errors, instead of
pydantic's `ValidationError` — so one `except InvalidJobError` covers every way a job is made.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic._internal._model_construction import ModelMetaclass

from contracts.errors import InvalidJobError


class _RaisesInvalidJob(ModelMetaclass):
    """Turns a failed construction into `InvalidJobError` (validation from data — `model_validate`, nested models,
    decoding — never passes here and keeps pydantic's error for its callers)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as e:
            raise InvalidJobError.of(job_noun(cls.__name__), e) from None


def job_noun(class_name: str) -> str:
    """`EmailJob` -> `email job`: a request model named as its kind's errors name it everywhere else (the client,
    the CLI and the HTTP API say `invalid email job: ...`), so a model built by hand says the same."""
    return " ".join(word.lower() for word in re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", class_name))


class JobRequest(BaseModel, metaclass=_RaisesInvalidJob):
    """A job's request: the JSON contract every producer speaks (frozen, unknown fields refused, by subclasses)."""
