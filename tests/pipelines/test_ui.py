"""The Dagster UI as a user opens it (`make dev`), in headless Chromium: the location's name, numbers
formatted, pictures inline as their own metadata entries, a check's status the same in its list and
its detail pane, a runnable quarantine query. Screenshots go to `LIQLEVELS_UI_SHOTS` (default
<exports>/ui/) for the README's gallery."""

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines.lib.paths import PROJECT_ROOT, exports_root
from tests.conftest import LEVEL_DAY
from tests.pipelines.browser import CHROMIUM_ARGS, DagsterDev, ensure_chromium, graphql
from tests.pipelines.dagster_helpers import run_range

pytestmark = pytest.mark.slow
DAYS = (LEVEL_DAY - dt.timedelta(days=1), LEVEL_DAY)


@pytest.fixture(scope="module")
def ui(bundled_warehouse, tmp_path_factory):
    """A persistent Dagster instance with a two-day single-run backfill of the whole graph, and `dg dev` on it."""
    chromium = ensure_chromium()
    root = tmp_path_factory.mktemp("ui")
    home, warehouse, exports = root / "dagster_home", root / "warehouse.duckdb", root / "exports"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "warehouse" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    shutil.copy(bundled_warehouse[0], warehouse)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = run_range(warehouse, ("ingest", "levels", "exports"), *DAYS, exports=exports, instance=instance)
    assert result.success
    server = DagsterDev(PROJECT_ROOT, {"DAGSTER_HOME": str(home), "LIQLEVELS_WAREHOUSE": str(warehouse),
                                       "LIQLEVELS_EXPORTS": str(exports)}, root / "dg_dev.log")
    try:
        locations = server.wait()
        yield server, locations, chromium, root
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(ui[2]), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shots() -> Path:
    folder = Path(os.environ.get("LIQLEVELS_UI_SHOTS") or exports_root() / "ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, ui, path: str):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(ui[0].base + path)
    page.wait_for_load_state("networkidle")
    skip = page.get_by_role("button", name="Skip")  # the first-visit community dialog
    try:
        skip.wait_for(timeout=4000)
        skip.click()
    except Exception:  # noqa: BLE001 - the dialog shows once per browser profile, or not at all
        pass
    return page
