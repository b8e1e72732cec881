"""The 64-bit digest is hashlib's BLAKE2b (checkpoints written before keep their keys), without OpenSSL."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from heapster.digest import digest64


def test_the_digest_is_blake2b_with_eight_bytes() -> None:
    for data in (b"", b"uid-1/42", "ünïcode/7".encode(), bytes(range(256))):
        assert digest64(data) == int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def test_it_does_not_load_hashlib_and_its_openssl_backend() -> None:
    probe = ("import sys; from heapster.digest import digest64; digest64(b'x'); "
             "print(sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
