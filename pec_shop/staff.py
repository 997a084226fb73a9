"""The shop staff's login for the sales report: HTTP Basic (RFC 7617), user ``staff``, the password whose argon2
hash ``pec-shop init --staff-password-file`` stored in ``<data-dir>/staff-password.argon2``.

The shop had no staff pages before the report; this is the smallest login that keeps the report from customers
(whose only authorisation is their order link). Without the hash file the staff pages refuse everyone.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.exceptions import HTTPException

STAFF = "staff"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="pec-shop staff", charset="UTF-8"'}
HASH_FILE_NAME = "staff-password.argon2"

_basic = HTTPBasic(auto_error=False)


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


class StaffCheck:
    """Verifies the staff password; a verified one is remembered as a digest, so a report's PDF download after
    its page costs no second argon2 run."""

    def __init__(self, hash_file: Path) -> None:
        self.hash_file = hash_file
        self._accepted: set[bytes] = set()

    def verify(self, username: str, password: str) -> bool:
        if not hmac.compare_digest(username.encode(), STAFF.encode()):
            return False
        digest = hashlib.sha256(password.encode()).digest()
        if digest in self._accepted:
            return True
        try:
            PasswordHasher().verify(self.hash_file.read_text().strip(), password)
        except (OSError, VerificationError, InvalidHashError):
            return False
        self._accepted.add(digest)
        return True


def require_staff(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
    check: StaffCheck = request.app.state.staff_check
    if credentials is None or not check.verify(credentials.username, credentials.password):
        raise HTTPException(401, "Staff login required: HTTP Basic with user 'staff' and the password given to "
                                 "'pec-shop init --staff-password-file'.", headers=CHALLENGE)
    return STAFF


Staff = Annotated[str, Depends(require_staff)]
