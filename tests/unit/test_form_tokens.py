"""Form tokens masked per render (toolkit/form_tokens.py): a compressed page must not carry the
same secret bytes twice (BREACH), and every masked form of a token still submits it."""

from __future__ import annotations

import pytest

from marketbox.toolkit import form_tokens

TOKEN = "q3Zk1VbI7bYpSx0oV1mJ9oUq2y8rE4tA"  # what secrets.token_urlsafe(24) makes


def test_every_mask_is_new_and_carries_the_token() -> None:
    masks = {form_tokens.mask(TOKEN) for _ in range(50)}

    assert len(masks) == 50
    for masked in masks:
        assert TOKEN not in masked
        assert form_tokens.unmask(masked) == TOKEN
        assert form_tokens.matches(TOKEN, masked)


def test_no_two_masks_share_the_tokens_bytes_in_place() -> None:
    first, second = form_tokens.mask(TOKEN), form_tokens.mask(TOKEN)
    same = sum(a == b for a, b in zip(first, second, strict=True))

    assert same < len(first) // 4  # chance agreement (1 in 64 per character), not the token


def test_the_raw_token_still_submits_and_nothing_else_does() -> None:
    other = "A" * len(TOKEN)

    assert form_tokens.matches(TOKEN, TOKEN)  # a page rendered before masking
    assert not form_tokens.matches(TOKEN, form_tokens.mask(other))
    assert not form_tokens.matches(TOKEN, form_tokens.mask(TOKEN)[:-2])
    assert not form_tokens.matches(None, form_tokens.mask(TOKEN))
    assert not form_tokens.matches("", "")


@pytest.mark.parametrize(
    "submitted", [None, "", 17, ["x"], "!!!", "a", "\udcff" * 8, "////", "AAAA" * 30, "=" * 8]
)
def test_garbage_is_refused_without_an_error(submitted: object) -> None:
    assert not form_tokens.matches(TOKEN, submitted)
