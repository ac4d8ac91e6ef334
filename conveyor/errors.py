"""The errors a producer sees. Every one is raised before anything is enqueued, or names the job it concerns."""

from __future__ import annotations

from contracts.errors import ConveyorError, InvalidJobError

__all__ = [
    "ConveyorError",
    "EndpointDisabledError",
    "InvalidJobError",
    "JobFailed",
    "JobNotFound",
    "JobStateError",
    "TemporalUnavailable",
]


class TemporalUnavailable(ConveyorError):
    """Temporal cannot be reached at the configured address."""


class JobNotFound(ConveyorError, LookupError):
    """No job has this id (or it is older than the namespace's retention)."""


class JobStateError(ConveyorError):
    """The job's state does not allow the operation (e.g. retrying a running job, cancelling a finished one)."""


class KeyReused(JobStateError):
    """An idempotency key was given again with a different job: the key names `job_id`, which was enqueued with
    other input. (Handing back that job would silently drop the new one; the HTTP API answers 409, as Stripe's
    idempotency keys do.)"""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"the key is already used by job {job_id}, enqueued with different input; use a new key")
        self.job_id = job_id


class JobFailed(ConveyorError):
    """The job ended without success. `type` is the failure's type (e.g. `RecipientRejected`)."""

    def __init__(self, job_id: str, type: str, message: str) -> None:
        super().__init__(f"job {job_id} failed: {type}: {message}")
        self.job_id = job_id
        self.type = type
        self.message = message


class EndpointDisabledError(InvalidJobError):
    """A webhook was enqueued for an endpoint that is disabled (it answered 410 Gone, or an operator disabled it):
    nothing was enqueued. `conveyor endpoints enable NAME` turns it back on."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(
            f"webhook endpoint {endpoint!r} is disabled ({reason}); `conveyor endpoints enable {endpoint}` turns it "
            "back on",
            {"endpoint": "disabled"},
        )
        self.endpoint = endpoint
        self.reason = reason
