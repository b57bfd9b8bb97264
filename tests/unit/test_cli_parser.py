"""The `marketbox` command line: every command and option explains itself (`--help`)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from marketbox.cli.main import build_parser
from marketbox.cli.serving import local_url


def all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_parsers(sub)


def helps(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str | None]]:
    """(what, help) for every option, argument and sub-command of `parser`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield f"{parser.prog} {action.dest}", action.help
            for choice in action._choices_actions:
                yield f"{parser.prog} {choice.dest}", choice.help
        else:
            yield f"{parser.prog} {'/'.join(action.option_strings) or action.dest}", action.help


def test_every_command_and_option_has_a_help_text() -> None:
    parser = build_parser()
    texts = [entry for sub in all_parsers(parser) for entry in helps(sub)]

    assert len(texts) > 20  # the walk reached the sub-commands
    assert [what for what, text in texts if not (text or "").strip()] == []


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8123"),
        ("127.0.0.1", "http://127.0.0.1:8123"),
        ("", "http://127.0.0.1:8123"),
        ("::", "http://[::1]:8123"),
        ("::1", "http://[::1]:8123"),
        ("shop.example", "http://shop.example:8123"),
    ],
)
def test_the_public_url_of_a_served_address(host: str, url: str) -> None:
    assert local_url(host, 8123) == url
