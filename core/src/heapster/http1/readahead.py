"""OpenSSL's read-ahead for a client's TLS connections: a socket's bytes read in large steps, not record by record.

Python's ``ssl`` sockets read each TLS record (at most 16 KiB of data) from the socket in two system calls, its
5-byte header and then the rest: 16 ``read`` calls for a kubelet's 118 KB summary. With read-ahead OpenSSL reads
as much as its read buffer holds (:data:`READ_AHEAD_BUFFER`) and takes the records out of it; TLS itself is
unchanged (the same records decrypted, the same certificate checks). Python has no switch for it, so
:func:`read_ahead` sets it on the context's ``SSL_CTX`` through ``ctypes``, with OpenSSL's functions as Python's
``_ssl`` module has them linked. Only where that is known to be safe: CPython, whose ``SSLContext`` object holds
its ``SSL_CTX`` pointer first after the object header, checked against the context's options before anything
is set, and a context with ``SSL_MODE_RELEASE_BUFFERS`` (which CPython sets): a connection's read buffer is then
freed whenever it is empty, so a kept-alive idle connection holds none, larger or not.
"""

from __future__ import annotations

import ctypes
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

READ_AHEAD_BUFFER = 128 * 1024
"""Bytes OpenSSL reads from a socket at most at once: a 30-pod node's summary (118 KB, 8 records) in one or two
reads. OpenSSL moves what is left in the buffer to its front before each record (to align the record's data):
~470 KB moved per summary at this size, which callgrind counts as 0.3 M instructions a node (``rep movsb`` byte by
byte), but thread CPU time per GET was still lowest at this size (bench/README.md, session 11, helper cpu7)."""

_SSL_CTRL_MODE = 33
_SSL_CTRL_GET_READ_AHEAD = 40
_SSL_CTRL_SET_READ_AHEAD = 41
_SSL_MODE_RELEASE_BUFFERS = 0x10
_CHECKED_PYTHONS = ((3, 11), (3, 13))
"""CPython versions whose ``PySSLContext`` starts with the ``SSL_CTX`` pointer (checked in their ``_ssl.c``)."""

_functions: Any = None


def _openssl() -> Any:
    """``(SSL_CTX_ctrl, SSL_CTX_get_options, SSL_CTX_set_default_read_buffer_len)`` as ``_ssl`` links them, or
    None."""
    global _functions
    if _functions is None:
        _functions = ()
        try:
            import _ssl

            library = ctypes.CDLL(getattr(_ssl, "__file__", None))  # its own libssl; None: built into Python
            ctrl = library.SSL_CTX_ctrl
            get_options = library.SSL_CTX_get_options
            set_buffer = library.SSL_CTX_set_default_read_buffer_len
        except (ImportError, OSError, AttributeError):
            return None
        ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        ctrl.restype = ctypes.c_long
        get_options.argtypes = [ctypes.c_void_p]
        get_options.restype = ctypes.c_uint64
        set_buffer.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        set_buffer.restype = None
        _functions = (ctrl, get_options, set_buffer)
    return _functions or None


def _context_pointer(context: ssl.SSLContext) -> tuple[Any, int] | None:
    """OpenSSL's functions and the ``SSL_CTX`` of ``context``, or None where they cannot be known safely."""
    import ssl  # a context exists: OpenSSL is loaded already (the eventer imports ``ssl`` lazily)

    if sys.implementation.name != "cpython" or not _CHECKED_PYTHONS[0] <= sys.version_info[:2] <= _CHECKED_PYTHONS[1]:
        return None
    functions = _openssl()
    if functions is None or not isinstance(context, ssl.SSLContext):
        return None
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer or functions[1](pointer) != int(context.options):  # not the SSL_CTX: leave it
        return None
    return functions, pointer


def read_ahead(context: ssl.SSLContext, buffer: int = READ_AHEAD_BUFFER) -> bool:
    """Let OpenSSL read the sockets of connections made from ``context`` from now on ahead, up to ``buffer``
    bytes a read; whether it was set (if not, the context is left as it was)."""
    found = _context_pointer(context)
    if found is None:
        return False
    (ctrl, _, set_buffer), pointer = found
    if not ctrl(pointer, _SSL_CTRL_MODE, 0, None) & _SSL_MODE_RELEASE_BUFFERS:
        return False  # a larger read buffer would stay with every connection
    set_buffer(pointer, buffer)
    ctrl(pointer, _SSL_CTRL_SET_READ_AHEAD, 1, None)
    return reads_ahead(context)


def reads_ahead(context: ssl.SSLContext) -> bool:
    """Whether OpenSSL reads the sockets of connections made from ``context`` ahead (False where it cannot be
    told)."""
    found = _context_pointer(context)
    return found is not None and bool(found[0][0](found[1], _SSL_CTRL_GET_READ_AHEAD, 0, None))
