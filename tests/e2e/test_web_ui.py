"""The Temporal Web UI in a real browser: after a rollout, an operator finds it and sees what globalops set.

globalops puts a rollout's state where an operator looks: search attributes to find it, a static summary,
a current-details progress table and one child workflow per region. Other tests check the values handed to
the SDK; only a browser shows that the Web UI of the dev server we ship really renders them. Playwright
drives Debian's Chromium (`make test` installs it; Playwright's own browser download is never used) against
a dev environment of this module's own, whose topology is 4 of the shipped regions so that the rollout
takes seconds. Each step leaves a screenshot in test-artifacts/web-ui/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.helpers.cli_user import ROOT, User
from tests.helpers.ports import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# Headless on a machine without a GPU, a sandbox or a network beyond localhost.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "web-ui"
UI_TIMEOUT_MS = 15_000

SERVICE = "checkout"
RELEASE = "9.1.0"
WORKFLOW_ID = f"rollout:{SERVICE}"
WAVES = {"us-east-1": "core", "us-west-2": "core", "ca-central-1": "edge", "sa-east-1": "edge"}


def small_topology(path: Path) -> Path:
    """Write the shipped topology cut to the regions of WAVES, 2 instances each (2 batches: quicker)."""
    topology = yaml.safe_load((ROOT / "config" / "topology.yaml").read_text())
    topology["regions"] = [{**r, "instances": 2} for r in topology["regions"] if r["name"] in WAVES]
    assert {r["backup_region"] for r in topology["regions"]} <= set(WAVES)
    for wave in topology["waves"]:
        if "regions" in wave:
            wave["regions"] = [name for name in wave["regions"] if name in WAVES]
    path.write_text(yaml.safe_dump(topology, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def rolled_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    """A dev environment of its own (4 regions) after a successful rollout of checkout RELEASE."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it, or `apt-get install chromium`")
    home = tmp_path_factory.mktemp("web-ui-home")
    u = User(home, free_port())
    u.env["GLOBALOPS_TOPOLOGY"] = str(small_topology(tmp_path_factory.mktemp("web-ui") / "topology.yaml"))
    up = u.run("dev", "up", "--port", str(u.port), "--ui-port", str(u.ui_port), timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        code, result = u.json(
            "rollout", "start", "--service", SERVICE, "--release", RELEASE, "--wait", "--json"
        )
        assert code == 0 and result["status"] == "succeeded", result
        assert {r["region"]: r["wave"] for r in result["regions"]} == WAVES
        yield u
    finally:
        down = u.run("dev", "down", timeout=60)
        assert down.returncode == 0, down.stderr


@pytest.fixture
def page() -> Iterator[Page]:
    """A page of a headless system Chromium, closed after the test."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            tab.set_default_timeout(UI_TIMEOUT_MS)
            yield tab
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> None:
    """Save a full-page PNG of the current step in test-artifacts/web-ui/ and print where."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")


def open_list(page: Page, url: str, row: Locator) -> None:
    """Open the workflow list until the row shows: visibility may index the finished rollout a moment late."""
    for _ in range(4):
        page.goto(url)
        try:
            expect(row).to_have_count(1, timeout=4_000)
            return
        except AssertionError:
            continue  # the list does not refresh itself: load it again
    expect(row).to_have_count(1)


def test_rollout_is_found_by_search_attributes_and_shown_in_the_web_ui(rolled_out: User, page: Page) -> None:
    """List query on search attributes → rollout row → summary, progress table and per-region children."""
    try:
        check_web_ui(rolled_out, page)
    except BaseException:
        screenshot(page, "failed")
        raise


def check_web_ui(user: User, page: Page) -> None:
    """The four steps an operator takes, each asserted and screenshotted."""
    # 1. The workflow list, filtered by globalops' custom search attributes, finds the rollout.
    query = (
        f'GlobalopsOperation="rollout" AND GlobalopsService="{SERVICE}" AND GlobalopsRelease="{RELEASE}"'
        ' AND GlobalopsStatus="succeeded"'
    )
    row = page.get_by_test_id("workflows-summary-configurable-table-row").filter(has_text=WORKFLOW_ID)
    open_list(page, f"{user.web_ui}/namespaces/default/workflows?query={quote(query)}", row)
    expect(row).to_contain_text("RegionalRolloutWorkflow")
    expect(row).to_contain_text("Completed", ignore_case=True)
    screenshot(page, "1-list-by-search-attributes")

    # 2. Its page (the timeline) shows one child workflow per region, by the child's static summary.
    row.get_by_role("link", name=WORKFLOW_ID, exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/rollout%3Acheckout/[^/]+/timeline$"))
    for region, wave in WAVES.items():
        expect(page.get_by_text(f"{SERVICE} {RELEASE} → {region} ({wave} wave)", exact=True)).to_be_visible()
    screenshot(page, "2-timeline-children")

    # 3. User Metadata: the static summary and the current-details progress table (Markdown in iframes).
    page.get_by_test_id("user-metadata-tab").click()
    summary = page.frame_locator("#user-metadata-summary").locator("body")
    expect(summary).to_contain_text(f"rollout {SERVICE} {RELEASE} to {len(WAVES)} regions")
    details = page.frame_locator("#user-metadata-current-details")
    expect(details.locator("body")).to_contain_text(f"{SERVICE} → {RELEASE} · status succeeded · phase done")
    expect(details.get_by_role("columnheader")).to_have_text(
        ["Region", "Wave", "State", "Release", "Batches", "Detail"]
    )
    expect(details.locator("tbody tr")).to_have_count(len(WAVES))
    for region, wave in WAVES.items():
        progress = details.get_by_role("row", name=re.compile(rf"^{re.escape(region)} {wave} "))
        expect(progress).to_contain_text("succeeded")
        expect(progress).to_contain_text(RELEASE)
    screenshot(page, "3-summary-and-progress-table")

    # 4. Relationships: the rollout's children are the per-region workflows rollout:checkout/<region>.
    page.get_by_test_id("relationships-tab").click()
    expect(page.get_by_test_id("relationships-tab")).to_contain_text(str(len(WAVES)))
    # \x2f is `/`: Playwright's selector parser rejects a literal `/` inside a regular expression.
    children = page.get_by_role("link", name=re.compile(rf"^{re.escape(WORKFLOW_ID)}\x2f"))
    expect(children).to_have_count(len(WAVES))
    for region in WAVES:
        expect(page.get_by_role("link", name=f"{WORKFLOW_ID}/{region}", exact=True)).to_be_visible()
    screenshot(page, "4-relationships-children")
