"""The `quotes` background job: cancels the draft and open quotes whose `expires_at` has
come, in real time (`kassa.services.billing.quotes.expire_due_quotes`; a quote on a test
clock lives in the clock's time, and the clock's advance expires it). One indexed read
when nothing is due."""

from __future__ import annotations

import logging
from typing import Final

from kassa.services.billing.quotes import expire_due_quotes
from kassa.workers.polling import PollingJob, Step

QUOTES_POLL_SECONDS: Final = 30.0
"""How often the job looks for quotes to expire: a quote's life is counted in days (30 by
default), so half a minute late is on time."""

QUOTES = PollingJob(
    steps=(Step(expire_due_quotes, "canceled %d expired quotes"),),
    poll_seconds=QUOTES_POLL_SECONDS,
    log=logging.getLogger("kassa.quotes"),
    failed="expiring quotes failed; will retry",
)
