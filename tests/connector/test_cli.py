"""``aadsys connector …`` as an operator reads it: whole ids and times to copy, the portal's own state names, "none"
when there is nothing, the reasons of rejections and failures, defaults in ``--help``, and errors that name their
cause in the flags' words. Every command also answers ``--json``.

One portal on a real uvicorn (in this process) and three members made as ``aadsys init`` leaves them: PEC publishes,
OMIS subscribes (a real-time subscription, a historical one whose transfer the portal completed, one rejected), and
an idle member with nothing at all. The commands run in-process (typer's runner); ``tests/e2e`` runs them as
processes. How fast they answer is measured by ``bench/cli.py``, not here.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from aadsys.cli import app
from aadsys.config import write_config_file
from aadsys.core.db import Database
from aadsys.metrics import Metrics
from abm_portal.app import create_app
from abm_portal.cli import app as portal_app
from abm_portal.cli import prepare
from abm_portal.config import Settings as PortalSettings
from abm_portal.services import organisations, personal_tokens, users
from connector import _operations
from connector._metrics import ConnectorMetrics
from connector._refusals import Refusals
from connector.codes import Code
from connector.control._ledger import Ledger
from connector.data._history import HistoryJobs
from connector.data._states import HistoryState
from connector.spi import Role
from tests.support.databases import AadsysTemplates
from tests.support.live_server import live_server, loopback_client

runner = CliRunner()
PASSWORD = "correct horse battery staple"
REASON = "we supply OMIS through a reseller"
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@dataclass
class Org:
    name: str
    org_id: str
    admin_token: str
    client_id: str
    client_secret: str
    data_dir: Path


@dataclass
class Chain:
    portal_url: str
    pec: Org
    omis: Org
    idle: Org
    asset_id: str
    realtime: str
    historical: str
    rejected: str


def cli(*args: str, ok: bool = True) -> Any:
    """``aadsys <args>`` in this process; with ``ok``, it must exit 0."""
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, (args, result.output)
    return result


def last_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, aadsys_templates: AadsysTemplates) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("cli")
    settings = PortalSettings(data_dir=root / "portal", database_url=f"sqlite:///{root / 'portal.db'}")
    prepare(settings, make_kek=True)
    portal = create_app(settings)
    with live_server(portal) as url:
        orgs = [_join(url, portal.state.portal.database, aadsys_templates, root, name)
                for name in ("PEC", "OMIS", "Idle")]
        yield _subscribe(url, *orgs)


def _join(url: str, database: Any, templates: AadsysTemplates, root: Path, name: str) -> Org:
    """``name`` registered at the portal, and its AAdSys as ``aadsys init --portal-url …`` leaves it."""
    run = uuid.uuid4().hex[:6]
    with database.session() as db:
        org, admin, secret = organisations.register_organisation(
            db, name=f"{name} {run}", description="", admin_email=f"admin-{run}@{name.lower()}.example",
            admin_password=PASSWORD)
        token = personal_tokens.create_personal_token(db, users.actor_for_user(db, admin), "tests")
    data_dir = root / name.lower()
    (root / f"{name}-secret").write_text(secret)
    slug = name.lower()
    write_config_file(templates.settings(data_dir, slug, f"https://{slug}.example", portal_url=url,
                                         client_id=org.client_id, client_secret_file=root / f"{name}-secret"))
    return Org(org.name, org.id, token, org.client_id, secret, data_dir)


def _subscribe(url: str, pec: Org, omis: Org, idle: Org) -> Chain:
    """PEC publishes Sales Orders; OMIS asks three times; PEC approves two and rejects one; the historical
    transfer is completed at the portal; OMIS's connector keeps what it saw (its ledger, its transfer job)."""
    published = cli("connector", "publish", "--type", "sales-order", "--data-dir", str(pec.data_dir)).stdout
    asset_id = published.split()[-1]
    ask = ("connector", "request", "--asset", asset_id, "--data-dir", str(omis.data_dir))
    realtime = cli(*ask).stdout.strip().splitlines()[-1]
    moment = datetime.now(UTC).replace(microsecond=0)
    historical = cli(*ask, "--mode", "historical", "--from", (moment - timedelta(days=1)).isoformat(),
                     "--to", moment.isoformat()).stdout.strip().splitlines()[-1]
    rejected = cli(*ask).stdout.strip().splitlines()[-1]
    with loopback_client(base_url=url, headers={"Authorization": f"Bearer {pec.admin_token}"}) as admin:
        for sub_id in (realtime, historical):
            admin.post(f"/api/v1/subscriptions/{sub_id}/approve").raise_for_status()
        admin.post(f"/api/v1/subscriptions/{rejected}/reject", json={"reason": REASON}).raise_for_status()
        seen = {s["id"]: s for s in admin.get("/api/v1/subscriptions").raise_for_status().json()["items"]}
    transfer = seen[historical]["transfer"]["id"]
    for side, org in (("provider", pec), ("consumer", omis)):
        with loopback_client(base_url=url) as client:
            token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                auth=(org.client_id, org.client_secret)).raise_for_status().json()["access_token"]
            client.post(f"/api/v1/transfers/{transfer}/reports", json={"side": side, "count": 2, "digest": "sha256:a"},
                        headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    db = Database(f"sqlite:///{omis.data_dir / 'aadsys.db'}")
    try:
        for sub_id in (realtime, historical, rejected):
            Ledger(db).upsert(seen[sub_id], Role.CONSUMER, omis.org_id)
        jobs = HistoryJobs(db)
        jobs.open(historical, Role.CONSUMER, moment - timedelta(days=1), moment)
        jobs.set_total(historical, 2)
        jobs.move(historical, HistoryState.FINISHED, count=2, digest="sha256:a")
        jobs.move(historical, HistoryState.REPORTED)
        Refusals(db, ConnectorMetrics(Metrics())).record(Code.BAD_SIGNATURE, "a forged message", side=Role.CONSUMER,
                                                          subscription_id=realtime)
    finally:
        db.dispose()
    return Chain(url, pec, omis, idle, asset_id, realtime, historical, rejected)


def test_status_shows_whole_ids_and_times_the_reason_of_a_rejection_and_refusals(chain: Chain) -> None:
    shown = cli("connector", "status", "--data-dir", str(chain.omis.data_dir)).stdout
    rows = {line.split()[0]: line for line in shown.splitlines() if UUID.match(line)}
    assert set(rows) == {chain.realtime, chain.historical, chain.rejected}, shown
    assert re.match(rf"{chain.rejected} +consumer +{re.escape(chain.pec.name)} +sales-order +realtime +rejected ",
                    rows[chain.rejected]) and rows[chain.rejected].rstrip().endswith(REASON), shown
    assert re.search(r" \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", rows[chain.realtime]), shown
    assert "…" not in shown and f"refused: {Code.BAD_SIGNATURE} 1" in shown

    report = last_json("connector", "status", "--data-dir", str(chain.omis.data_dir))
    by_id = {s["id"]: s for s in report["subscriptions"]}
    assert by_id[chain.rejected]["reason"] == REASON and by_id[chain.rejected]["state"] == "rejected"
    assert by_id[chain.historical]["history"]["state"] == "reported"
    assert report["refused"] == {Code.BAD_SIGNATURE: 1}


def test_subscriptions_show_whole_ids_the_portal_states_and_the_rejection_reason(chain: Chain) -> None:
    shown = cli("connector", "subscriptions", "--data-dir", str(chain.omis.data_dir)).stdout
    rows = {line.split()[0]: line for line in shown.splitlines() if UUID.match(line)}
    assert {chain.realtime, chain.historical, chain.rejected} <= set(rows), shown
    assert re.search(rf" realtime +rejected +\S+Z +\S+Z +– +{REASON}$", rows[chain.rejected].rstrip()), shown
    assert re.search(r" historical +completed +\S+Z +\S+Z +completed ", rows[chain.historical]), shown
    assert "…" not in shown
    listed = {s["id"]: s for s in last_json("connector", "subscriptions", "--data-dir", str(chain.omis.data_dir))}
    assert listed[chain.rejected]["reason"] == REASON


def test_with_the_portal_down_subscriptions_show_what_the_connector_last_saw(chain: Chain) -> None:
    down = {"AADSYS_PORTAL_URL": "http://127.0.0.1:9"}  # nothing listens on the discard port
    listed = runner.invoke(app, ["connector", "subscriptions", "--data-dir", str(chain.omis.data_dir)], env=down)
    assert listed.exit_code == 0 and "the portal is unreachable" in listed.stderr, listed.output
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if UUID.match(line)}
    assert set(rows) == {chain.realtime, chain.historical, chain.rejected} and REASON in rows[chain.rejected]
    (job,) = json.loads(runner.invoke(app, ["connector", "transfers", "--json", "--data-dir",
                                            str(chain.omis.data_dir)], env=down).stdout)
    assert (job["state"], job["connectorState"]) == (None, "reported")  # unknown at the portal, not made up
    status = runner.invoke(app, ["connector", "status", "--data-dir", str(chain.omis.data_dir)], env=down).stdout
    assert "portal http://127.0.0.1:9 unreachable" in status


def test_transfers_show_the_portal_state_beside_the_connectors_own(chain: Chain) -> None:
    shown = cli("connector", "transfers", "--data-dir", str(chain.omis.data_dir)).stdout
    assert re.search(rf"^{chain.historical} +consumer +completed +reported to the portal +0/2 ", shown, re.M), shown
    (job,) = last_json("connector", "transfers", "--data-dir", str(chain.omis.data_dir))
    assert (job["subscription"], job["state"], job["connectorState"], job["total"]) == (
        chain.historical, "completed", "reported", 2)


def test_transfers_followed_in_a_terminal_end_when_the_portal_says_so(chain: Chain,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(_operations, "out", Console(file=screen, force_terminal=True, width=160))
    cli("connector", "transfers", "--timeout", "10", "--data-dir", str(chain.omis.data_dir))
    assert f"{chain.historical} consumer" in screen.getvalue() and "completed (reported to the portal)" in \
        screen.getvalue()


def test_every_command_answers_json(chain: Chain) -> None:
    omis, pec = str(chain.omis.data_dir), str(chain.pec.data_dir)
    assert last_json("connector", "status", "--data-dir", omis)["org"] == "omis"
    assert {s["id"] for s in last_json("connector", "subscriptions", "--data-dir", omis)} >= {chain.realtime}
    assert [a["id"] for a in last_json("connector", "catalog", "sales", "--data-dir", omis)] == [chain.asset_id]
    assert last_json("connector", "transfers", "--data-dir", omis)[0]["subscription"] == chain.historical
    assert last_json("connector", "publish", "--type", "sales-order", "--data-dir", pec) == {
        "sales-order": chain.asset_id}
    made = last_json("connector", "request", "--asset", chain.asset_id, "--data-dir", omis)
    assert made["state"] == "requested" and UUID.fullmatch(made["id"])


def test_nothing_to_show_says_none(chain: Chain) -> None:
    idle = str(chain.idle.data_dir)
    assert cli("connector", "subscriptions", "--data-dir", idle).stdout.startswith("subscriptions: none")
    assert cli("connector", "transfers", "--data-dir", idle).stdout.startswith("transfers: none")
    assert "subscriptions: none" in cli("connector", "status", "--data-dir", idle).stdout
    assert cli("connector", "catalog", "no such words", "--data-dir", idle).stdout.startswith(
        "catalog: none matches 'no such words'")


def test_a_historical_request_without_dates_says_it_asks_for_the_last_30_days(chain: Chain) -> None:
    helped = _words(cli("connector", "request", "--help").stdout)
    assert "historical: 30 days before --to" in helped and "historical: now" in helped
    asked = cli("connector", "request", "--asset", chain.asset_id, "--mode", "historical", "--data-dir",
                str(chain.omis.data_dir))
    said = asked.stderr
    assert "(by default --to now and --from 30 days before --to)" in said, said
    start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in re.findall(r"\S+Z\b", said)[:2])
    assert end - start == timedelta(days=30)


def test_a_reversed_range_is_explained_in_the_flags_words(chain: Chain) -> None:
    refused = cli("connector", "request", "--asset", chain.asset_id, "--mode", "historical", "--from",
                  "2026-11-10T00:00:00Z", "--to", "2026-11-01T00:00:00Z", "--data-dir", str(chain.omis.data_dir),
                  ok=False)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "--from 2026-11-10T00:00:00Z is after --to 2026-11-01T00:00:00Z" in " ".join(refused.output.split())
    assert "Valid to" not in refused.output


def test_an_unknown_asset_is_a_refusal_that_points_to_the_catalog(chain: Chain) -> None:
    refused = cli("connector", "request", "--asset", "no-such-asset", "--data-dir", str(chain.omis.data_dir), ok=False)
    assert refused.exit_code == 1 and "aadsys connector catalog" in refused.output, refused.output


def test_a_missing_data_dir_is_named_as_such(tmp_path: Path) -> None:
    for command in ("status", "subscriptions", "transfers", "catalog"):
        refused = cli("connector", command, "--data-dir", str(tmp_path / "nope"), ok=False)
        said = " ".join(refused.output.split())
        assert refused.exit_code == 2 and f"the data directory {tmp_path / 'nope'} does not exist" in said, said
        assert "portal member" not in said


def _words(help_text: str) -> str:
    """Help as one line of words: without the box rich draws around it and the line breaks inside the box."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_text).split())


def _commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))
    else:
        yield path, group


@pytest.mark.parametrize("cli_app", [app, portal_app], ids=["aadsys", "abm-portal"])
def test_help_shows_every_option_and_default_as_written(cli_app: typer.Typer) -> None:
    """Help text in square brackets is rich markup to typer, and vanished from --help: defaults go in
    ``show_default``, which typer prints itself."""
    lost = [f"{' '.join(path)} {param.name}" for path, command in _commands(typer.main.get_command(cli_app))
            for param in command.params if "[" in (getattr(param, "help", None) or "")]
    assert not lost
    helped = _words(runner.invoke(cli_app, ["keys", "rotate" if cli_app is portal_app else "list", "--help"]).stdout)
    assert ("default: (./portal-data)" if cli_app is portal_app else "default: (./data/aadsys)") in helped


# -- revoke ----------------------------------------------------------------------------------------------------------

def _provided(chain: Chain) -> str:
    """A fresh real-time subscription OMIS asked for and PEC approved, in PEC's ledger as its last round left it."""
    made = last_json("connector", "request", "--asset", chain.asset_id, "--data-dir", str(chain.omis.data_dir))
    with loopback_client(base_url=chain.portal_url,
                         headers={"Authorization": f"Bearer {chain.pec.admin_token}"}) as admin:
        approved = admin.post(f"/api/v1/subscriptions/{made['id']}/approve").raise_for_status().json()
    db = Database(f"sqlite:///{chain.pec.data_dir / 'aadsys.db'}")
    try:
        Ledger(db).upsert(approved, Role.PROVIDER, chain.pec.org_id)
    finally:
        db.dispose()
    return str(made["id"])


def _at_portal(chain: Chain, subscription_id: str) -> dict[str, Any]:
    with loopback_client(base_url=chain.portal_url,
                         headers={"Authorization": f"Bearer {chain.omis.admin_token}"}) as api:
        return dict(api.get(f"/api/v1/subscriptions/{subscription_id}").raise_for_status().json())


def test_revoke_ends_a_subscription_here_then_at_the_portal(chain: Chain) -> None:
    pec = str(chain.pec.data_dir)
    sub = _provided(chain)
    done = last_json("connector", "revoke", sub, "--reason", "the contract ended", "--data-dir", pec)
    assert (done["id"], done["state"], done["reason"], done["revokedBefore"], done["channelClosed"]) == (
        sub, "revoked", "the contract ended", False, True)
    assert done["portal"] == {"told": True, "state": "revoked", "error": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", done["revokedAt"]) and chain.omis.name in \
        done["consumer"]
    seen = _at_portal(chain, sub)  # the portal's own revocation: its state machine, audit trail and feed
    assert (seen["state"], seen["reason"]) == ("revoked", "the contract ended")
    here = {s["id"]: s for s in last_json("connector", "status", "--data-dir", pec)["subscriptions"]}[sub]
    assert here["state"] == "revoked" and here["revokedHere"]["portalToldAt"] is not None

    again = cli("connector", "revoke", sub, "--data-dir", pec)  # twice: says so, changes nothing
    assert again.stdout.strip().splitlines()[-1] == sub and "was revoked here already" in again.stderr


def test_revoke_with_the_portal_away_holds_here_and_is_told_later(chain: Chain) -> None:
    pec = str(chain.pec.data_dir)
    sub = _provided(chain)
    away = runner.invoke(app, ["connector", "revoke", sub, "--json", "--data-dir", pec],
                         env={"AADSYS_PORTAL_URL": "http://127.0.0.1:9"})
    assert away.exit_code == 0, away.output
    done = json.loads(away.stdout.strip().splitlines()[-1])
    assert done["state"] == "revoked" and done["portal"]["told"] is False
    assert "the portal is unreachable" in done["portal"]["error"], done
    assert _at_portal(chain, sub)["state"] == "approved"
    shown = runner.invoke(app, ["connector", "status", "--data-dir", pec], env={"AADSYS_PORTAL_URL": "http://127.0.0.1:9"})
    line = next(line for line in shown.stdout.splitlines() if line.startswith(sub))
    assert " revoked " in line and "revoked here, not yet told to the portal" in " ".join(shown.stdout.split())

    said = cli("connector", "revoke", sub, "--data-dir", pec).stderr  # what the running connector does each round
    assert "was revoked here already" in said and "the portal has it too: revoked" in said
    assert _at_portal(chain, sub)["state"] == "revoked"


def test_revoke_as_consumer_or_of_an_unknown_id_is_refused_with_the_cause(chain: Chain) -> None:
    as_consumer = cli("connector", "revoke", chain.realtime, "--data-dir", str(chain.omis.data_dir), ok=False)
    said = " ".join(as_consumer.output.split())
    assert as_consumer.exit_code == 1 and "this connector is its consumer, and only the provider revokes" in said, said
    assert "cancel it at the portal" in said and "Traceback" not in as_consumer.output
    assert _at_portal(chain, chain.realtime)["state"] != "revoked"

    unknown = cli("connector", "revoke", "no-such-subscription", "--data-dir", str(chain.pec.data_dir), ok=False)
    said = " ".join(unknown.output.split())
    assert unknown.exit_code == 2 and "knows no subscription no-such-subscription" in said, said
    assert "aadsys connector subscriptions" in said
