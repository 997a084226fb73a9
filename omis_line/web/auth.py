"""The operator's HTTP Basic login (RFC 7617): user ``operator``, the password whose argon2 hash ``init`` stored."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from omis_line.web.problems import ProblemError

OPERATOR = "operator"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="omis-line", charset="UTF-8"'}

_basic = HTTPBasic(auto_error=False)


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


class OperatorCheck:
    """Verifies the operator password; a verified one is remembered (as a digest) so that live pages and API polls
    do not pay argon2's deliberate cost on every request."""

    def __init__(self, hash_file: Path) -> None:
        self.hash_file = hash_file
        self._hasher = PasswordHasher()
        self._accepted: set[bytes] = set()

    def verify(self, username: str, password: str) -> bool:
        if not hmac.compare_digest(username.encode(), OPERATOR.encode()):
            return False
        digest = hashlib.sha256(password.encode()).digest()
        if digest in self._accepted:
            return True
        try:
            stored = self.hash_file.read_text().strip()
            self._hasher.verify(stored, password)
        except (OSError, VerificationError, InvalidHashError):
            return False
        self._accepted.add(digest)
        return True


def require_operator(request: Request,
                     credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
    check: OperatorCheck = request.app.state.operator_check
    if credentials is None or not check.verify(credentials.username, credentials.password):
        raise ProblemError(401, "unauthorized", "Operator login required",
                           "Send HTTP Basic credentials: user 'operator' and the password given to 'omis-line init'.",
                           headers=CHALLENGE)
    return OPERATOR


Operator = Annotated[str, Depends(require_operator)]
