"""The one table from domain errors to gRPC status codes.

Servicers just raise. A domain error becomes its status code with a google.rpc.BadRequest
detail naming the fields; anything else becomes INTERNAL with a generic message, its
traceback going to the log only. No client ever sees UNKNOWN. The interceptor that applies
this is `service.api.interceptors.ErrorsInterceptor`.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from service import errors

STATUS_BY_ERROR: dict[type[errors.EmailStoreError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DataLoss: grpc.StatusCode.DATA_LOSS,
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


def is_internal(exc: BaseException) -> bool:
    """Whether an error is a bug (its details stay in the log)."""
    return not isinstance(exc, errors.EmailStoreError) or isinstance(exc, errors.Internal)


def to_rpc_status(exc: BaseException) -> status_pb2.Status:
    """A google.rpc.Status for any exception; internal details never leave the server."""
    if is_internal(exc):
        return status_pb2.Status(code=code_pb2.INTERNAL, message=INTERNAL_MESSAGE)
    assert isinstance(exc, errors.EmailStoreError)  # is_internal said so
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
