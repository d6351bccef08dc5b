"""Build step of the gearlet Python package: compile the Rust library and ship it inside.

``pip install ./bindings/python`` runs this in the checkout (pip builds local directories in
place), so the Rust crate is two directories up. The library is built by the repository's own
``scripts/build-c.sh`` (the one documented way to build the C ABI: release, ``capi`` feature,
SONAME), into the build's temporary directory; then ``libgearlet.so`` and the flat header
``gearlet_ffi.h`` are copied into the package, which loads that copy (see ``gearlet/_ffi.py``).

Knobs (environment):
  GEARLET_PREBUILT_LIB  a libgearlet.so to ship instead of building (its header is taken from the
                        checkout's include/, so it must be built from the same checkout);
  CARGO_TARGET_DIR      where cargo builds (default: the checkout's target/, so rebuilds are
                        incremental); setuptools' build/ and .egg-info go to its python-build/;
  CARGO_BUILD_JOBS      cargo's parallelism (build-c.sh defaults to 1 on the shared machine);
  GEARLET_NO_STRIP      keep the library's debug info (stripped by default).

The wheel holds a native library but no CPython extension, so it is tagged
``py3-none-<platform>``: one wheel per platform serves every Python 3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - wheel is in build-system.requires
    bdist_wheel = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


class BuildWithLibrary(build_py):
    """build_py that also puts libgearlet.so and gearlet_ffi.h into the built package."""

    def run(self) -> None:
        super().run()
        lib, header = self._library()
        dest = Path(self.build_lib) / "gearlet"
        dest.mkdir(parents=True, exist_ok=True)
        # Copy the file itself (build-c.sh makes libgearlet.so a symlink chain).
        shutil.copyfile(lib.resolve(), dest / "libgearlet.so")
        os.chmod(dest / "libgearlet.so", 0o755)
        # The release profile keeps debug info (11 MB); the wheel does not need it.
        if not os.environ.get("GEARLET_NO_STRIP") and shutil.which("strip"):
            subprocess.run(["strip", "--strip-debug", str(dest / "libgearlet.so")], check=True)
        shutil.copyfile(header, dest / "gearlet_ffi.h")

    def _library(self) -> tuple[Path, Path]:
        header = REPO / "include" / "gearlet_ffi.h"
        prebuilt = os.environ.get("GEARLET_PREBUILT_LIB")
        if prebuilt:
            return Path(prebuilt), header
        script = REPO / "scripts" / "build-c.sh"
        if not script.exists():
            raise SystemExit(
                f"gearlet: {script} not found. The Python package is built from a gearlet "
                "checkout (pip install ./bindings/python), or set GEARLET_PREBUILT_LIB."
            )
        if shutil.which("cargo") is None:
            raise SystemExit("gearlet: cargo not found on PATH; install the Rust toolchain (rustup)")
        build_temp = Path(self.get_finalized_command("build").build_temp).resolve()
        prefix = build_temp / "gearlet-c"
        env = dict(os.environ)
        env.setdefault("CARGO_TARGET_DIR", str(REPO / "target"))
        subprocess.run(["bash", str(script), str(prefix)], cwd=REPO, env=env, check=True)
        return prefix / "lib" / "libgearlet.so", prefix / "include" / "gearlet_ffi.h"


cmdclass: dict[str, type] = {"build_py": BuildWithLibrary}

if bdist_wheel is not None:

    class PlatformWheel(bdist_wheel):  # type: ignore[misc, valid-type]
        """A platform wheel (it holds a native library) usable by any Python 3."""

        def finalize_options(self) -> None:
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self) -> tuple[str, str, str]:
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel

# pip builds a local directory in place: setuptools' own intermediate files (build/, the
# .egg-info) go under the Rust build's target directory instead, so that installing leaves the
# checkout as it was.
OUT = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "python-build"
OUT.mkdir(parents=True, exist_ok=True)  # egg_info refuses a base that does not exist yet
setup(
    cmdclass=cmdclass,
    options={"build": {"build_base": str(OUT / "build")}, "egg_info": {"egg_base": str(OUT)}},
)
