"""The `reporting` background job: computes the report runs still pending, oldest first
(`kassa.services.reporting`). A test waits for its run a moment after creating it, so the
job looks often: one indexed read when nothing is pending."""

from __future__ import annotations

import logging

from kassa.services.reporting import run_pending_reports
from kassa.workers.polling import PollingJob, Step

REPORTING_POLL_SECONDS = 0.5
"""How often the job looks for pending report runs."""

REPORTING = PollingJob(
    steps=(Step(run_pending_reports, "finished %d report runs"),),
    poll_seconds=REPORTING_POLL_SECONDS,
    log=logging.getLogger("kassa.reporting"),
    failed="running reports failed; will retry",
)
