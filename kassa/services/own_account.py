"""`GET /v1/account`: the caller's own account, in Stripe's shape (`account_objects` builds
it, from the balance settings). Scripts use it to learn their account id (`kassa trigger
payout.failed` does).
"""

from __future__ import annotations

from kassa.params import parse_params
from kassa.services import account_objects, balance_settings
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Form, Operation, Resource, RouteIds


def parse_retrieve(ids: RouteIds, form: Form) -> None:
    """The account takes no parameters and no id: a key belongs to one account."""
    parse_params({}, form)


async def retrieve_own_account(ctx: Context, _request: None = None) -> ApiObject:
    settings = await balance_settings.retrieve_balance_settings(ctx)
    return await account_objects.account_object(ctx, settings)


RESOURCE = Resource(
    routes_only=True,
    object_name="account",
    id_prefix="acct",
    collection="account",
    table=None,
    # Listing the bank accounts adds the default test one the first time: it writes.
    retrieve=Operation(parse_retrieve, retrieve_own_account, writes=True),
    singleton=True,
    # Announced when its settings change (`balance_settings` updates the payout ones).
    event_types=("account.updated",),
)
