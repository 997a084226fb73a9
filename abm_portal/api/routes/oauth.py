"""The portal as OAuth2 authorisation server: the client-credentials token endpoint, its metadata and the JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Header, Request
from pydantic import WithJsonSchema
from starlette.responses import JSONResponse

from abm_portal.api.deps import DbSession, SettingsDep
from abm_portal.api.problems import REALM
from abm_portal.errors import AuthenticationFailed, TooManyAttempts
from abm_portal.metrics import metrics_of
from abm_portal.services import access_tokens, clients, signing_keys, throttle

router = APIRouter(tags=["oauth"])
FormField = Annotated[str | None, Form()]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
OAUTH_ERROR = {"application/json": {"schema": {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_description": {"type": "string"}}}}}


class OAuthError(Exception):
    """An error response of RFC 6749 §5.2 (not problem+json: OAuth clients expect this shape)."""

    def __init__(self, error: str, description: str, status: int = 400, basic_challenge: bool = False,
                 retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.basic_challenge = error, description, status, basic_challenge
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.basic_challenge:
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return JSONResponse({"error": self.error, "error_description": self.description}, self.status,
                            headers=headers)


@router.post("/oauth/token", summary="Get an access token (OAuth2 client credentials)",
             response_description="An access token (RFC 6749 §5.1)",
             responses={400: {"description": "invalid_request, unsupported_grant_type or invalid_scope "
                                             "(RFC 6749 §5.2)", "content": OAUTH_ERROR},
                        401: {"description": "invalid_client: unknown client id or wrong secret",
                              "content": OAUTH_ERROR},
                        429: {"description": "invalid_client: too many failed client authentications lately; "
                                             "retry after the seconds in Retry-After", "content": OAUTH_ERROR}})
def token(request: Request, db: DbSession, settings: SettingsDep,
          grant_type: Annotated[str | None, Form(), WithJsonSchema(
              {"type": "string", "enum": ["client_credentials"]})] = None,
          client_id: FormField = None,
          client_secret: FormField = None, scope: FormField = None,
          authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    """The client-credentials grant (RFC 6749 §4.4). Send ``grant_type=client_credentials`` form-encoded and
    authenticate the client with HTTP Basic (preferred, RFC 6749 §2.3.1) or with ``client_id`` and
    ``client_secret`` form fields. The answer is a short-lived JWT access token for this portal's API."""
    try:
        if not grant_type:
            raise OAuthError("invalid_request", "Send grant_type=client_credentials, form-encoded "
                                                "(application/x-www-form-urlencoded).")
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "The portal supports grant_type=client_credentials only.")
        if scope and set(scope.split()) - {access_tokens.SCOPE}:
            raise OAuthError("invalid_scope", f"The only scope is '{access_tokens.SCOPE}'; leave scope out or "
                                              "send that.")
        cid, secret = _client_credentials(authorization, client_id, client_secret)
        keys = throttle.client_keys(cid, request.client.host if request.client else None)
        try:
            throttle.check(db, settings, keys)
            org = clients.authenticate_client(db, cid, secret)
        except TooManyAttempts as exc:
            metrics_of(request).client_authentications.labels(outcome="throttled").inc()
            raise OAuthError("invalid_client", f"Too many failed client authentications for this client or from "
                                               f"this address. {exc.message}", 429, retry_after=exc.retry_after) \
                from None
        except AuthenticationFailed as exc:
            throttle.record_failure(db, settings, keys)
            metrics_of(request).client_authentications.labels(outcome="failed").inc()
            raise OAuthError("invalid_client", exc.message, 401, basic_challenge=True) from None
        throttle.forget(db, keys)
    except OAuthError as exc:
        return exc.response()
    issued = access_tokens.issue_access_token(db, settings, org)
    metrics = metrics_of(request)
    metrics.client_authentications.labels(outcome="ok").inc()
    metrics.tokens_issued.labels(kind="access").inc()
    return JSONResponse({"access_token": issued.value, "token_type": "Bearer", "expires_in": issued.expires_in,
                         "scope": issued.scope}, headers=NO_STORE)


def _client_credentials(authorization: str | None, client_id: str | None,
                        client_secret: str | None) -> tuple[str, str]:
    """(client id, secret) from HTTP Basic or the form; one method only (RFC 6749 §2.3)."""
    if authorization and authorization.lower().startswith("basic "):
        if client_secret:
            raise OAuthError("invalid_request", "Authenticate the client one way only: HTTP Basic or the form "
                                                "fields, not both.")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise OAuthError("invalid_client", "The Basic credentials are not base64 of 'client_id:client_secret'.",
                             401, basic_challenge=True) from None
        # RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined
        return unquote_plus(raw_id), unquote_plus(raw_secret)
    if client_id and client_secret:
        return client_id, client_secret
    raise OAuthError("invalid_client", "Authenticate the client: HTTP Basic with client_id:client_secret, or the "
                                       "client_id and client_secret form fields.", 401, basic_challenge=True)


@router.get("/.well-known/jwks.json", summary="The portal's public signing keys (JWKS)")
def jwks(db: DbSession, settings: SettingsDep) -> JSONResponse:
    """Every key a valid access token or grant may be signed with (RFC 7517): the current one, and retired ones
    until the tokens they signed have expired. Verify ES256 signatures by the token's ``kid``."""
    return JSONResponse(signing_keys.jwks(db, settings), headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/oauth-authorization-server", summary="Authorisation server metadata (RFC 8414)")
def metadata(settings: SettingsDep) -> dict[str, Any]:
    return {"issuer": settings.issuer, "token_endpoint": f"{settings.public_url}/oauth/token",
            "jwks_uri": f"{settings.public_url}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": [access_tokens.SCOPE]}
