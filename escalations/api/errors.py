"""One JSON shape for every 4xx the API returns, whatever raised it:

    {"error": {"code": "...", "message": "...", "fields": {"field": ["message", ...]}}}

``fields`` is always present (empty when the error is about the whole request). A
version conflict adds ``current_version`` and ``changed`` so a client can show what moved.
Service errors (escalations.errors), DRF errors and Django's ValidationError,
Http404 and PermissionDenied all end up here; anything else is a bug and stays a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views import csrf as csrf_views
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from escalations.errors import ServiceError, VersionConflict

# DRF's non-field key, renamed to something a client can read.
NON_FIELD = "non_field_errors"

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
}


def error_body(
    *, code: str, message: str, fields: dict[str, list[str]] | None = None, **extra: Any
) -> dict[str, dict[str, Any]]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def flatten_detail(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF error details (nested dicts and lists) → {dotted.field: [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_detail(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            # A list of messages for one field stays on that field; a list of nested
            # objects (list serializers) gets an index.
            name = f"{prefix}.{index}" if isinstance(value, (dict, list)) else prefix
            for field, messages in flatten_detail(value, name).items():
                out.setdefault(field, []).extend(messages)
    else:
        out.setdefault(prefix or NON_FIELD, []).append(str(detail))
    return out


def _summary(fields: dict[str, list[str]]) -> str:
    parts = []
    for field, messages in fields.items():
        text = " ".join(messages)
        parts.append(text if field == NON_FIELD else f"{field}: {text}")
    return " ".join(parts) or "The request is invalid."


def _first_code(detail: Any) -> str | None:
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), None)
    if isinstance(detail, list):
        detail = detail[0] if detail else None
    if isinstance(detail, (dict, list)):
        return _first_code(detail)
    return getattr(detail, "code", None)


def service_error_response(exc: ServiceError) -> Response:
    fields: dict[str, list[str]] = {}
    for error in exc.all_errors():
        if error.field:
            fields.setdefault(error.field, []).append(error.message)
    extra: dict[str, Any] = {}
    if isinstance(exc, VersionConflict):
        extra = {"current_version": exc.current_version, "changed": exc.changed}
    return Response(error_body(code=exc.code, message=exc.message, fields=fields, **extra), status=exc.status_code)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]. Returns None (→ 500) only for real bugs."""
    if isinstance(exc, ServiceError):
        set_rollback()
        return service_error_response(exc)
    if isinstance(exc, DjangoValidationError):
        # Model clean() and full_clean() in a service: same shape as a serializer error.
        if hasattr(exc, "error_dict"):
            fields = {name: [str(m) for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
        else:
            fields = {NON_FIELD: [str(m) for m in exc.messages]}
        fields = {(NON_FIELD if k == "__all__" else k): v for k, v in fields.items()}
        set_rollback()
        return Response(error_body(code="invalid", message=_summary(fields), fields=fields), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You do not have permission to do this.")
    if not isinstance(exc, exceptions.APIException):
        return None

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_detail(exc.detail)
        code = _first_code(exc.detail) or "invalid"
        # "required"/"invalid_choice"/… on one field; "invalid" when several disagree.
        code = code if len(fields) == 1 else "invalid"
        return Response(error_body(code=code, message=_summary(fields), fields=fields), status=400, headers=headers)
    code = (
        next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None) or _first_code(exc.detail) or "error"
    )
    message = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else _summary(flatten_detail(exc.detail))
    return Response(error_body(code=code, message=message), status=exc.status_code, headers=headers)


@csrf_exempt  # nothing to protect: it only ever answers 404 (and CSRF's 403 would be HTML)
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Catch-all for unknown /api/ paths, so even a mistyped URL answers in the API's
    shape (and a POST without its trailing slash is not redirected into a GET)."""
    return JsonResponse(
        error_body(code="not_found", message=f"No API endpoint at {request.path} (API paths end with a slash)."),
        status=status.HTTP_404_NOT_FOUND,
    )


# --- Errors Django answers before or around DRF ------------------------------------------
# An oversized or malformed body (400), a CSRF refusal (403), an unknown URL (404) and an
# unhandled exception (500) are answered by Django's handlers, not DRF's: under /api/ they
# still take the API's shape; elsewhere Django's own pages answer.

_HANDLER_ERRORS = {
    400: ("bad_request", "The request could not be read (too large, or malformed)."),
    403: ("permission_denied", "You do not have permission to do this."),
    404: ("not_found", "Not found."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
}


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_error_response(request: HttpRequest, status_code: int) -> JsonResponse:
    code, message = _HANDLER_ERRORS[status_code]
    return JsonResponse(error_body(code=code, message=message), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None, **kwargs: Any):
    if is_api_request(request):
        return api_error_response(request, 400)
    return defaults.bad_request(request, exception, **kwargs)


def permission_denied(request: HttpRequest, exception: Exception | None = None, **kwargs: Any):
    if is_api_request(request):
        return api_error_response(request, 403)
    return defaults.permission_denied(request, exception, **kwargs)


def page_not_found(request: HttpRequest, exception: Exception | None = None, **kwargs: Any):
    if is_api_request(request):
        return api_error_response(request, 404)
    return defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any):
    if is_api_request(request):
        return api_error_response(request, 500)
    return defaults.server_error(request, **kwargs)


def csrf_failure(request: HttpRequest, reason: str = "", **kwargs: Any):
    if is_api_request(request):
        return JsonResponse(
            error_body(code="csrf_failed", message=f"CSRF check failed: {reason or 'missing token'}."), status=403
        )
    return csrf_views.csrf_failure(request, reason=reason, **kwargs)
