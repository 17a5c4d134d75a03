"""The one table from domain errors to gRPC status codes, and the interceptor that applies it.

Servicers just raise. Every RPC runs inside a server span; a domain error becomes its status
code with a google.rpc.BadRequest detail naming the fields; anything else becomes INTERNAL
with a generic message, its traceback going to the log only. No client ever sees UNKNOWN.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

from service import deadlines, errors
from service.api.requests import Rejected, decoder

log = logging.getLogger(__name__)
tracer = trace.get_tracer("emailstore.api")

STATUS_BY_ERROR: dict[type[errors.EmailStoreError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Internal: grpc.StatusCode.INTERNAL,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
}

INTERNAL_MESSAGE = "internal error; the server log has the details"


def status_code(exc: errors.EmailStoreError) -> grpc.StatusCode:
    """The gRPC code of a domain error (the nearest listed base class wins)."""
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def to_rpc_status(exc: BaseException) -> status_pb2.Status:
    """A google.rpc.Status for any exception; internal details never leave the server."""
    if not isinstance(exc, errors.EmailStoreError) or isinstance(exc, errors.Internal):
        return status_pb2.Status(code=code_pb2.INTERNAL, message=INTERNAL_MESSAGE)
    code = status_code(exc)
    status = status_pb2.Status(code=code.value[0], message=exc.message)
    if exc.violations:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in exc.violations
                ]
            )
        )
        status.details.append(detail)
    return status


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    if not isinstance(exc, errors.EmailStoreError) or isinstance(exc, errors.Internal):
        log.error("unhandled error in RPC", exc_info=exc)
    status = to_rpc_status(exc)
    span = trace.get_current_span()
    span.set_attribute("rpc.grpc.status_code", status.code)
    if status.code == code_pb2.INTERNAL:
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    await context.abort_with_status(rpc_status.to_status(status))


def _start_span(method: str, context: grpc.aio.ServicerContext[Any, Any]) -> trace.Span:
    carrier = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    service, _, name = method.lstrip("/").rpartition("/")
    return tracer.start_span(
        method.lstrip("/"),
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )


def _checked(request: Any) -> Any:
    """The request, or its decoding error raised."""
    if isinstance(request, Rejected):
        raise request.error
    return request


async def _checked_stream(requests: AsyncIterator[Any], itemwise: bool) -> AsyncIterator[Any]:
    """The requests of a stream; an undecodable one ends the stream with its error, unless the
    stream's items fail alone (then the servicer answers it)."""
    async for request in requests:
        yield request if itemwise else _checked(request)


def _wrap_unary(
    method: str, behavior: Callable[..., Any], streaming_requests: bool, itemwise: bool
) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        with trace.use_span(_start_span(method, context), end_on_exit=True):
            # The store bounds its waits by what is left of the caller's deadline.
            deadlines.set_remaining(context.time_remaining())
            try:
                if streaming_requests:
                    request = _checked_stream(request, itemwise)
                else:
                    request = _checked(request)
                response = await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort(context, exc)
                raise  # unreachable: abort raises
            trace.get_current_span().set_attribute("rpc.grpc.status_code", 0)
            return response

    return handler


def _wrap_stream(
    method: str, behavior: Callable[..., Any], streaming_requests: bool, itemwise: bool
) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        with trace.use_span(_start_span(method, context), end_on_exit=True):
            # The store bounds its waits by what is left of the caller's deadline.
            deadlines.set_remaining(context.time_remaining())
            try:
                if streaming_requests:
                    request = _checked_stream(request, itemwise)
                else:
                    request = _checked(request)
                async for response in behavior(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort(context, exc)
                raise
            trace.get_current_span().set_attribute("rpc.grpc.status_code", 0)

    return handler


def _guard_unary(behavior: Callable[..., Any], streaming_requests: bool) -> Callable[..., Any]:
    """For the standard services (health, reflection): only the decoding check."""

    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            request = _checked_stream(request, False) if streaming_requests else _checked(request)
        except errors.InvalidArgument as exc:
            await context.abort_with_status(rpc_status.to_status(to_rpc_status(exc)))
        return await behavior(request, context)

    return handler


def _guard_stream(behavior: Callable[..., Any], streaming_requests: bool) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            request = _checked_stream(request, False) if streaming_requests else _checked(request)
            async for response in behavior(request, context):
                yield response
        except errors.InvalidArgument as exc:
            await context.abort_with_status(rpc_status.to_status(to_rpc_status(exc)))

    return handler


class ErrorsAndTracingInterceptor(grpc.aio.ServerInterceptor):
    """Opens the server span of each RPC and maps whatever it raises to a status code.

    Every request is decoded by `service.api.requests.decoder` first, so bytes that are not a
    valid request, or a Timestamp out of range, answer INVALID_ARGUMENT (for every service on
    the port: grpc would answer UNKNOWN). `itemwise` names the request-streaming methods whose
    items fail alone: their servicers receive a `Rejected` item and answer it in the stream.
    """

    def __init__(self, itemwise: frozenset[str] = frozenset()) -> None:
        self._itemwise = itemwise
        # The wrapped handler of each method, built on its first call: every RPC passes here.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any] | None] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if method in self._wrapped:
            return self._wrapped[method]
        handler = await continuation(handler_call_details)
        wrapped = self._wrap(method, handler)
        if handler is not None:
            self._wrapped[method] = wrapped
        return wrapped

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any] | None
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if handler is None:
            return handler
        parse = handler.request_deserializer
        owner = getattr(parse, "__self__", None)
        descriptor = getattr(owner, "DESCRIPTOR", None)
        if parse is None or descriptor is None:
            return handler  # raw bytes in: nothing to decode
        common = {
            "request_deserializer": decoder(parse, descriptor.full_name),
            "response_serializer": handler.response_serializer,
        }
        itemwise = method in self._itemwise
        # Health and reflection are the standard implementations: decoding checked, and
        # otherwise left alone (no span, their own status codes).
        ours = method.startswith("/emailstore.")
        if handler.unary_unary:
            behavior = (
                _wrap_unary(method, handler.unary_unary, False, itemwise)
                if ours
                else _guard_unary(handler.unary_unary, False)
            )
            return grpc.unary_unary_rpc_method_handler(behavior, **common)
        if handler.stream_unary:
            behavior = (
                _wrap_unary(method, handler.stream_unary, True, itemwise)
                if ours
                else _guard_unary(handler.stream_unary, True)
            )
            return grpc.stream_unary_rpc_method_handler(behavior, **common)
        if handler.unary_stream:
            behavior = (
                _wrap_stream(method, handler.unary_stream, False, itemwise)
                if ours
                else _guard_stream(handler.unary_stream, False)
            )
            return grpc.unary_stream_rpc_method_handler(behavior, **common)
        if handler.stream_stream:
            behavior = (
                _wrap_stream(method, handler.stream_stream, True, itemwise)
                if ours
                else _guard_stream(handler.stream_stream, True)
            )
            return grpc.stream_stream_rpc_method_handler(behavior, **common)
        return handler
