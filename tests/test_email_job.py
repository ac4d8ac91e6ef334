"""The email job end to end: a real dev server, a real worker, a real SMTP server with STARTTLS + AUTH."""

from __future__ import annotations

import base64
import uuid

import pytest

from conveyor import EmailJob, JobFailed, Jobs, JobState
from tests.smtp_server import SmtpServer


def address(name: str = "user") -> str:
    """A recipient no other test uses, so the SMTP server's records are this test's alone."""
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def test_welcome_email_arrives_with_both_parts_and_attachment(jobs: Jobs, smtp_server: SmtpServer) -> None:
    ann, boss, hidden = address("ann"), address("boss"), address("hidden")
    job = EmailJob(
        to=[ann],
        cc=[boss],
        bcc=[hidden],
        reply_to="support@example.com",
        template="welcome",
        context={"name": "Ann <3", "login_url": "https://app.example.com/login"},
        attachments=[{"filename": "terms.txt", "content_type": "text/plain", "content": base64.b64encode(b"Be nice.")}],
    )
    handle = await jobs.email(job)
    result = await handle.result()

    [msg] = smtp_server.to(ann)
    assert msg["Subject"] == "Welcome to Conveyor, Ann <3!"
    assert msg["Message-ID"] == f"<{handle.id}@conveyor.test>" == result.message_id
    assert msg["X-Conveyor-Job-Id"] == handle.id
    assert msg["Cc"] == boss and msg["Reply-To"] == "support@example.com"
    assert "Bcc" not in msg and hidden not in msg.as_string()
    assert smtp_server.to(hidden) == [msg], "bcc is an envelope recipient"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and "Hi Ann <3," in text.get_content()
    assert html is not None and "Hi Ann &lt;3," in html.get_content(), "HTML is autoescaped"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "terms.txt" and attachment.get_content() == "Be nice."
    assert sorted(result.accepted) == sorted([ann, boss, hidden]) and result.refused == {}


async def test_explicit_subject_and_text_without_template(jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = address()
    handle = await jobs.email({"to": [to], "subject": "Invoice 42", "text": "Attached."})
    await handle.result()
    [msg] = smtp_server.to(to)
    assert msg["Subject"] == "Invoice 42" and msg.get_content().strip() == "Attached."


async def test_transient_smtp_failure_is_retried_and_delivered_once(jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = address("flaky")
    smtp_server.fail(to, 451, times=1)
    handle = await jobs.email(EmailJob(to=[to], subject="Hello", text="again"))
    await handle.result()
    assert len(smtp_server.to(to)) == 1
    assert smtp_server.attempts(to) == 2
    status = await jobs.status(handle.id)
    assert status.state is JobState.COMPLETED and status.attempts == 2


async def test_rejected_recipient_fails_after_one_attempt(jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = address("gone")
    smtp_server.fail(to, 550)
    handle = await jobs.email(EmailJob(to=[to], subject="Hello", text="?"))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == "RecipientRejected"
    assert "550" in failed.value.message
    assert smtp_server.attempts(to) == 1
    status = await jobs.status(handle.id)
    assert status.state is JobState.FAILED and status.attempts == 1
    assert status.failure is not None and status.failure.type == "RecipientRejected"


async def test_partly_refused_recipients_are_reported_not_resent(jobs: Jobs, smtp_server: SmtpServer) -> None:
    ok, gone = address("ok"), address("gone")
    smtp_server.fail(gone, 550)
    result = await (await jobs.email(EmailJob(to=[ok, gone], subject="Hi", text="both?"))).result()
    assert result.accepted == [ok] and gone in result.refused and result.refused[gone].startswith("550")
    assert len(smtp_server.to(ok)) == 1


@pytest.mark.parametrize(
    ("template", "context", "error"),
    [("no-such-template", {}, "TemplateNotFound"), ("welcome", {}, "TemplateError")],
)
async def test_template_problems_fail_at_once_and_name_the_cause(
    jobs: Jobs, smtp_server: SmtpServer, template: str, context: dict[str, str], error: str
) -> None:
    to = address()
    handle = await jobs.email(EmailJob(to=[to], template=template, context=context))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == error
    assert template in failed.value.message
    assert smtp_server.attempts(to) == 0
    assert (await jobs.status(handle.id)).attempts == 1


async def test_same_key_sends_once(jobs: Jobs, smtp_server: SmtpServer) -> None:
    to, key = address(), f"welcome-{uuid.uuid4().hex[:6]}"
    job = EmailJob(to=[to], template="welcome", context={"name": "Ann"})
    first = await jobs.email(job, key=key)
    second = await jobs.email(job, key=key)  # while (probably) running: the same job
    assert first.id == second.id == f"email-{key}"
    await first.result()
    third = await jobs.email(job, key=key)  # after it completed: still the same job, nothing sent
    assert third.id == first.id
    await third.result()
    assert len(smtp_server.to(to)) == 1


async def test_retried_send_keeps_message_id(jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = address()
    smtp_server.defer_data(to, times=1)  # the server sees the whole message, then answers 451
    handle = await jobs.email(EmailJob(to=[to], subject="Once", text="only"), key=uuid.uuid4().hex)
    result = await handle.result()
    [first] = [r.message for r in smtp_server.handler.deferred if to in r.rcpt_tos]
    [delivered] = smtp_server.to(to)
    assert first["Message-ID"] == delivered["Message-ID"] == result.message_id == f"<{handle.id}@conveyor.test>"
