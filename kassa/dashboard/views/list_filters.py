"""The status-and-customer filter form the invoice and subscription lists share: what was
asked for (for the form to show again), the URL query it makes, and a message for each part
that was ignored (a malformed part is dropped rather than refused, so the page still lists
what the rest of the filters select)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from kassa.services.listing import could_be_object_id


@dataclass(frozen=True)
class StatusCustomerFilters:
    status: str = ""
    customer: str = ""
    starting_after: str = ""
    problems: list[str] = field(default_factory=list)

    def query(self, **changes: str) -> dict[str, str]:
        """The filters as URL query parameters, with `changes` applied; empty ones left out."""
        values = {"status": self.status, "customer": self.customer, **changes}
        return {name: value for name, value in values.items() if value}


def parse_status_customer_filters(
    status: str,
    customer: str,
    starting_after: str,
    *,
    statuses: Collection[str],
    unknown_status: str,
) -> StatusCustomerFilters:
    """Read the form; `unknown_status` is what the page says when it ignores a status."""
    problems: list[str] = []
    if status and status not in statuses:
        problems.append(unknown_status)
        status = ""
    if customer and not could_be_object_id(customer):
        problems.append("That customer id is not valid; showing every customer.")
        customer = ""
    return StatusCustomerFilters(
        status=status,
        customer=customer,
        starting_after=starting_after if could_be_object_id(starting_after) else "",
        problems=problems,
    )
