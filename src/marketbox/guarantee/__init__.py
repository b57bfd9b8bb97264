"""Merchant-side payment confirmation with guarantee instruments (api.md §11): validate,
send-code, pay, with sandbox payers whose answers are documented (docs/guarantee.md)."""
