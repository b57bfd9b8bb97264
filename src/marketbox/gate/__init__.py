"""The WebSocket JSON-RPC gate (notifications.md §8, docs/gate.md): live order events for
shops without a public endpoint, and the `marketbox listen` client's server side."""
