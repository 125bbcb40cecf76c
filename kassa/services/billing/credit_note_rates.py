"""The tax rates a credit note's lines carry (`credit_notes`): those of the invoice lines
they credit, and those its custom lines name (`lines[][tax_rates]`), with the terms
`credit_note_amounts` computes their taxes from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kassa.errors import InvalidParameter
from kassa.invariants import ensure
from kassa.services.billing import tax_rates
from kassa.services.billing.credit_note_params import NoteLine
from kassa.services.billing.invoice_amounts import LINES_MAX, TaxTerms
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import TAX_RATES


async def tax_rates_for(
    ctx: Context, lines: Sequence[NoteLine], invoice: Mapping[str, Any]
) -> dict[str, ApiObject]:
    """The tax rates the note's lines carry: those of the invoice lines they credit (read in
    one statement; archived since or not, the invoice keeps them), and those custom lines
    name, each usable (it exists and is active, as for a new invoice item)."""
    credited = {line.invoice_line_item for line in lines if line.type == "invoice_line_item"}
    named = sorted(
        {
            str(tax["tax_rate_details"]["tax_rate"])
            for invoice_line in invoice["lines"]["data"][:LINES_MAX]
            if invoice_line["id"] in credited
            for tax in invoice_line["taxes"]
        }
    )
    rates = await ctx.tx.objects_by_ids(TAX_RATES, ctx.account_id, named) if named else {}
    ensure(set(rates) == set(named), "the tax rates of an invoice's lines are stored")
    for index, line in enumerate(lines):
        if line.type != "custom_line_item":
            continue
        param = f"lines[{index}][tax_rates]"
        if len(set(line.rates)) != len(line.rates):
            raise InvalidParameter(f"{param} names a tax rate twice.", param=param)
        for rate_id in line.rates:
            known = rates.get(rate_id)
            if known is None or not known["active"]:
                rates[rate_id] = await tax_rates.load_usable_tax_rate(ctx, rate_id, param=param)
    return rates


def terms(rate: Mapping[str, Any]) -> TaxTerms:
    return TaxTerms(str(rate["id"]), tax_rates.percentage_of(rate), bool(rate["inclusive"]))
