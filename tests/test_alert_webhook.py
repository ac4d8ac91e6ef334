"""A failure alert never leaks its webhook URL (a credential), however broken the URL is."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.alerts import AlertChannels, JobAlert
from activities.smtp import SmtpConfig

SECRET = "T000/B000/alert-secret-token"


@pytest.mark.parametrize(
    "url",
    [
        f"hooks.example.com/services/{SECRET}",  # no scheme: urllib's error would quote it
        f"file:///etc/{SECRET}",  # a scheme urllib would open
        f"http://[::1/{SECRET}",  # does not parse
        f"http://127.0.0.1:1/{SECRET}",  # parses, nothing listens
    ],
)
async def test_undeliverable_webhook_alert_names_no_url(url: str) -> None:
    channels = AlertChannels(
        SmtpConfig(host="127.0.0.1", port=1), "x@example.com", None, SecretStr(url), lambda alert: alert.job_id
    )
    alert = JobAlert(kind="email", job_id="email-1", failure_type="RecipientRejected", message="550")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(channels.send_alert, alert)
    assert raised.value.type == "AlertUndelivered"
    assert "alert-secret-token" not in str(raised.value) + repr(raised.value.details)
