"""The `refund_failures` background job: fails the refunds whose failure has come in real
time (`kassa.services.refund_failures`; a test clock's advance does its own). A test waits
for a failure a few seconds after the refund, so the job looks often: one indexed read when
nothing is due."""

from __future__ import annotations

import logging

from kassa.services.refund_failures import fail_due_refunds
from kassa.workers.polling import PollingJob, Step

REFUND_FAILURES_POLL_SECONDS = 0.5
"""How often the job looks for refund failures that have come."""

REFUND_FAILURES = PollingJob(
    steps=(Step(fail_due_refunds, "failed %d refunds"),),
    poll_seconds=REFUND_FAILURES_POLL_SECONDS,
    log=logging.getLogger("kassa.refund_failures"),
    failed="failing refunds failed; will retry",
)
