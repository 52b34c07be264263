"""Password hashes and tokens (no database)."""

from __future__ import annotations

import hashlib

import pytest

from zoe.api.security import (
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from zoe.api.server import parse_listen
from zoe.core.errors import InvalidInput


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("open sesame", n=2**10)

    assert verify_password("open sesame", stored)
    assert not verify_password("open sesame!", stored)
    assert not verify_password("", stored)


def test_the_stored_form_names_scrypt_and_its_parameters() -> None:
    stored = hash_password("open sesame", n=2**10)

    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    # a 16-byte salt and a 32-byte key in base64: 24 and 44 characters
    assert (len(salt), len(key)) == (24, 44)


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    assert hash_password("same", n=2**10) != hash_password("same", n=2**10)


def test_a_missing_or_malformed_hash_never_verifies() -> None:
    for stored in (None, "", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA==$AA=="):
        assert not verify_password("anything", stored)


def test_a_token_is_stored_as_its_sha256() -> None:
    token = new_token()

    assert len(token) == 43  # 32 bytes in URL-safe base64 without padding
    assert token_digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert new_token() != token


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)


@pytest.mark.parametrize("bad", ["8080", "localhost", "host:http", ":80", "h:70000"])
def test_a_bad_listen_address_says_what_to_give(bad: str) -> None:
    with pytest.raises(InvalidInput, match="give HOST:PORT"):
        parse_listen(bad)
