"""Generates the Python code for protos/ into a directory (generated/ by default).

`make gen` writes generated/; `make check-gen` writes a scratch directory and compares, so CI
fails when someone edits a .proto without regenerating.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def main(out_dir: str) -> int:
    """Runs protoc with the Python, gRPC and mypy-protobuf generators."""
    out = Path(out_dir)
    (out / "emailstore/v1").mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    # googleapis-common-protos (pulled in by grpcio-status) ships google/rpc/*.proto.
    import google.rpc.status_pb2 as status_pb2

    googleapis = Path(status_pb2.__file__).resolve().parents[2]
    bin_dir = Path(sys.executable).parent
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        # The same contract with its comments, for server reflection: `grpcurl describe`
        # then shows every RPC's and field's documentation.
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={out / 'emailstore/v1/emailstore_descriptor_set.binpb'}",
        *files,
    ]
    rc = protoc.main(args)
    if rc != 0:
        return int(rc)
    # Packages, so that `import emailstore.v1.emailstore_pb2` works once installed.
    for proto in files:
        package_dir = out / Path(proto).parent
        while package_dir != out:
            (package_dir / "__init__.py").touch()
            package_dir = package_dir.parent
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "generated")))
