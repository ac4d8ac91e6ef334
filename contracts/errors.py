"""The failure types jobs can end with: the contract shared by activities, retry policies, alerts and tests.

An activity raises `JobError` subclasses; `to_application_error` turns one into Temporal's `ApplicationError`
with its `type` set to the class name, so `RetryPolicy.non_retryable_error_types` and the job's failure can name
it. Messages must never contain secrets: they end up in workflow histories.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError


class JobError(Exception):
    """Base of every failure a job can end with. `permanent` errors are never retried."""

    permanent: bool = False

    def to_application_error(self) -> ApplicationError:
        """The Temporal form of this error, typed by class name; raised in an activity, it carries the attempt
        number (`details[0]["attempt"]`) so the job's failure and alert can say how often it was tried."""
        details = [{"attempt": activity.info().attempt}] if activity.in_activity() else []
        return ApplicationError(str(self), *details, type=type(self).__name__, non_retryable=self.permanent)


class PermanentError(JobError):
    """Retrying cannot help: the input or the receiving side refuses the job."""

    permanent = True


class TransientError(JobError):
    """The other side is down or busy: retried by the job's policy."""


class InvalidJob(PermanentError):
    """The job's input does not validate (e.g. JSON sent by a non-Python producer)."""


class TemplateNotFound(PermanentError):
    """The email names a template that does not exist."""


class TemplateError(PermanentError):
    """The template exists but does not render: a missing variable, a syntax error, a failing expression, or a
    render over its budget (time, size, loop iterations, memory, a render process killed at its deadline)."""

    over_budget: bool = False
    """Over one of its render limits: the failures that cost the worker again on every recipient, so a broadcast
    counts them as strikes against its template."""


class AttachmentNotFound(PermanentError):
    """An attachment's storage key names nothing in storage."""


class RecipientRejected(PermanentError):
    """The SMTP server refused the recipients or the message for good (a 5xx reply)."""


class MessageRejected(PermanentError):
    """The SMTP server refused the sender, the login or the message itself for good (a 5xx reply)."""


class SmtpUnavailable(TransientError):
    """The SMTP server could not be reached, timed out or answered 4xx."""


class PhoneNumberRejected(PermanentError):
    """The SMS provider says the number is not one it can deliver to."""


class RecipientOptedOut(PermanentError):
    """The number's owner opted out of SMS from this sender: sending again would be ignored or illegal."""


class SmsRejected(PermanentError):
    """The SMS provider refused the message for good (a 4xx other than throttling: bad sender id, no permission)."""


class ProviderThrottled(TransientError):
    """The SMS provider asked us to slow down."""


class ProviderUnavailable(TransientError):
    """The SMS provider could not be reached, timed out or answered 5xx."""


class ReportSourceError(PermanentError):
    """A report's source cannot produce rows for these parameters (e.g. the CSV file does not exist, or the query
    tried to write through its read-only transaction)."""


class QueryTimedOut(TransientError):
    """A SQL report's query ran past its declared time-out. Retried once: a first time-out can come from the
    database rather than the query (a lock held by a migration, which a read-only query still waits on; a server
    saturated for a while), which the next attempt likely misses. A second is the query's own cost: it is raised
    `final` and fails the job, since each further attempt would load the team's database as long again."""

    def __init__(self, message: str, *, final: bool) -> None:
        super().__init__(message)
        self.permanent = final


class DatabaseUnavailable(TransientError):
    """A SQL report's database could not be reached, dropped the connection mid-read (a restart, a failover, an
    operator terminating the session) or is out of resources: retried, and the render starts over."""


class ImageRejected(PermanentError):
    """The source is no image this worker will decode: not an image, a format it does not read (SVG, PDF, ...),
    over the size or pixel caps (a decompression bomb), truncated or damaged. The message names which."""


class ImageNotFound(PermanentError):
    """The source image names no file in the data directory, or no key in storage."""


class StorageUnavailable(TransientError):
    """The report storage (S3, or the local directory) could not be reached or written."""


class EndpointUnknown(PermanentError):
    """A webhook job names an endpoint this worker's settings do not declare."""


class EndpointDisabled(PermanentError):
    """The webhook endpoint is disabled (it answered 410 Gone, or an operator disabled it)."""


class EndpointGone(PermanentError):
    """The webhook endpoint answered 410 Gone: the job fails and the endpoint is disabled."""


class WebhookRejected(PermanentError):
    """The endpoint answered a 4xx other than 408, 410 and 429: sending the same request again cannot help."""


class WebhookRedirected(PermanentError):
    """The endpoint answered a redirect (3xx), which is never followed: the endpoint's URL needs fixing."""


class AddressForbidden(PermanentError):
    """An outgoing request's host is (or resolves to) an internal address, and internal ones are not allowed."""


class WebhookUnavailable(TransientError):
    """The endpoint timed out, could not be reached, or answered 429, 408 or 5xx: retried on the webhook schedule."""


PERMANENT_ERROR_TYPES: tuple[str, ...] = tuple(
    cls.__name__
    for cls in (
        InvalidJob,
        TemplateNotFound,
        TemplateError,
        AttachmentNotFound,
        RecipientRejected,
        MessageRejected,
        PhoneNumberRejected,
        RecipientOptedOut,
        SmsRejected,
        ReportSourceError,
        EndpointUnknown,
        EndpointDisabled,
        EndpointGone,
        WebhookRejected,
        WebhookRedirected,
        AddressForbidden,
        ImageRejected,
        ImageNotFound,
    )
)
"""Names of the errors no retry policy retries (they are also raised non-retryable)."""


class ConveyorError(Exception):
    """Base of Conveyor's client-side errors."""


class InvalidJobError(ConveyorError, ValueError):
    """The job's input does not validate; nothing was enqueued. `str()` names the fields and why; `fields` maps
    each field at fault (`to.0`) to its reason."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}

    @classmethod
    def of(cls, what: str, error: ValidationError, prefix: str = "") -> InvalidJobError:
        """The error for `what` (e.g. `email job`) failing validation with `error`."""
        return cls(f"invalid {what}: {describe_errors(error, prefix)}", field_errors(error, prefix))


def field_errors(error: ValidationError, prefix: str = "") -> dict[str, str]:
    """`{"to.0": "value is not a valid email address", ...}`: the fields at fault, without echoing the input."""
    return {
        f"{prefix}{'.'.join(str(p) for p in e['loc']) or 'input'}": e["msg"] for e in error.errors(include_url=False)
    }


def describe_errors(error: ValidationError, prefix: str = "") -> str:
    """`to.0: value is not a valid email address; ...`: field paths and reasons, without echoing the input (which
    may be large, or personal)."""
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors(include_url=False)
    )


INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, ArithmeticError, LookupError)
"""Python errors a job's input causes inside an activity (a value out of range, `inf` hours, a wrong type): the
same input fails the same way on every attempt, so retrying them for minutes helps no one. I/O errors (`OSError`,
time-outs) are not among them: they stay retryable."""

TYPED_FAILURES: tuple[type[Exception], ...] = (JobError, *INPUT_ERRORS)
"""What `failures_typed` raises as `as_application_error` (anything else is a bug or an outage, and is
retried)."""


@contextmanager
def failures_typed() -> Iterator[None]:
    """Around an activity's work: a job's failures and its input's errors reach Temporal typed (input errors fail
    at once as `InvalidJob`; outages and bugs stay retryable)."""
    try:
        yield
    except TYPED_FAILURES as e:
        raise as_application_error(e) from None


def as_application_error(error: Exception) -> ApplicationError:
    """The Temporal failure for `error`: a `JobError` as itself, an input error as a permanent `InvalidJob`
    naming the Python error (its message cut short: it may quote a lot of input)."""
    if isinstance(error, JobError):
        return error.to_application_error()
    if isinstance(error, ValidationError):
        return InvalidJob(describe_errors(error)).to_application_error()
    return InvalidJob(f"{type(error).__name__}: {str(error)[:300]}").to_application_error()
