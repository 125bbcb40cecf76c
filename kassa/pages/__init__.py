"""Pages a business's customers see: the hosted invoice page, the invoice PDF
and the credit note PDF.

An edge like `kassa.http` and `kassa.dashboard`: it imports none of them, and reaches
invoices and credit notes through the backends (`InvoicePageBackend`,
`CreditNotePageBackend`) the composition root (`kassa.runtime`) gives it.
"""
