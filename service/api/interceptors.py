"""Server interceptors, one concern each, in the order the server lists them (outermost first):

* `TracingInterceptor` - the server span of every EmailStore RPC, continuing the caller's
  trace (traceparent);
* `ErrorsInterceptor` - whatever a handler raises becomes its status code (service.api.status),
  never UNKNOWN;
* `RequestsInterceptor` - decodes every request with a deserializer that never raises
  (service.api.requests), refuses what is undecodable or out of range, and records the
  caller's deadline for the store's waits.

Authentication and metrics slot in beside them the same way: `rewrap` gives an interceptor
the behaviour of a method, whatever its kind of streaming.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from grpc_status import rpc_status
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

from service import deadlines
from service.api.requests import Rejected, decoder
from service.api.status import is_internal, to_rpc_status

log = logging.getLogger(__name__)
tracer = trace.get_tracer("emailstore.api")

Context = grpc.aio.ServicerContext[Any, Any]
# Subscripted only for the type checker: grpc's runtime class is not generic.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
# A method's behaviour: (request or request iterator, context) -> response (a coroutine) or
# responses (an async iterator).
Behavior = Callable[[Any, Context], Any]
# Makes a new behaviour from the old one, told whether requests and responses stream.
Wrapper = Callable[[Behavior, bool, bool], Behavior]


def rewrap(
    handler: Handler, wrap: Wrapper, request_deserializer: Callable[[bytes], Any] | None = None
) -> Handler:
    """The same method handler with its behaviour wrapped (and, if given, a new
    deserializer), for any of the four kinds of RPC."""
    common = {
        "request_deserializer": request_deserializer or handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    kinds: list[tuple[Any, bool, bool, Callable[..., Handler]]] = [
        (handler.unary_unary, False, False, grpc.unary_unary_rpc_method_handler),
        (handler.stream_unary, True, False, grpc.stream_unary_rpc_method_handler),
        (handler.unary_stream, False, True, grpc.unary_stream_rpc_method_handler),
        (handler.stream_stream, True, True, grpc.stream_stream_rpc_method_handler),
    ]
    for behavior, requests_stream, responses_stream, make in kinds:
        if behavior:
            return make(wrap(behavior, requests_stream, responses_stream), **common)
    return handler


class _CachingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each method's handler once, on its first call."""

    def __init__(self) -> None:
        self._wrapped: dict[str, Handler | None] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        if method in self._wrapped:
            return self._wrapped[method]
        handler = await continuation(handler_call_details)
        wrapped = self.wrap(method, handler) if handler is not None else None
        if handler is not None:
            self._wrapped[method] = wrapped
        return wrapped

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler this interceptor answers the method with."""
        raise NotImplementedError


async def _responses(result: Any) -> AsyncIterator[Any]:
    """The responses of a response-streaming behaviour: an async generator's items, or none
    from a coroutine that writes them with context.write() (grpc_health's Watch does)."""
    if hasattr(result, "__aiter__"):
        async for response in result:
            yield response
    else:
        await result


def _ours(method: str) -> bool:
    return method.startswith("/emailstore.")


def _mapping_errors(behavior: Behavior, responses_stream: bool) -> Behavior:
    """The behaviour, with whatever it raises mapped through `_abort`."""
    if responses_stream:

        async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                async for response in _responses(behavior(request, context)):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort(context, exc)

        return streaming

    async def unary(request: Any, context: Context) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)

    return unary


async def _abort(context: Context, exc: BaseException) -> None:
    if is_internal(exc):
        log.error("unhandled error in RPC", exc_info=exc)
    status = to_rpc_status(exc)
    span = trace.get_current_span()
    span.set_attribute("rpc.grpc.status_code", status.code)
    if is_internal(exc):
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    await context.abort_with_status(rpc_status.to_status(status))


class ErrorsInterceptor(_CachingInterceptor):
    """Maps whatever a handler raises to a status code, for every service on the port."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler with its errors mapped."""
        return rewrap(handler, lambda b, _req, resp: _mapping_errors(b, resp))


def _checked(request: Any) -> Any:
    if isinstance(request, Rejected):
        raise request.error
    return request


async def _checked_stream(requests: AsyncIterator[Any], itemwise: bool) -> AsyncIterator[Any]:
    """The requests of a stream; an undecodable one ends the stream with its error, unless the
    stream's items fail alone (then the servicer answers it)."""
    async for request in requests:
        yield request if itemwise else _checked(request)


class RequestsInterceptor(_CachingInterceptor):
    """Decodes every request first (INVALID_ARGUMENT, not UNKNOWN, for bytes that are not a
    valid request or a Timestamp out of range) and records the caller's deadline.

    `itemwise` names the request-streaming methods whose items fail alone: their servicers
    receive a `Rejected` item and answer it in the stream.
    """

    def __init__(self, itemwise: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self._itemwise = itemwise

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler with the decoding deserializer and checks."""
        parse = handler.request_deserializer
        descriptor = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
        if parse is None or descriptor is None:
            return handler  # raw bytes in: nothing to decode
        itemwise = method in self._itemwise

        def enter_for(requests_stream: bool) -> Callable[[Any, Context], Any]:
            def enter(request: Any, context: Context) -> Any:
                # The store bounds its waits by what is left of the caller's deadline.
                deadlines.set_remaining(context.time_remaining())
                if requests_stream:
                    return _checked_stream(request, itemwise)
                return _checked(request)

            return enter

        def wrap(behavior: Behavior, requests_stream: bool, responses_stream: bool) -> Behavior:
            enter = enter_for(requests_stream)
            if responses_stream:

                async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
                    async for response in _responses(behavior(enter(request, context), context)):
                        yield response

                return streaming

            async def unary(request: Any, context: Context) -> Any:
                return await behavior(enter(request, context), context)

            return unary

        return rewrap(handler, wrap, decoder(parse, descriptor.full_name))


def _start_span(method: str, context: Context) -> trace.Span:
    carrier = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    service, _, name = method.lstrip("/").rpartition("/")
    return tracer.start_span(
        method.lstrip("/"),
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )


class TracingInterceptor(_CachingInterceptor):
    """Opens the server span of each EmailStore RPC (health and reflection have none)."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler inside a server span."""
        if not _ours(method):
            return handler

        def wrap(behavior: Behavior, _requests: bool, responses_stream: bool) -> Behavior:
            if responses_stream:

                async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
                    with trace.use_span(_start_span(method, context), end_on_exit=True):
                        async for response in _responses(behavior(request, context)):
                            yield response
                        trace.get_current_span().set_attribute("rpc.grpc.status_code", 0)

                return streaming

            async def unary(request: Any, context: Context) -> Any:
                with trace.use_span(_start_span(method, context), end_on_exit=True):
                    response = await behavior(request, context)
                    trace.get_current_span().set_attribute("rpc.grpc.status_code", 0)
                    return response

            return unary

        return rewrap(handler, wrap)
