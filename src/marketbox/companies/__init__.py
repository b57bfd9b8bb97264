"""Company lookup by INN (api.md §14 `counterparty-detail`) from a configured source."""
