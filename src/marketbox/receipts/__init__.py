"""54-FZ fiscal receipt records (docs/receipts.md): the «кассовый чек» the platform would send to
a fiscal registrar for each payment, shipment, refund and correction, written in the same
transaction as the event."""
