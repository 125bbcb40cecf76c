"""Billing: the catalog (products, prices, coupons, promotion codes, tax rates) and, as they
land, invoice items, invoices and subscriptions."""
