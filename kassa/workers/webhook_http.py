"""The HTTP side of webhook delivery: one aiohttp session that POSTs signed events.

Its own module so that aiohttp is imported only when a process has a delivery to make
(`webhooks.DeliveryWorker` loads it then): importing aiohttp, with the TLS context it builds,
took about a tenth of a server's start-up CPU, and most processes (a CLI command, a server
with no webhook endpoint) never send one.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered: a status and the start of its body, or why there was none."""

    status: int | None
    excerpt: str | None
    error: str | None


class WebhookSender:
    """POSTs deliveries over one pooled session; `close` when the worker stops. Each POST
    gives its own timeout (an injected `timeout` fault waits less than the setting)."""

    def __init__(self, connections_max: int) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections_max, limit_per_host=0)
        )

    async def post(
        self,
        url: str,
        payload: bytes | str,
        headers: dict[str, str],
        timeout_seconds: float,
        excerpt_chars: int,
    ) -> Answer:
        """The endpoint's answer (its body's first `excerpt_chars`), or the connection's
        failure as an error text as long at most. A timeout is raised (`TimeoutError`): the
        caller words it with the wait it allowed."""
        try:
            # A redirect is not followed: Stripe treats it (any 3xx) as a failed attempt, and
            # following a 302 would turn the signed POST into a GET somewhere else.
            async with self.session.post(
                url,
                data=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                allow_redirects=False,
            ) as response:
                body = await response.content.read(excerpt_chars * 4)
                excerpt = body.decode("utf-8", "replace")[:excerpt_chars]
                return Answer(response.status, excerpt, None)
        except TimeoutError:
            raise  # an OSError too, but told apart by the caller
        except (aiohttp.ClientError, OSError) as failure:
            return Answer(None, None, f"{type(failure).__name__}: {failure}"[:excerpt_chars])

    async def close(self) -> None:
        await self.session.close()
