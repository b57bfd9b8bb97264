"""Refunds (spec/api.md §9): orders of subtype `refund` that give a paid order's money back."""
