"""Server reflection that serves the .proto files with their comments.

grpcio-reflection answers from the compiled descriptors, which carry no comments, and the
upb descriptor pool cannot find a file by a method's name. This servicer answers for our own
files from the descriptor set `make gen` writes (with source info), so `grpcurl describe`
shows the documentation of every RPC and field, and `describe pkg.Service.Method` works.
Everything else (health, reflection itself) is left to the standard implementation.
"""

from __future__ import annotations

from importlib import resources

from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

DESCRIPTOR_SET = ("emailstore.v1", "emailstore_descriptor_set.binpb")


def _symbols(file: descriptor_pb2.FileDescriptorProto) -> set[str]:
    prefix = f"{file.package}." if file.package else ""
    names: set[str] = set()

    def add_messages(scope: str, messages: list[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            name = f"{scope}{message.name}"
            names.add(name)
            names.update(f"{name}.{f.name}" for f in message.field)
            names.update(f"{name}.{e.name}" for e in message.enum_type)
            add_messages(f"{name}.", list(message.nested_type))

    add_messages(prefix, list(file.message_type))
    for enum in file.enum_type:
        names.add(f"{prefix}{enum.name}")
        names.update(f"{prefix}{value.name}" for value in enum.value)
    for service in file.service:
        names.add(f"{prefix}{service.name}")
        names.update(f"{prefix}{service.name}.{m.name}" for m in service.method)
    return names


# grpcio-reflection ships no type information, so its base class is Any to mypy.
class DocumentedReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]
    """Reflection (v1alpha wire format, also mounted as v1) with source comments."""

    def __init__(self, service_names: tuple[str, ...]) -> None:
        super().__init__(service_names)
        package, name = DESCRIPTOR_SET
        data = (resources.files(package) / name).read_bytes()
        files = descriptor_pb2.FileDescriptorSet.FromString(data).file
        self._files = {f.name: f for f in files}
        self._file_of_symbol = {s: f.name for f in files for s in _symbols(f)}

    def _response(
        self, request: reflection_pb2.ServerReflectionRequest, filename: str
    ) -> reflection_pb2.ServerReflectionResponse:
        ordered: list[str] = []

        def visit(name: str) -> None:
            if name in ordered or name not in self._files:
                return
            ordered.append(name)
            for dependency in self._files[name].dependency:
                visit(dependency)

        visit(filename)
        return reflection_pb2.ServerReflectionResponse(
            original_request=request,
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(
                file_descriptor_proto=[self._files[n].SerializeToString() for n in ordered]
            ),
        )

    def _file_by_filename(
        self, request: reflection_pb2.ServerReflectionRequest, filename: str
    ) -> reflection_pb2.ServerReflectionResponse:
        if filename in self._files:
            return self._response(request, filename)
        return super()._file_by_filename(request, filename)

    def _file_containing_symbol(
        self, request: reflection_pb2.ServerReflectionRequest, fully_qualified_name: str
    ) -> reflection_pb2.ServerReflectionResponse:
        filename = self._file_of_symbol.get(fully_qualified_name.lstrip("."))
        if filename is not None:
            return self._response(request, filename)
        return super()._file_containing_symbol(request, fully_qualified_name)
