"""The patterns Part 2 parameters must match, and what to tell a client whose value does not."""

from __future__ import annotations

# The strings a base64url decoder takes (RFC 4648 §5, padding optional): groups of four, then two or three more.
BASE64URL = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?$"
ID_SHORT = r"[A-Za-z][A-Za-z0-9_-]*"
ELEMENT_PATH = rf"{ID_SHORT}(?:\.{ID_SHORT}|\[[0-9]+\])*"  # an idShortPath, unanchored
ID_SHORT_PATH = rf"^{ELEMENT_PATH}$"

HINTS = {
    BASE64URL: "is not base64url-encoded; encode the identifier with base64url (RFC 4648 §5): '-' and '_', not "
               "'+' and '/', padding optional",
    ID_SHORT_PATH: "is malformed; join idShorts with '.' and write list indices as [n], e.g. items[0].ingredients",
    f"^{ID_SHORT}$": "is not an idShort: a letter, then letters, digits, '_' or '-'",
}
