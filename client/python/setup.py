"""Build hook: generates the eaos.v1 gRPC stubs from the repository's proto/ with grpcio-tools.

The generated modules land in the built package only (``eaos_client/_gen``); nothing generated is
committed. The proto root is ``$EAOS_PROTO_DIR`` if set, else ``proto/`` two levels up (the
repository layout), else ``proto/`` beside this file (an unpacked sdist).
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PROTO_FILE = "eaos/v1/eaos.proto"


def find_proto_root() -> Path:
    candidates = [os.environ.get("EAOS_PROTO_DIR"), HERE.parent.parent / "proto", HERE / "proto"]
    for candidate in candidates:
        if candidate and (Path(candidate) / PROTO_FILE).is_file():
            return Path(candidate)
    raise RuntimeError(f"cannot find {PROTO_FILE}: set EAOS_PROTO_DIR to the repository's proto/")


def generate_stubs(out_dir: Path) -> None:
    """Runs protoc (from grpcio-tools) and makes the output a relative-import subpackage."""
    from grpc_tools import protoc  # build-time dependency only

    proto_root = find_proto_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(proto_root / PROTO_FILE),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {proto_root / PROTO_FILE}")
    for package in (out_dir, out_dir / "eaos", out_dir / "eaos" / "v1"):
        (package / "__init__.py").touch()
    grpc_module = out_dir / "eaos" / "v1" / "eaos_pb2_grpc.py"
    source = grpc_module.read_text(encoding="utf-8")
    source = source.replace("from eaos.v1 import eaos_pb2", "from . import eaos_pb2")
    grpc_module.write_text(source, encoding="utf-8")


class BuildPyWithStubs(build_py):
    """build_py that also writes eaos_client/_gen/ into the build directory."""

    def run(self) -> None:
        super().run()
        generate_stubs(Path(self.build_lib) / "eaos_client" / "_gen")


class SdistWithProto(sdist):
    """sdist that carries proto/eaos/v1/eaos.proto, so a wheel builds from the unpacked sdist."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "proto" / PROTO_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((find_proto_root() / PROTO_FILE).read_bytes())


setup(cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProto})
