"""A job's one input, checked as its contract, for both shapes: a workflow's `run` and a job activity.

The SDK decodes a job's inputs before calling it, typed by the function's signature, and a failure there (no
input, two inputs for one parameter, JSON nested past the decoder's limit, an unknown or binary encoding: all seen
from `temporal workflow start`, `temporal activity start` and Node producers) is retried by Temporal for ever — a
workflow *task* failure, or an activity attempt under the server's default policy. So a job takes `*raw`,
presented to the SDK as one `RawValue` parameter (`any_inputs`), and `decode` checks it: the job fails at once,
non-retryably, with type `InvalidJob` and a message naming what is wrong.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from contracts.errors import describe_errors

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

JSON_PLAIN = b"json/plain"


def any_inputs(run: F) -> F:
    """Let a job's `run(self, *raw)` (or a plain function's `run(*raw)`) take any number of inputs, the first one
    undecoded.

    Presented to the SDK as one `RawValue` parameter: one input arrives as the undecoded payload (`decode` checks
    it), and any other count arrives as it is (the SDK drops type hints when the count differs), for `decode` to
    refuse. A method keeps its `self`; a plain function gets none (the SDK warns about an unbound `self`).
    """
    method = next(iter(inspect.signature(run).parameters), None) == "self"
    parameters = [
        *([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] if method else []),
        inspect.Parameter("raw", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RawValue),
    ]
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {**run.__annotations__, "raw": RawValue}
    return run


def invalid(name: str, problem: str) -> ApplicationError:
    """The job's failure for bad input: permanent, typed `InvalidJob`."""
    return ApplicationError(f"invalid {name}: {problem}", type="InvalidJob", non_retryable=True)


def decode(args: Sequence[Any], model: type[M]) -> M:
    """The job's one input as `model`, or a non-retryable `InvalidJob` failure saying what is wrong: no input,
    several inputs, something other than a JSON object (e.g. `binary/plain` bytes), or the fields at fault.

    A `json/plain` payload is validated from its JSON, exactly as the pydantic data converter would decode it; a
    value already decoded (a test calling the job directly) is checked in JSON mode, the same way.
    """
    name = model.__name__
    if len(args) != 1:
        given = "no input" if not args else f"{len(args)} inputs"
        raise invalid(name, f"{given}; start the job with exactly one {name} as a JSON object")
    value = args[0]
    try:
        if isinstance(value, RawValue):  # one input: the SDK left it undecoded (see `any_inputs`)
            encoding = value.payload.metadata.get("encoding", b"")
            if encoding != JSON_PLAIN:
                shown = "bytes (not json/plain)" if encoding == b"binary/plain" else f"{encoding.decode()!r} encoded"
                raise invalid(name, f"the input is {shown}; it must be a JSON object")
            return model.model_validate_json(value.payload.data)
        if isinstance(value, model):
            return value
        if not isinstance(value, dict):
            kind = "bytes (not json/plain)" if isinstance(value, bytes) else f"JSON {type(value).__name__}"
            raise invalid(name, f"the input is {kind}; it must be a JSON object")
        return model.model_validate_json(json.dumps(value, allow_nan=False))
    except ValidationError as e:
        raise invalid(name, describe_errors(e)) from None
    except ApplicationError:
        raise
    except Exception as e:  # not UTF-8, NaN in the JSON, nested past the encoder's limit
        raise invalid(name, str(e)) from None
