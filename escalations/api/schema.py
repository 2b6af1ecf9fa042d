"""OpenAPI helpers: the error body as a component, and the responses each kind of
endpoint documents, so schemathesis can hold every response to the schema."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorDetailOut(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: required, invalid_transition, version_conflict, …")
    message = serializers.CharField(help_text="Readable, for people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Input field → its messages. Empty when the error concerns the whole request.",
    )
    current_version = serializers.IntegerField(required=False, help_text="Version conflicts only.")
    changed = serializers.DictField(
        required=False, help_text="Version conflicts only: field → [old, new] since your version."
    )


class ErrorOut(serializers.Serializer):
    error = ErrorDetailOut()


_DESCRIPTIONS = {
    400: "Invalid input (fields names each input at fault) or a playbook rule refused the change.",
    401: "No valid credentials (Authorization: Token <key>, or a session).",
    403: "Your role does not allow this.",
    404: "No such object.",
    409: "Conflict.",
    412: "Stale version: the case changed since you read it; nothing was changed.",
    429: "Throttled: retry after the Retry-After header's seconds.",
}


# The weekly figures are computed by the beat after a week ends, never on a request.
WEEK_NOT_KEPT = {
    503: OpenApiResponse(
        ErrorOut,
        description="The week's figures are not kept yet: code week_not_kept (the week has ended; the beat computes "
        "it within minutes and has been asked to) or week_in_progress (the week is not over). Retry after the "
        "Retry-After header's seconds.",
    )
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorOut, description=_DESCRIPTIONS[code]) for code in codes}


# Every endpoint is throttled per user (escalations/api/throttles.py), hence 429 in each.
READ = (401, 403, 429)
READ_ONE = (401, 403, 404, 429)
WRITE = (400, 401, 403, 429)
WRITE_ONE = (400, 401, 403, 404, 412, 429)

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='The case version you last read, e.g. "7" (the ETag of a case response). Same as body "version".',
)
