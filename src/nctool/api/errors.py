"""Map errors to JSON responses: every error names its code and severity; bad input is a 400."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nctool.errors import InputError, NctoolError
from nctool.observability.logging import get_logger

log = get_logger()


def _field_line(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header"))
    if error.get("type") == "json_invalid":
        return "body: is not valid JSON; send a JSON object"
    if not location and error.get("type") in ("model_attributes_type", "dict_type"):
        return "body: expected a JSON object; send one with the header Content-Type: application/json"
    if error.get("type") == "int_type":
        return f"{location}: expected an integer number, got {type(error.get('input')).__name__}"
    return f"{location or 'body'}: {error.get('msg', 'invalid')}"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [_field_line(e) for e in exc.errors()]
    error = InputError("; ".join(details), details=details)
    return JSONResponse(error.to_body(), status_code=400)


async def _nctool_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NctoolError)
    if exc.http_status >= 500:
        log.error(
            "Request failed",
            path=request.url.path,
            code=exc.code,
            severity=exc.severity.value,
            error=exc.message,
        )
    return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=exc.headers or None)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    body = {
        "success": False,
        "error": str(exc.detail),
        "message": str(exc.detail),
        "code": code,
        "severity": "LOW",
    }
    return JSONResponse(body, status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("Unhandled error", path=request.url.path, error=repr(exc), exc_info=exc)
    body = {
        "success": False,
        "error": "Internal error",
        "code": "INTERNAL_ERROR",
        "severity": "HIGH",
        "message": "nctool failed to handle this request; the error is logged. Retry, and report it if it persists.",
    }
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NctoolError, _nctool_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
