"""The hosted payment page: one invoice (order container), its orders, the payer form, the
sandbox card form, and the status, success, fail and receipt pages (spec/payments.md §2,
spec/design.md §3). views.py holds the routes; invoice.py turns rows into what templates
show; forms.py checks the payer form."""
