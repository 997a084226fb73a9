"""deploy/prometheus: the pilot's scrape configuration is valid for promtool, and every alert rule has a summary and
passes a unit test where it fires and one where it stays quiet (promtool test rules)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.prometheus import PROMTOOL, require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PILOT_SERVICES = {"aadsys", "abm-portal", "pec-shop", "omis-line"}


def promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run([require(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_the_scrape_configuration_is_valid_with_its_token_files_in_place(tmp_path: Path) -> None:
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    for job in load("prometheus.yml")["scrape_configs"]:
        token = tmp_path / job["authorization"]["credentials_file"]  # relative to the configuration file
        token.parent.mkdir(exist_ok=True)
        token.write_text("a-metrics-token\n")
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_every_server_of_the_pilot_is_scraped_with_a_bearer_token() -> None:
    jobs = load("prometheus.yml")["scrape_configs"]
    services = {target["labels"]["service"] for job in jobs for target in job["static_configs"]}
    companies = {target["labels"].get("company") for job in jobs for target in job["static_configs"]}
    assert services == PILOT_SERVICES and {"pec", "omis"} <= companies
    assert all(job["authorization"]["credentials_file"] for job in jobs)


def test_the_alert_rules_pass_their_unit_tests() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml", cwd=DEPLOY)


def test_every_alert_has_a_summary_and_a_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    rules = [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]
    cases = [case for test in load("alerts.test.yml")["tests"] for case in test["alert_rule_test"]]
    for rule in rules:
        assert len(rule["annotations"]["summary"]) > 60, f"{rule['alert']}: the summary must say what to do"
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} has no test where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} has no test where it stays quiet"
    named = {rule["alert"] for rule in rules}
    assert {"ConsumerFallingBehind", "DeliveryExpired", "ForgeryAttempts", "PortalUnreachable",
            "ChannelDownWhileActive", "NotReady", "StationFailureRate", "OeeLow"} <= named
