"""Loads the gearlet shared library through cffi in ABI mode.

Why ABI mode (``ffi.cdef`` + ``ffi.dlopen``) and not a compiled extension: the package then needs
no C compiler and no Python headers at install time, only the Rust toolchain that builds
``libgearlet.so``; and one wheel serves every CPython 3 version.

The GIL: cffi releases the GIL around every call into a C function, in ABI mode as in API mode.
So a thread blocked in ``gearlet_worker_grab`` or ``gearlet_client_wait`` lets every other Python
thread run; the package relies on this for "blocking calls release the GIL" and
``tests/test_threads.py`` checks it.

Where the library comes from, in order:
  1. the copy installed inside this package (``libgearlet.so`` + ``gearlet_ffi.h`` next to this
     file), put there by ``setup.py`` when the package is built;
  2. otherwise ``$GEARLET_LIB`` (a path to ``libgearlet.so``), for working on the bindings
     without reinstalling; the flat header is then ``$GEARLET_HEADER``, or the
     ``include/gearlet_ffi.h`` next to the library's ``lib/`` directory (``scripts/build-c.sh``'s
     layout), or the repository's ``include/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cffi  # type: ignore[import-untyped, unused-ignore]

_HERE = Path(__file__).resolve().parent
_LIB_NAME = "libgearlet.so"
_HEADER_NAME = "gearlet_ffi.h"


def _locate() -> tuple[Path, Path]:
    own_lib, own_header = _HERE / _LIB_NAME, _HERE / _HEADER_NAME
    if own_lib.exists() and own_header.exists():
        return own_lib, own_header
    env_lib = os.environ.get("GEARLET_LIB")
    if not env_lib:
        raise ImportError(
            f"gearlet: no {_LIB_NAME} in {_HERE} (the package was not built with the library) "
            "and GEARLET_LIB is not set; install with `python3 -m pip install ./bindings/python` "
            "or point GEARLET_LIB at target/c/lib/libgearlet.so from scripts/build-c.sh"
        )
    lib = Path(env_lib).resolve()
    candidates = [os.environ.get("GEARLET_HEADER", "")]
    candidates += [str(lib.parent.parent / "include" / _HEADER_NAME)]
    candidates += [str(p / "include" / _HEADER_NAME) for p in _HERE.parents]
    for c in candidates:
        if c and Path(c).exists():
            return lib, Path(c)
    raise ImportError(f"gearlet: GEARLET_LIB={env_lib} but no {_HEADER_NAME} found; set GEARLET_HEADER")


LIB_PATH, HEADER_PATH = _locate()

ffi = cffi.FFI()
# The flat header has no preprocessor lines, so cffi reads it as is (comments are stripped).
ffi.cdef(HEADER_PATH.read_text())
lib: Any = ffi.dlopen(str(LIB_PATH))

VERSION: str = ffi.string(lib.gearlet_version()).decode()
