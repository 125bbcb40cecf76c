"""Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>` over
`"<t>.<body>"`, keyed by the endpoint's `whsec_` secret, as `stripe.Webhook.construct_event`
verifies it."""

from __future__ import annotations

import hashlib
import hmac


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_matches(payload: bytes, secret: str, header: str) -> bool:
    """Constant-time check of a `Stripe-Signature` header (for Kassa's own tools)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = fields.get("t", "")
    if not timestamp.isdigit():
        return False
    expected = signature_header(payload, secret, int(timestamp)).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
