"""Shipments (spec/api.md §10): what a paid order delivered; a shipment captures a hold."""
