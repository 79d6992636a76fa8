"""Mint errors, classified by what they tell us about the request's outcome.

    MintError                 any failed mint request; carries the NUT error code when the mint sent one
    ├── MintRejectedError     definitive: the mint responded and did not carry out the request
    └── MintAmbiguousError    the outcome is unknown: the request may have taken effect
        ├── MintTimeoutError      no answer within the timeout
        └── MintUnreachableError  connection refused, reset or lost before an answer

Only a definitive rejection may release funds. Everything else keeps them reserved until the
mint's quote state or checkstate settles the question.
"""

from __future__ import annotations

# NUT error codes (cashubtc/nuts error_codes.md) that leave the outcome open: the proofs may
# have been spent, or be about to be spent, by this very request or by an earlier attempt of it.
AMBIGUOUS_CODES: frozenset[int] = frozenset({11001, 11002, 11004, 20005})

# NUT error codes after which the request certainly did not take effect.
DEFINITIVE_CODES: frozenset[int] = frozenset(
    {
        10001,
        11003,
        11005,
        11006,
        11007,
        11008,
        11009,
        11010,
        11011,
        11012,
        11013,
        11014,
        11015,
        12001,
        12002,
        12003,
        20001,
        20002,
        20003,
        20004,
        20006,
        20007,
        20008,
        20009,
    }
)

NUT_ERROR_DESCRIPTIONS: dict[int, str] = {
    10001: "proof verification failed",
    11001: "proofs already spent",
    11002: "proofs are pending",
    11003: "outputs already signed",
    11004: "outputs are pending",
    11005: "transaction is not balanced",
    11006: "amount outside of limit range",
    11007: "duplicate inputs provided",
    11008: "duplicate outputs provided",
    11009: "inputs or outputs of multiple units",
    11010: "inputs and outputs not of same unit",
    11011: "amountless invoice is not supported",
    11012: "amount in request does not equal invoice",
    11013: "unit in request is not supported",
    11014: "max inputs exceeded",
    11015: "max outputs exceeded",
    12001: "keyset is not known",
    12002: "keyset is inactive",
    12003: "keyset has expired",
    20001: "quote request is not paid",
    20002: "quote has already been issued",
    20003: "minting is disabled",
    20004: "lightning payment failed",
    20005: "quote is pending",
    20006: "invoice already paid",
    20007: "quote is expired",
    20008: "signature for mint request invalid",
    20009: "pubkey required for mint quote",
}


class MintError(Exception):
    """Raised for any failed mint request."""

    ambiguous: bool = True

    def __init__(self, message: str, *, endpoint: str, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.code = code
        self.status = status

    @property
    def error_code(self) -> str:
        """Stable label for logs and metrics, e.g. NUT_11001 or MINT_TIMEOUT."""
        return f"NUT_{self.code}" if self.code is not None else "MINT_ERROR"


class MintRejectedError(MintError):
    """Raised when the mint responded with a known NUT error: the request did not take effect."""

    ambiguous = False


class MintAmbiguousError(MintError):
    """Raised when the mint's response leaves open whether the request took effect."""


class MintTimeoutError(MintAmbiguousError):
    """Raised when the mint did not answer within the configured timeout."""

    @property
    def error_code(self) -> str:
        return "MINT_TIMEOUT"


class MintUnreachableError(MintAmbiguousError):
    """Raised when the connection to the mint failed or broke before an answer arrived."""

    @property
    def error_code(self) -> str:
        return "MINT_UNREACHABLE"


def classify_error_response(endpoint: str, status: int, code: int | None, detail: str) -> MintError:
    """Build the typed error for a non-2xx mint answer."""
    message = f"mint {endpoint} failed with HTTP {status}: {detail}"
    if status >= 500 or code is None or code not in DEFINITIVE_CODES:
        return MintAmbiguousError(message, endpoint=endpoint, code=code, status=status)
    return MintRejectedError(message, endpoint=endpoint, code=code, status=status)
