"""Typed errors of the core. The gateway maps each to one RFC 9457 problem type; nothing here knows HTTP."""

from __future__ import annotations


class CoreError(Exception):
    """Base of every error the core raises on purpose."""


class InstanceNotFound(CoreError):
    def __init__(self, asset_type: str, key: str, revision: int | None = None, origin: str = "") -> None:
        self.asset_type, self.key, self.revision, self.origin = asset_type, key, revision, origin
        which = f"revision {revision} of " if revision else ""
        whose = f" received from '{origin}'" if origin else ""
        super().__init__(f"no {which}{asset_type} instance{whose} with key '{key}'")


class InstanceConflict(CoreError):
    """The key exists with other content, and the asset type keeps no revisions."""

    def __init__(self, asset_type: str, key: str, existing_sha256: str) -> None:
        self.asset_type, self.key, self.existing_sha256 = asset_type, key, existing_sha256
        super().__init__(
            f"{asset_type} '{key}' already exists with different content (sha256 {existing_sha256}); "
            f"{asset_type} instances are immutable: use a new key"
        )


class AssetTypeNotRegistered(CoreError):
    def __init__(self, slug: str, registered: list[str]) -> None:
        self.slug = slug
        super().__init__(f"asset type '{slug}' is not held here; use one of: {', '.join(registered)}")


class InvalidCursor(CoreError):
    def __init__(self) -> None:
        super().__init__("cursor is not one this server issued; start again without a cursor")


class InvalidRange(CoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class FileTooLarge(CoreError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"file is larger than the limit of {limit} bytes")


class DigestMismatch(CoreError):
    def __init__(self, expected: str, actual: str) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"content sha256 is {actual}, but the request declared {expected}; resend the file intact")


class MissingFiles(CoreError):
    """A record refers to files that are not stored here (upload them first)."""

    def __init__(self, digests: list[str]) -> None:
        self.digests = digests
        super().__init__(f"the record refers to file(s) not stored here: {', '.join(digests)}; "
                         "upload each file to this AAdSys first, then send the record again")


class FileNotFound(CoreError):
    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(f"no file with sha256 {sha256}")
