"""The one exception type the client raises for failed calls."""

from __future__ import annotations

import grpc


class EaosError(Exception):
    """A call failed (after retries): ``code`` is the gRPC status, ``attempts`` the tries made."""

    def __init__(self, code: grpc.StatusCode, message: str, attempts: int = 1) -> None:
        self.code = code
        self.details = message
        self.attempts = attempts
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{code.name}: {message}{tries}")

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, attempts: int = 1) -> "EaosError":
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "", attempts)
