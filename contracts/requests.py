"""The base of every job's request model: bad input raises `InvalidJobError`, however the job was built.

The client, the CLI and the HTTP API validate a dict or JSON and raise `InvalidJobError`; a producer that builds
the model by hand (`EmailJob(to=["nope"], ...)`) gets the same error type, with the same field errors, instead of
pydantic's `ValidationError` — so one `except InvalidJobError` covers every way a job is made.
"""

from __future__ import annotations

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
            raise InvalidJobError.of(cls.__name__, e) from None


class JobRequest(BaseModel, metaclass=_RaisesInvalidJob):
    """A job's request: the JSON contract every producer speaks (frozen, unknown fields refused, by subclasses)."""
