"""Writes a client may send twice: the answer to a request with an `Idempotency-Key`.

A phone in the field sends its queued sign-offs when a signal returns; the signal may drop
after the server stored one and before the phone heard the answer, so the phone sends it
again with the same key. The first answer is kept per user and key (replayed_requests,
migration 0026f) in the same transaction as the write it answers: a replay gets that answer
and nothing is done twice. Answers of writes that happened are kept, and a file's refusal
(api/uploads: its checks ran over the whole file, the phone heard "refused"); any other
refused request changed nothing and is judged again when sent again.

Two sends of one key at once wait for each other (a transaction-scoped advisory lock on the
user and key), so the second finds the first's answer rather than acting too.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput

KEY_MAX = 128


@dataclass(frozen=True)
class Request:
    username: str
    key: str
    method: str
    path: str
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict


def fingerprint(body: dict) -> str:
    """What the request asked, so a key sent again with another request is told apart."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:username || chr(31) || :key, 25))")
_FIND = text("""
    SELECT method, path, fingerprint, status_code, response
    FROM replayed_requests WHERE username = :username AND key = :key
""")


def earlier_answer(session: Session, asked: Request) -> Answer | None:
    """The stored answer to this user's key, or None (then the caller acts and `keep`s its
    answer before the transaction ends). The same key with another request is refused."""
    session.execute(_LOCK, {"username": asked.username, "key": asked.key})
    row = session.execute(_FIND, {"username": asked.username, "key": asked.key}).first()
    if row is None:
        return None
    if (row.method, row.path, row.fingerprint) != (asked.method, asked.path, asked.fingerprint):
        raise InvalidInput(
            f"the Idempotency-Key {asked.key!r} was already used for another request "
            f"({row.method} {row.path}): use a new key for each action",
            rule="idempotency_key_reused",
            params={"key": asked.key, "path": row.path},
        )
    return Answer(row.status_code, row.response)


_KEEP = text("""
    INSERT INTO replayed_requests (username, key, method, path, fingerprint, status_code,
                                   response)
    VALUES (:username, :key, :method, :path, :fingerprint, :status, CAST(:response AS jsonb))
""")
_FORGET = text("DELETE FROM replayed_requests WHERE created_at < now() - :age")


def keep(session: Session, asked: Request, answer: Answer, keep_days: int) -> None:
    """Store the answer; answers older than `keep_days` go (a phone's queue is sent within
    days, never months)."""
    session.execute(_FORGET, {"age": timedelta(days=keep_days)})
    session.execute(
        _KEEP,
        {
            "username": asked.username,
            "key": asked.key,
            "method": asked.method,
            "path": asked.path,
            "fingerprint": asked.fingerprint,
            "status": answer.status_code,
            "response": json.dumps(answer.body, ensure_ascii=False, default=str),
        },
    )
