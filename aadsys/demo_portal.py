"""The portal part of ``make demo``: PEC and OMIS meet at the ABM Portal, as operators and connectors would.

The portal runs as its own process and is driven only through its CLI and its HTTP API, so this module
imports nothing of ``abm_portal`` (DESIGN §2). Steps: register both organisations, register their
connectors' public keys, PEC publishes the Sales Order asset type, OMIS finds it and asks for a real-time
subscription, PEC's administrator approves, and OMIS fetches the signed grant.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.console import Console

from aas_models import Owner, asset_type_metadata

PASSWORD = "juice all the way down"  # demo only: printed so the reader can log in to the web UI


@dataclass
class PortalDemo:
    url: str
    process: subprocess.Popen[bytes]
    logins: dict[str, str]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _cli(data_dir: Path, *args: str) -> str:
    """Run ``abm-portal`` like an operator would; its last line is the result."""
    done = subprocess.run([sys.executable, "-m", "abm_portal", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"abm-portal {' '.join(args)} failed:\n{done.stderr or done.stdout}")
    return done.stdout.strip().splitlines()[-1]


def _raw_public_key(private: Ed25519PrivateKey | X25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _access_token(portal: httpx.Client, org: dict[str, str]) -> str:
    r = portal.post("/oauth/token", data={"grant_type": "client_credentials"},
                    auth=(org["client_id"], org["client_secret"]))
    _check(r, "token")
    return str(r.json()["access_token"])


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise SystemExit(f"portal refused {what}: {response.status_code} {response.text}")
    return response.json() if response.content else {}  # type: ignore[no-any-return]


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def run(console: Console, demo_dir: Path, pec_owner: Owner, port: int = 8700) -> PortalDemo:
    data_dir = demo_dir / "portal"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    password_file = data_dir / "demo-password.txt"
    password_file.write_text(PASSWORD)
    console.rule("[bold]ABM Portal: PEC and OMIS meet")
    _cli(data_dir, "init")
    orgs = {name: json.loads(_cli(data_dir, "org", "create", name, "--admin-email", email,
                                  "--admin-password-file", str(password_file)))
            for name, email in (("PEC", "admin@pec.example"), ("OMIS", "admin@omis.example"))}
    console.print(f"8. `abm-portal org create` registered PEC and OMIS, each with a connector client id "
                  f"({orgs['PEC']['client_id']}, {orgs['OMIS']['client_id']}) and a secret shown once")
    pec_admin_token = _cli(data_dir, "token", "create", "--user", "admin@pec.example")
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "abm_portal", "serve", "--data-dir", str(data_dir),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    demo = PortalDemo(url, process, {"admin@pec.example": PASSWORD, "admin@omis.example": PASSWORD})
    try:
        _wait_until_up(url, process)
        console.print(f"9. portal serving on {url}")
        _exchange(console, url, orgs, pec_admin_token, pec_owner)
    except BaseException:
        demo.stop()
        raise
    return demo


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the portal stopped: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the portal did not answer on {url} within 30 s; is the port taken?")


def _exchange(console: Console, url: str, orgs: dict[str, dict[str, str]], pec_admin_token: str,
              pec_owner: Owner) -> None:
    with httpx.Client(base_url=url, timeout=30) as portal:
        pec = {"Authorization": f"Bearer {_access_token(portal, orgs['PEC'])}"}
        omis = {"Authorization": f"Bearer {_access_token(portal, orgs['OMIS'])}"}
        for headers, port in ((pec, 9441), (omis, 9442)):
            _check(portal.put("/api/v1/connector", headers=headers, json={
                "endpointUrl": f"http://127.0.0.1:{port}", "signingKey": _raw_public_key(Ed25519PrivateKey.generate()),
                "encryptionKey": _raw_public_key(X25519PrivateKey.generate())}), "connector registration")
        console.print("10. both connectors registered their endpoint and public keys (Ed25519, X25519)")

        metadata = {k: v for k, v in asset_type_metadata("sales-order", pec_owner).items() if k != "id"}
        asset = _check(portal.post("/api/v1/assets", headers=pec, json={**metadata, "visibility": "public"}),
                       "publishing")
        console.print(f"11. PEC published '{asset['name']}' (type shell and submodel templates, no values)")

        found = _check(portal.get("/api/v1/assets", headers=omis, params={"q": "sales order"}), "search")["items"]
        now = datetime.now(UTC).replace(microsecond=0)
        request = _check(portal.post("/api/v1/subscriptions", headers=omis, json={
            "assetId": found[0]["id"], "mode": "realtime", "validFrom": now.isoformat(),
            "validTo": (now + timedelta(days=30)).isoformat()}), "subscription request")
        console.print(f"12. OMIS found it and asked for a real-time subscription, 30 days: {request['state']}")

        approved = _check(portal.post(f"/api/v1/subscriptions/{request['id']}/approve",
                                      headers={"Authorization": f"Bearer {pec_admin_token}"}), "approval")
        console.print(f"13. PEC's administrator approved it (personal access token): {approved['state']}")

        grant = _check(portal.get(f"/api/v1/subscriptions/{request['id']}/grant", headers=omis), "grant")
        token = next(v for k, v in grant.items() if isinstance(v, str) and v.count(".") == 2)
        claims = _claims(token)
        console.print(f"14. OMIS fetched the signed grant its connector will present to PEC's: mode "
                      f"{claims.get('mode')}, asset type {claims.get('assetType')}, valid {claims.get('validFrom')} "
                      f"to {claims.get('validTo')}")
