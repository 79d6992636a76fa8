"""Errors nctool reports to callers, each with a stable code, a severity and one HTTP status.

NctoolError                  base; `code`, `severity`, `http_status`, `context`
├── InputError               400: a request field is invalid; `details` lists each field
├── AuthenticationError      401: no credentials, or an unknown, revoked, invalid or stale one
├── PermissionDeniedError    403: valid credentials that do not reach this wallet or endpoint
│   └── WithdrawalLimitError        the wallet's daily withdrawal limit would be exceeded
├── PayloadTooLargeError     413: the request body is larger than NCTOOL_MAX_BODY_BYTES
├── RateLimitedError         429: the credential sent too many requests; `retryAfter` in seconds
├── WalletNotFoundError      404: no wallet for this npub on this mint
├── InsufficientBalanceError 402: unspent proofs do not cover amount plus fees
├── ConflictError            409: the request clashes with ledger state
│   ├── ReconciliationBlockedError  pre-flight found proofs the mint reports spent
│   ├── IdempotencyConflictError    the Idempotency-Key was used with another request
│   └── InvoiceInFlightError        this wallet is already paying (or has paid) the invoice
├── MintFailureError         502/504: the mint failed; `fundsStatus` tells whether funds are safe or pending
├── ServiceUnavailableError  503: melts are halted or the store is down
└── InternalError            500: a fault of nctool itself
    └── StoreError           a database operation failed
        └── StoreContentionError  503: a concurrent transaction won every retry; the caller may retry
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class NctoolError(Exception):
    """Base of every error nctool reports to a caller."""

    http_status = 500
    label = "Internal error"
    default_code = "INTERNAL_ERROR"
    default_severity = Severity.HIGH

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        severity: Severity | None = None,
        **context: Any,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.severity = severity or self.default_severity
        self.context = context
        # Response headers that belong to the error, such as Retry-After or WWW-Authenticate.
        self.headers: dict[str, str] = {}

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "success": False,
            "error": self.label,
            "message": self.message,
            "code": self.code,
            "severity": self.severity.value,
        }
        body.update(self.context)
        return body


class InputError(NctoolError):
    """Raised when a request field is invalid; `details` has one line per field."""

    http_status = 400
    label = "Invalid request"
    default_code = "VALIDATION_ERROR"
    default_severity = Severity.LOW

    def __init__(self, message: str, *, details: list[str] | None = None, **kwargs: Any):
        super().__init__(message, details=details or [message], **kwargs)


class AuthenticationError(NctoolError):
    """Raised when a request has no credentials, or ones that are unknown, revoked, invalid or stale."""

    http_status = 401
    label = "Authentication required"
    default_code = "UNAUTHENTICATED"
    default_severity = Severity.LOW


class PermissionDeniedError(NctoolError):
    """Raised when valid credentials do not reach the wallet or endpoint requested."""

    http_status = 403
    label = "Forbidden"
    default_code = "FORBIDDEN"
    default_severity = Severity.LOW


class WithdrawalLimitError(PermissionDeniedError):
    """Raised when a payment would take the wallet past its daily withdrawal limit; nothing was reserved."""

    label = "Daily withdrawal limit reached"
    default_code = "DAILY_WITHDRAWAL_LIMIT"


class PayloadTooLargeError(NctoolError):
    """Raised when the request body is larger than the configured maximum."""

    http_status = 413
    label = "Request body too large"
    default_code = "PAYLOAD_TOO_LARGE"
    default_severity = Severity.LOW


class RateLimitedError(NctoolError):
    """Raised when one credential sends more requests than its limit allows."""

    http_status = 429
    label = "Too many requests"
    default_code = "RATE_LIMITED"
    default_severity = Severity.LOW


class WalletNotFoundError(NctoolError):
    """Raised when the npub has no wallet on the configured mint."""

    http_status = 404
    label = "Wallet not found"
    default_code = "WALLET_NOT_FOUND"
    default_severity = Severity.LOW


class InsufficientBalanceError(NctoolError):
    """Raised when unspent proofs cannot cover amount plus fees; nothing was reserved."""

    http_status = 402
    label = "Insufficient balance"
    default_code = "INSUFFICIENT_BALANCE"
    default_severity = Severity.LOW


class ConflictError(NctoolError):
    """Raised when the request clashes with the current ledger state."""

    http_status = 409
    label = "Conflict"
    default_code = "CONFLICT"
    default_severity = Severity.MEDIUM


class ReconciliationBlockedError(ConflictError):
    """Raised when pre-flight reconciliation finds proofs the mint already reports spent."""

    label = "Blocked by proof reconciliation"
    default_code = "HIGH_SEVERITY_DISCREPANCIES"
    default_severity = Severity.HIGH


class IdempotencyConflictError(ConflictError):
    """Raised when an Idempotency-Key is reused with a different request."""

    label = "Idempotency key reused"
    default_code = "IDEMPOTENCY_KEY_REUSED"


class InvoiceInFlightError(ConflictError):
    """Raised when this wallet already pays, or has paid, the same invoice."""

    label = "Invoice already paid or being paid"
    default_code = "INVOICE_IN_FLIGHT"


class MintFailureError(NctoolError):
    """Raised when the mint failed or timed out; `fundsStatus` tells the caller whether funds are safe."""

    http_status = 502
    label = "Mint error"
    default_code = "MINT_ERROR"
    default_severity = Severity.MEDIUM

    def __init__(self, message: str, *, timeout: bool = False, **kwargs: Any):
        super().__init__(message, **kwargs)
        if timeout:
            self.http_status = 504


class ServiceUnavailableError(NctoolError):
    """Raised when nctool refuses work for now (melts halted, store down)."""

    http_status = 503
    label = "Service unavailable"
    default_code = "SERVICE_UNAVAILABLE"


class InternalError(NctoolError):
    """Raised for a fault of nctool itself."""

    http_status = 500
    label = "Internal error"
    default_code = "INTERNAL_ERROR"


class StoreError(InternalError):
    """Raised when a database operation fails."""

    label = "Database error"
    default_code = "DATABASE_ERROR"


class StoreContentionError(StoreError):
    """Raised when the database aborted a transaction because of a concurrent one (deadlock,
    serialization failure, lock or statement timeout) and the bounded retries ran out."""

    http_status = 503
    label = "Database busy"
    default_code = "DATABASE_CONTENTION"
    default_severity = Severity.MEDIUM
