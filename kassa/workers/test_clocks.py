"""The `test_clocks` background job: advances the test clocks that have an advance under way
(`kassa.services.clock_advance`). A test waits on the clock, so it looks often, and goes on
at once while work is due."""

from __future__ import annotations

import logging

from kassa.services.clock_advance import advance_clocks
from kassa.services.wakeups import CLOCKS_TO_ADVANCE
from kassa.workers.polling import PollingJob, Step

CLOCK_POLL_SECONDS = 0.2
"""How often the job looks for clocks to advance (one indexed read when there are none)."""

TEST_CLOCKS = PollingJob(
    steps=(Step(advance_clocks, "test clocks: %d pieces of work done"),),
    poll_seconds=CLOCK_POLL_SECONDS,
    log=logging.getLogger("kassa.test_clocks"),
    failed="advancing test clocks failed; will retry",
    again_after_work=True,
    wakeup=CLOCKS_TO_ADVANCE,
)
