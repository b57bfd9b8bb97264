"""The one exception a command raises to stop with a message for the user."""

from __future__ import annotations


class CommandError(Exception):
    """A failure with a one-line explanation for the user: what went wrong, what to do next."""
