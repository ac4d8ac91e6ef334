"""`Welcome`: the example of events driving a job. `user.created` sends the welcome email now; unless
`user.activated` arrives within `follow_up_after`, a follow-up email goes out then.

Producers deliver events with signal-with-start (`Jobs.signal_event`): the first event of a user starts the flow,
later ones reach the running flow, so producers never need to know whether it exists yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities
    from contracts.email import EmailJob, SendEmailInput
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

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: UserEvent) -> None:
        """Record an event; a repeated `user.created` (a producer's retry) changes nothing."""
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
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:  # the wait's time-out, asyncio's since Python 3.11
            return False
        return True

    async def _send(self, template: str, percent: int) -> None:
        created = self.created
        assert created is not None and created.email is not None
        job = EmailJob(to=[created.email], template=template, context={"name": created.user_id, **created.context})
        await self.run_step(
            f"sending {template}",
            percent,
            EmailActivities.send_email,
            SendEmailInput(job_id=f"{workflow.info().workflow_id}-{template}", job=job),
            POLICIES["email"],
        )
