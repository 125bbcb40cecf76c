"""Pages a business's customers see: the hosted invoice page and the invoice PDF.

An edge like `kassa.http` and `kassa.dashboard`: it imports none of them, and reaches the
invoices through the `InvoicePageBackend` the composition root (`kassa.runtime`) gives it.
"""
