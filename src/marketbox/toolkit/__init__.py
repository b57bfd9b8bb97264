"""Helpers every layer may use: display formatting (`formatting`) and the message catalogue
(`i18n`). Nothing here imports a domain package or a web framework (the architecture test
checks), so domain code, pages and the CLI can all depend on it."""
