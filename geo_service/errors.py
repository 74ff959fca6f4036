"""Domain errors, and the one table that maps them to HTTP statuses."""


class GeoServiceError(Exception):
    """Base class: every error a user may see carries a plain message (English, for the
    command line and the API). `rule` and `params` let the pages say it in the reader's
    language (geo_service/web/problems.py REFUSALS); None where it has no wording yet."""

    def __init__(self, message: str = "", *, rule: str | None = None, params=None):
        super().__init__(message)
        self.rule = rule
        self.params = params


class NotFound(GeoServiceError):
    pass


class InvalidInput(GeoServiceError):
    pass


class TextRefused(InvalidInput):
    """A note, name or code that breaks the text rule (texts.py): a 422, like pydantic's."""


class RuleBroken(ValueError):
    """A value refused by a check pydantic runs (the text rule, a period's form): a
    ValueError, as pydantic wants, that keeps the rule and its figures, so the refusal is
    said from its rule in the reader's language (api/handlers.invalid_request)."""

    def __init__(self, why: str, rule: str, params: dict):
        super().__init__(why)
        self.rule = rule
        self.params = params


class FieldMissing(InvalidInput):
    """A field the request needs with what else it asks (a reason for keeping overlaps)
    is missing or blank: a 422 naming it, like pydantic's for a field always needed."""


class UploadRefused(GeoServiceError):
    """The file was checked and refused; `report` holds every problem found."""

    def __init__(self, message: str, report=None, *, rule: str | None = None, params=None):
        super().__init__(message, rule=rule, params=params)
        self.report = report


class DatabaseUnavailable(GeoServiceError):
    pass


class TooLarge(GeoServiceError):
    """An upload over the configured size limit."""


class Conflict(GeoServiceError):
    """Another change got there first: nothing was written, look again and retry."""


class Unauthorized(GeoServiceError):
    """Not signed in, or the sign-in is wrong, expired or revoked."""


class Forbidden(GeoServiceError):
    """Signed in, but the user's role or scope does not allow this."""


class TooManyAttempts(GeoServiceError):
    """Sign-in refused for a while after repeated failures; `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Busy(GeoServiceError):
    """The service is at its bound for this kind of work: try again in `retry_after` s."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


HTTP_STATUS = {
    NotFound: 404,
    InvalidInput: 400,
    TextRefused: 422,
    FieldMissing: 422,
    UploadRefused: 422,
    DatabaseUnavailable: 503,
    TooLarge: 413,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    Busy: 503,
}


def http_status(exc: GeoServiceError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def retry_after(exc: GeoServiceError) -> dict[str, str]:
    """The Retry-After header a refusal asks for, if any."""
    seconds = getattr(exc, "retry_after", None)
    return {} if seconds is None else {"Retry-After": str(seconds)}
