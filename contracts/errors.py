"""The failure types jobs can end with: the contract shared by activities, retry policies, alerts and tests.

An activity raises `JobError` subclasses; `to_application_error` turns one into Temporal's `ApplicationError`
with its `type` set to the class name, so `RetryPolicy.non_retryable_error_types` and the job's failure can name
it. Messages must never contain secrets: they end up in workflow histories.
"""

from __future__ import annotations

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
    """The template exists but does not render: a missing variable or a syntax error."""


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
    """A report's source cannot produce rows for these parameters (e.g. the CSV file does not exist)."""


class StorageUnavailable(TransientError):
    """The report storage (S3, or the local directory) could not be reached or written."""


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
    )
)
"""Names of the errors no retry policy retries (they are also raised non-retryable)."""


def describe_errors(error: ValidationError, prefix: str = "") -> str:
    """`to.0: value is not a valid email address; ...`: field paths and reasons, without echoing the input (which
    may be large, or personal)."""
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors(include_url=False)
    )
