"""An `Idempotency-Key` header on a write: the same user's same key gets the first answer
again and the write is not done twice (accounts.replays keeps the answers). The field app
sends one with every queued action, as the signal may drop before it hears the answer."""

from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import JSONResponse

from geo_service.accounts import replays
from geo_service.settings import get_settings

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=8,
        max_length=replays.KEY_MAX,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="a key of your own per action: sent again, the first answer comes back "
        "(header Idempotent-Replayed: true) and nothing is done twice",
    ),
]


def asked(request: Request, who, key: str, what: dict) -> replays.Request:
    return replays.Request(
        who.username, key, request.method, request.url.path, replays.fingerprint(what)
    )


def earlier(session, request: replays.Request) -> JSONResponse | None:
    """The first answer to this key, as it was sent then; None when it is new."""
    found = replays.earlier_answer(session, request)
    if found is None:
        return None
    return JSONResponse(found.body, found.status_code, headers={"Idempotent-Replayed": "true"})


def keep(session, request: replays.Request, status_code: int, body: dict) -> None:
    """In the transaction of the write it answers: both are stored, or neither."""
    answer = replays.Answer(status_code, body)
    replays.keep(session, request, answer, get_settings().idempotency_keep_days)
