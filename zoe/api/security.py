"""Password hashes and bearer tokens.

Passwords are hashed with scrypt (:func:`hashlib.scrypt`) and a random 16-byte
salt, with the parameters written into the stored string so that they can be
raised later without breaking older hashes::

    scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>

The defaults, ``n = 2**14, r = 8, p = 1`` with a 32-byte key, take 16 MiB and
about 50 ms per check. Tokens are 32 random bytes in URL-safe base64; only their
SHA-256 digest is stored (a token has 256 bits of entropy, so no slow hash is
needed, and the digest can be looked up directly).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
KEY_BYTES = 32
SALT_BYTES = 16
TOKEN_BYTES = 32
MIN_PASSWORD_LENGTH = 8


UNKNOWN_USER_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
"""A hash no password matches: checking against it for an unknown user name takes
as long as a real check, so the time of a failed login says nothing about whether
the name exists."""


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """The stored form of ``password``, with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ["scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)]
    )


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches the stored hash; False for none or a bad one.

    The comparison takes the same time wherever the two keys differ.
    """
    if not stored:
        return False
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(key)), key)


def new_password() -> str:
    """A random password of 16 URL-safe characters, to be printed once."""
    return secrets.token_urlsafe(12)


def new_token() -> str:
    """A fresh bearer token; give it to its owner once, store its digest."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The stored form of a token: the hexadecimal SHA-256 of its text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _scrypt(
    password: str, salt: bytes, n: int, r: int, p: int, size: int = KEY_BYTES
) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + 2**20,
        dklen=size,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
