"""marketbox: a self-hostable, Invoicebox-compatible marketplace and payment platform."""

__version__ = "0.1.0"
