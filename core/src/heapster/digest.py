"""A 64-bit digest of short strings (event keys), without loading OpenSSL.

``hashlib`` loads its OpenSSL backend (libcrypto, ~3.8 MiB resident) as it is imported, even though
its ``blake2b`` is CPython's own ``_blake2``; the eventer needs nothing else from it. The digest is
the same either way.
"""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # a CPython built without it: hashlib has one of its own
    from hashlib import blake2b


def digest64(data: bytes) -> int:
    """BLAKE2b of ``data`` with an 8-byte digest, as an unsigned big-endian integer."""
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")
