"""The input of an activity-shaped job (a standalone activity that *is* the job), checked as the job's contract.

A job activity takes its arguments untyped (`*args`) and validates them here, rather than letting the SDK decode
them: JSON that fails validation, no input, two inputs or a binary payload (from `temporal activity start` or a
Node producer) would otherwise fail *decoding* as a retryable error and be retried by the job's policy. Here it
fails the job at once, permanently, with `InvalidJob` naming the bad field.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity

from contracts.errors import InvalidJob, describe_errors

M = TypeVar("M", bound=BaseModel)


def job_input(args: tuple[Any, ...], model: type[M]) -> M:
    """The job's one argument as `model`, or `InvalidJob` saying what is wrong with it."""
    if len(args) != 1:
        raise InvalidJob(
            f"a {activity.info().activity_type} job takes one input (the {model.__name__} as JSON), got {len(args)}"
        )
    try:
        return model.model_validate(args[0])
    except ValidationError as e:
        raise InvalidJob(f"invalid {model.__name__}: {describe_errors(e)}") from None


def running_job_id() -> str:
    """The running job's id: the standalone activity's id (the producer chose it: `<kind>-<key>`)."""
    return activity.info().activity_id
