"""The merchant office (docs/office.md): users, sessions and the pages at /office."""
