"""What every router shares: the database session per request and common query types."""

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from .. import database
from ..models import KINDS

GEOJSON = "application/geo+json"


def get_session():
    with database.session_scope() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# an error response, never a 201 for something that was not stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
KIND_PATTERN = f"^({'|'.join(KINDS)})$"
KindFilter = Annotated[str | None, Query(pattern=KIND_PATTERN, description="land or demolition")]
