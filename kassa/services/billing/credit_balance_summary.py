"""A customer's billing credit balance (`GET /v1/billing/credit_balance_summary`, object
`billing.credit_balance_summary`): per currency, what the customer's grants give now (their
customer's clock's now), worked out from the grants on each read, never stored.

`filter[type]` is required: `credit_grant` (with `filter[credit_grant]`: that grant alone,
which must be the customer's) or `applicability_scope` (with `filter[applicability_scope]`:
`price_type=metered` counts the grants scoped by price type, `prices[]` the grants whose
`prices` scope names one of those prices: Kassa's reading, as Stripe's reference does not
say how scopes match).

The two balances, as Stripe's billing credits guide defines them
(docs.stripe.com/billing/subscriptions/usage-based/billing-credits, "Credit balance summaries
and transactions"): the ledger balance "reflects the billing credit balance after recording
all relevant account ledger transactions"; the available balance is "available for the
customer to use ... equal to the ledger balance less any expired credits or unrecorded
transactions". In Kassa the ledger balance is what the grants' recorded credit balance
transactions leave (`credit_grants.balance_of`), and the available balance what they give
now (`credit_grants.available_at`): less a grant past its `expires_at` whose `credits_expired`
debit is not written yet (the job or the next write records it), and less a grant not yet
effective (the guide's "Pending" state: its `credits_granted` is recorded at creation, dated
`effective_at`, but it "isn't yet available for use"). A voided grant leaves nothing in
either (its `credits_voided` debit is written with the void).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.invariants import ensure
from kassa.params import Enum, ListOf, NotSupported, String, Struct
from kassa.services.billing import credit_grants
from kassa.services.billing.credit_balance_transactions import monetary
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.resource import ApiObject, Operation, ParamsParser, Resource, RouteIds
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BILLING_CREDIT_GRANTS

GRANTS_SUMMED_MAX: Final = 1_000
"""The customer's grants one summary reads (the newest): a bound on the read and the sum."""
ID_CHARS_MAX: Final = 255

PARAMS: Final = {
    "customer": String(max_chars=ID_CHARS_MAX),
    "customer_account": NotSupported(reason="Kassa grants credits to customers (`customer`)."),
    "filter": Struct(
        {
            "type": Enum(values=("applicability_scope", "credit_grant")),
            "credit_grant": String(max_chars=ID_CHARS_MAX),
            "applicability_scope": Struct(
                {
                    "price_type": Enum(values=("metered",)),
                    "prices": ListOf(
                        item=Struct({"id": String(max_chars=ID_CHARS_MAX)}, required=("id",)),
                        max_items=credit_grants.SCOPE_PRICES_MAX,
                    ),
                }
            ),
        },
        required=("type",),
    ),
}


@dataclass(frozen=True)
class SummaryRequest:
    customer: str
    filter: Mapping[str, Any]


def _parse(_ids: RouteIds, params: dict[str, Any]) -> SummaryRequest:
    chosen = params["filter"]
    kind = chosen["type"]
    if kind not in chosen:
        raise InvalidParameter(f"Missing required param: filter[{kind}].", param=f"filter[{kind}]")
    return SummaryRequest(customer=params["customer"], filter=chosen)


def _matches(grant: Mapping[str, Any], chosen: Mapping[str, Any]) -> bool:
    if chosen["type"] == "credit_grant":
        return bool(grant["id"] == chosen["credit_grant"])
    wanted = chosen["applicability_scope"]
    scope = grant["applicability_config"]["scope"]
    if "price_type" in wanted:
        return bool(scope.get("price_type") == wanted["price_type"])
    prices = {str(p["id"]) for p in wanted.get("prices") or []}
    return any(str(p["id"]) in prices for p in scope.get("prices") or [])


async def retrieve_summary(ctx: Context, request: SummaryRequest) -> ApiObject:
    customer = await load_customer_named(ctx, request.customer, param="customer")
    ctx = await ctx.governed_by(customer)
    if request.filter["type"] == "credit_grant":
        await _check_customer_grant(ctx, str(request.filter["credit_grant"]), request.customer)
    page = await ctx.tx.list_objects(
        BILLING_CREDIT_GRANTS,
        ctx.account_id,
        ObjectListQuery(limit=GRANTS_SUMMED_MAX, equals={"customer": customer["id"]}),
    )
    now = ctx.now()
    totals: dict[str, tuple[int, int]] = {}
    for grant in page.objects:
        if _matches(grant, request.filter):
            currency = credit_grants.currency_of(grant)
            available, ledger = totals.get(currency, (0, 0))
            totals[currency] = (
                available + credit_grants.available_at(grant, now),
                ledger + credit_grants.balance_of(grant),
            )
    ensure(
        all(0 <= available <= ledger for available, ledger in totals.values()),
        "what is available is part of what the ledger holds",
    )
    return {
        "object": "billing.credit_balance_summary",
        "balances": [
            {
                "available_balance": monetary(currency, available),
                "ledger_balance": monetary(currency, ledger),
            }
            for currency, (available, ledger) in sorted(totals.items())
        ],
        "customer": customer["id"],
        "customer_account": None,
        "livemode": ctx.livemode,
    }


async def _check_customer_grant(ctx: Context, grant_id: str, customer: str) -> None:
    grant = await credit_grants.load_grant(ctx, grant_id, param="filter[credit_grant]")
    if grant["customer"] != customer:
        raise InvalidParameter(
            f"The credit grant {grant_id} is not the customer's.", param="filter[credit_grant]"
        )


RESOURCE = Resource(
    object_name="billing.credit_balance_summary",
    id_prefix="credit_balance_summary",
    collection="billing/credit_balance_summary",
    table=None,
    retrieve=Operation(
        ParamsParser(PARAMS, _parse, ("customer", "filter")), retrieve_summary, writes=False
    ),
    singleton=True,
    expandable={"customer": "customer"},
)
