"""Documents reached by a link rather than an API key: the hosted invoice page, the invoice
and credit note PDFs, the Checkout page. Each such document keeps a random secret under its
private part, and its links carry it."""

from __future__ import annotations

from kassa.services.intent_helpers import secret_matches
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.store import Transaction
from kassa.store.tables import PRIVATE, ObjectTable


async def find_by_link(
    tx: Transaction, table: ObjectTable, object_id: str, secret: str
) -> tuple[ApiObject, str] | None:
    """The stored document whose links carry `secret` (its private `secret`, compared in
    constant time), and the account it belongs to; None for an unknown or deleted id, a
    document without a secret, or another secret."""
    if not secret or not could_be_object_id(object_id):
        return None
    account_id = await tx.find_object_owner(table, object_id)
    found = None if account_id is None else await tx.get_object(table, account_id, object_id)
    if found is None or found[1]:
        return None
    stored = (found[0].get(PRIVATE) or {}).get("secret")
    if not isinstance(stored, str) or not secret_matches(secret, stored):
        return None
    return found[0], str(account_id)
