"""Every knob Conveyor has, read from `CONVEYOR_*` environment variables or a `.env` file.

The defaults are the embedded stack that `conveyor dev` runs on this machine, so a fresh checkout needs no
configuration; production sets the Temporal address, SMTP server and storage. Secrets are `SecretStr`: their
`repr` and `str` print `**********`, so a settings object can be logged or shown in an error safely.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.smtp import SmtpConfig, SmtpTls


class Settings(BaseSettings):
    """Conveyor's configuration. Field names map to `CONVEYOR_<NAME>` (e.g. `CONVEYOR_SMTP_HOST`)."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", env_file=".env", extra="ignore")

    # Temporal
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    namespace: str = Field("default", description="Temporal namespace the jobs live in.")
    task_queue: str = Field("conveyor", description="Task queue of the email job and the default queue.")
    temporal_api_key: SecretStr | None = Field(None, description="API key (Temporal Cloud); implies TLS.")
    temporal_tls: bool = Field(False, description="Use TLS to reach Temporal (on with a cert or API key).")
    temporal_tls_cert: Path | None = Field(None, description="Client certificate (PEM) for mTLS.")
    temporal_tls_key: Path | None = Field(None, description="Client private key (PEM) for mTLS.")
    temporal_tls_ca: Path | None = Field(None, description="CA bundle to verify the server; system CAs if unset.")
    search_attributes: bool = Field(
        True,
        description="Tag jobs with the JobKey/Recipients search attributes (registered by `conveyor dev`/`setup`).",
    )
    ui_url: str | None = Field(None, description="Temporal web UI base URL for job links; default: the dev UI.")

    # SMTP
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, description="SMTP server port (`conveyor dev` runs its outbox here).")
    smtp_tls: SmtpTls = Field(SmtpTls.NONE, description="`none`, `starttls`, or `implicit` (TLS from the first byte).")
    smtp_username: str | None = Field(None, description="SMTP AUTH user name.")
    smtp_password: SecretStr | None = Field(None, description="SMTP AUTH password.")
    smtp_timeout: float = Field(30.0, description="Seconds for connecting and for each SMTP command.")
    smtp_ca_file: Path | None = Field(None, description="CA bundle to verify the SMTP server; system CAs if unset.")
    mail_from: str = Field("Conveyor <noreply@conveyor.localhost>", description="From header of every email.")
    templates_dir: Path = Field(
        Path("templates"), description="Your email templates; each overrides a built-in of the same name."
    )

    smtp_pool_size: int = Field(10, ge=1, description="SMTP connections a worker reuses for broadcasts.")

    # Periodic jobs, broadcasts, events
    ops_email: str = Field("ops@conveyor.localhost", description="Who gets the daily jobs report.")
    reports_task_queue: str = Field("conveyor-reports", description="Task queue of the report job.")
    retention_days: int = Field(30, ge=1, description="The weekly cleanup deletes reports and outbox files older.")
    broadcast_continue_every: int = Field(
        5000, ge=1, description="A broadcast starts a fresh run (continue-as-new) after this many recipients."
    )
    welcome_follow_up_after: timedelta = Field(
        timedelta(days=3), description="Welcome flow: follow up unless user.activated came within this (e.g. P3D)."
    )

    # Worker
    max_concurrent_activities: int = Field(200, description="Activities one worker runs at once.")
    graceful_shutdown_seconds: float = Field(30.0, description="On SIGTERM, time given to running activities.")

    # Local development stack
    home: Path = Field(Path(".conveyor"), description="Where `conveyor dev` keeps its database and outboxes.")
    dev_ui_port: int = Field(8233, description="Port of the Temporal web UI under `conveyor dev`.")
    dev_outbox: bool = Field(
        True, description="`conveyor dev` runs its SMTP outbox; false: it uses the SMTP server set above."
    )

    def smtp_config(self) -> SmtpConfig:
        """How the email activities reach the SMTP server."""
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            tls=self.smtp_tls,
            username=self.smtp_username,
            password=self.smtp_password,
            timeout=self.smtp_timeout,
            ca_file=self.smtp_ca_file,
        )

    @property
    def web_ui(self) -> str:
        """The web UI's base URL: `ui_url`, or the one `conveyor dev` serves next to the Temporal address."""
        return self.ui_url or f"http://{self.temporal_address.rpartition(':')[0]}:{self.dev_ui_port}"

    @property
    def outbox_dir(self) -> Path:
        """Where the dev SMTP server writes each message as `<job-id>.eml`."""
        return self.home / "outbox"
