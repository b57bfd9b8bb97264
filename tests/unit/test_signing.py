"""Body signatures against the verified vector of notifications.md §4, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from marketbox import jsonutil
from marketbox.security import signing

VECTOR = (Path(__file__).parent / "data" / "notification_vector.json").read_bytes()
KEY = "test"
SHA256_OF_BODY = "2ad731ca4883bf8dedc2290e4999115b9f0e754a48e6a91f27800bbc0027812b"
EXPECTED = {
    "sha1": "4731e2fb446ba519fd9d8798a1a0873f073189e8",
    "sha256": "71ed75df37273e45ccb02797711249ececd9c709aa02ffe6210398dd91635f55",
    "md5": "65a5263923c340d3bcbeb5e5f6bed938",
}


def test_vector_is_transcribed_exactly() -> None:
    assert len(VECTOR) == 1028
    assert not VECTOR.endswith(b"\n")
    assert hashlib.sha256(VECTOR).hexdigest() == SHA256_OF_BODY
    assert hashlib.sha1(VECTOR).hexdigest() == "32cf562bcc5d72510baaabbcab3925f3536c4f08"
    assert b"https:\\/\\/pay.invoicebox.ru" in VECTOR
    assert "Проездной билет".encode() in VECTOR


@pytest.mark.parametrize(("algorithm", "signature"), EXPECTED.items())
def test_hmac_of_the_vector(algorithm: str, signature: str) -> None:
    assert signing.sign(VECTOR, KEY, algorithm) == signature
    assert signing.verify(VECTOR, signature, KEY, algorithm)


def test_default_algorithm_is_hmac_sha1() -> None:
    assert signing.DEFAULT_ALGORITHM == "sha1"
    assert signing.sign(VECTOR, KEY) == EXPECTED["sha1"]


def test_verify_accepts_uppercase_and_surrounding_space() -> None:
    assert signing.verify(VECTOR, f" {EXPECTED['sha1'].upper()}\n", KEY)


@pytest.mark.parametrize(
    "signature",
    [None, "", EXPECTED["sha256"], EXPECTED["sha1"][:-1], EXPECTED["sha1"][:-1] + "0"],
)
def test_verify_refuses_wrong_signatures(signature: str | None) -> None:
    assert not signing.verify(VECTOR, signature, KEY)


def test_verify_refuses_another_key() -> None:
    assert not signing.verify(VECTOR, EXPECTED["sha1"], "test2")


def test_negative_unescaped_slashes() -> None:
    reserialized = json.dumps(json.loads(VECTOR), ensure_ascii=False, separators=(",", ":"))
    body = reserialized.encode()

    assert len(body) == 1024
    assert signing.sign(body, KEY) == "bdd1f145865690bcb7f94aea3007cbe5b8f9edfc"
    assert not signing.verify(body, EXPECTED["sha1"], KEY)


def test_negative_python_json_dumps_default() -> None:
    body = json.dumps(json.loads(VECTOR)).encode()

    assert len(body) == 1205
    assert signing.sign(body, KEY) == "c8536b26510be87dfc22f3e610fdd1894159d4cd"
    assert not signing.verify(body, EXPECTED["sha1"], KEY)


def test_dumps_php_reproduces_the_platforms_bytes() -> None:
    assert jsonutil.dumps_php(jsonutil.loads(VECTOR)) == VECTOR


def test_unknown_algorithm_is_an_error() -> None:
    with pytest.raises(KeyError):
        signing.sign(VECTOR, KEY, "crc32")


def test_tokens_are_hashed_and_random() -> None:
    token = signing.new_token()

    assert len(token) == 32
    assert token != signing.new_token()
    assert signing.hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(signing.new_signing_key()) == 32
