"""What the services need from the installation before serving: the payment settings and
the card fingerprint key (generated once, kept in the database)."""

from __future__ import annotations

import base64
import os

from kassa.config import Settings, base_url, invoice_reminder_days, upcoming_renewal_days
from kassa.money import DEFAULT_PRICING_TABLE, parse_pricing_table
from kassa.services.context import PaymentConfig
from kassa.store import Store

FINGERPRINT_SECRET_NAME = "card_fingerprint_key"
FINGERPRINT_KEY_BYTES = 32


async def load_payment_config(store: Store, settings: Settings) -> PaymentConfig:
    candidate = base64.b64encode(os.urandom(FINGERPRINT_KEY_BYTES)).decode()
    async with store.write() as tx:
        # Every process sharing the database ends up with the first key stored.
        key = await tx.instance_secret(FINGERPRINT_SECRET_NAME, candidate)
    return PaymentConfig(
        card_fingerprint_key=base64.b64decode(key),
        pricing=parse_pricing_table(settings.card_pricing)
        if settings.card_pricing
        else DEFAULT_PRICING_TABLE,
        settlement_delay_days=settings.settlement_delay_days,
        account_country=settings.account_country,
        public_url=base_url(settings),
        reminder_offsets_days=invoice_reminder_days(settings),
        subscription_final_action=settings.subscription_final_action,
        subscription_final_invoice=settings.subscription_final_invoice,
        upcoming_renewal_days=upcoming_renewal_days(settings),
    )
