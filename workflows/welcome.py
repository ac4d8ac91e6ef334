"""`Welcome`: the example of events driving a job. `user.created` sends the welcome email now; unless
`user.activated` arrives within `follow_up_after`, a follow-up email goes out then.

Producers deliver events with signal-with-start (`Jobs.signal_event`): the first event of a user starts the flow,
later ones reach the running flow, so producers never need to know whether it exists yet.

Events from a raw producer (the `temporal` CLI, Node) are checked here as the client checks them: a malformed one
fails the flow at once with `InvalidJob`, as a bad email built from a valid one does — never a workflow task that
fails for ever, nor an event silently dropped while the flow waits for days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities
    from contracts.email import EmailJob, SendEmailInput
    from contracts.errors import InvalidJobError
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from contracts.welcome import EVENT_SIGNAL, UserEvent, WelcomeJob, WelcomeResult
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import POLICIES


@workflow.defn(name="Welcome")
class Welcome(JobWorkflow):
    """Welcome one user. Input: a `WelcomeJob`; events arrive on the `event` signal. Result: a `WelcomeResult`."""

    def __init__(self) -> None:
        super().__init__()
        self.created: UserEvent | None = None
        self.activated = False
        self.refused: ApplicationError | None = None
        """The `InvalidJob` failure of the first malformed event: it ends the flow."""

    @workflow.signal(name=EVENT_SIGNAL)
    @any_inputs
    def event(self, *raw: Any) -> None:
        """Record an event; a repeated `user.created` (a producer's retry) changes nothing."""
        try:
            event = decode(raw, UserEvent)
        except ApplicationError as e:
            self.refused = self.refused or e
            return
        if event.name == "user.created":
            self.created = self.created or event
        else:
            self.activated = True

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> WelcomeResult:
        """Welcome on `user.created`, then follow up unless `user.activated` came first."""
        try:
            return await self._flow(decode(raw, WelcomeJob))
        except JOB_FAILURES as e:
            await self.fail(e)

    async def _flow(self, job: WelcomeJob) -> WelcomeResult:
        if not await self._wait("user.created", 0, lambda: self.created is not None, job.follow_up_after):
            return WelcomeResult(welcome_sent=False, follow_up_sent=False, activated=self.activated)
        await self._send("welcome", percent=30)
        if await self._wait("user.activated", 50, lambda: self.activated, job.follow_up_after):
            self.progress = Progress(stage="activated", percent=100)
            return WelcomeResult(welcome_sent=True, follow_up_sent=False, activated=True)
        await self._send("welcome-follow-up", percent=90)
        self.progress = Progress(stage="followed up", percent=100)
        return WelcomeResult(welcome_sent=True, follow_up_sent=True, activated=False)

    async def _wait(self, event: str, percent: int, condition: Callable[[], bool], timeout: timedelta) -> bool:
        """Wait for `event` (`condition`) at most `timeout`, showing until when: the follow-up is due then."""
        until = workflow.now() + timeout
        self.progress = Progress(stage=f"waiting for {event}", percent=percent, until=until)
        try:
            await workflow.wait_condition(lambda: condition() or self.refused is not None, timeout=timeout)
        except TimeoutError:  # the wait's time-out, asyncio's since Python 3.11
            return False
        if self.refused is not None:
            raise self.refused
        return True

    async def _send(self, template: str, percent: int) -> None:
        created = self.created
        assert created is not None and created.email is not None
        try:
            job = EmailJob(to=[created.email], template=template, context={"name": created.user_id, **created.context})
        except InvalidJobError as e:  # raised in the workflow task, it would fail that task for ever
            raise ApplicationError(str(e), type="InvalidJob", non_retryable=True) from None
        await self.run_step(
            f"sending {template}",
            percent,
            EmailActivities.send_email,
            SendEmailInput(job_id=f"{workflow.info().workflow_id}-{template}", job=job),
            POLICIES["email"],
        )
