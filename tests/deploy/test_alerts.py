"""The alert rules and the Grafana dashboard name metrics the app exports, and the readiness the
rules watch is the app's own.

`promtool check rules` / `promtool test rules` (`make alerts`, part of `make test`) test the rules'
logic on synthetic series; this checks they watch real series: a renamed metric would leave a
rule silently quiet for ever.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2 as httpx
import yaml

from sandbox.embedded import ManagedServer, start_redis
from tests.api.test_metrics import key, scrape, scrape_until
from tests.servers import RunningApp, serve, test_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "enrollwire.json"
SUFFIXES = ("_bucket", "_count", "_sum")


def metric_names(exprs: list[str]) -> set[str]:
    names = {name for expr in exprs for name in re.findall(r"\benrollwire_\w+", expr)}
    return {next((n.removesuffix(s) for s in SUFFIXES if n.endswith(s)), n) for n in names}


def watched_metrics() -> set[str]:
    rules = yaml.safe_load(RULES.read_text())
    return metric_names([rule["expr"] for group in rules["groups"] for rule in group["rules"]])


def charted_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return metric_names([target["expr"] for panel in dashboard["panels"] for target in panel["targets"]])


async def test_every_watched_metric_is_exported(running: RunningApp, http: httpx.AsyncClient) -> None:
    text = (await http.get("/metrics")).text
    exported = set(re.findall(r"^# TYPE (\w+) ", text, flags=re.MULTILINE))
    # Counters are declared without their _total suffix.
    exported |= {f"{name}_total" for name in exported}
    watched = watched_metrics()
    assert len(watched) == 6, watched  # the parse found them all
    assert watched <= exported, watched - exported
    charted = charted_metrics()
    assert watched <= charted, watched - charted  # the dashboard shows every alert's signal
    assert charted <= exported, charted - exported


async def test_ready_gauge_follows_readiness(mongo_server: ManagedServer, tmp_path: Path) -> None:
    redis = start_redis(tmp_path / "redis")
    try:
        async with (
            serve(test_settings(mongo_server.url, redis.url, job_workers=0)) as app,
            httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        ):
            assert (await scrape(http))[key("enrollwire_ready")] == 1
            redis.stop()
            down = await scrape_until(http, lambda s: s[key("enrollwire_ready")] == 0)
            assert down[key("enrollwire_ready")] == 0
            assert (await http.get("/readyz")).status_code == 503
    finally:
        redis.stop()
