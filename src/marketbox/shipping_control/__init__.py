"""Shipping control on the payment page (spec notifications.md §7, docs/miniapps.md)."""
