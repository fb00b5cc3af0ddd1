"""The Temporal Web UI in a real browser: after a rollout, an operator finds it and sees what globalops set.

globalops puts a rollout's state where an operator looks: search attributes to find it (and, set up as
docs/observability.md says, to read it in the list), a static summary, a current-details progress table
whose columns stay apart, and one child workflow per region. Other tests check the values handed to the
SDK; only a browser shows that the Web UI of the dev server we ship really renders them. Playwright
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
        # `dev up --ui-port` recorded the Web UI: the links follow it with no GLOBALOPS_WEB_UI set
        assert "GLOBALOPS_WEB_UI" not in u.env
        assert (
            result["web_ui_url"]
            == f"http://localhost:{u.ui_port}/namespaces/default/workflows/rollout%3Acheckout"
        )
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
    """The five steps an operator takes, each asserted and screenshotted."""
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

    # 2. Set up as docs/observability.md says (columns, then a saved view), the row reads at a glance.
    set_up_the_list_as_documented(page, f"{user.web_ui}/namespaces/default/workflows")
    row = page.get_by_test_id("workflows-summary-configurable-table-row").filter(has_text=WORKFLOW_ID)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(re.compile(rf"{SERVICE}\s+{re.escape(RELEASE)}\s+succeeded\s+rollout"))
    expect(page.get_by_test_id("workflows-summary-configurable-table-row")).to_have_count(1)  # no children
    screenshot(page, "2-list-at-a-glance")

    # 3. Its page (the timeline) shows one child workflow per region, by the child's static summary.
    row.get_by_role("link", name=WORKFLOW_ID, exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/rollout%3Acheckout/[^/]+/timeline$"))
    for region, wave in WAVES.items():
        expect(page.get_by_text(f"{SERVICE} {RELEASE} → {region} ({wave} wave)", exact=True)).to_be_visible()
    screenshot(page, "3-timeline-children")

    # 4. User Metadata: the static summary and the current-details progress table (Markdown in iframes).
    page.get_by_test_id("user-metadata-tab").click()
    summary = page.frame_locator("#user-metadata-summary").locator("body")
    expect(summary).to_contain_text(f"rollout {SERVICE} {RELEASE} to {len(WAVES)} regions")
    details = page.frame_locator("#user-metadata-current-details")
    expect(details.locator("body")).to_contain_text(f"{SERVICE} → {RELEASE} · status succeeded · phase done")
    headers = ["Region", "Wave", "State", "Release", "Batches", "Detail"]
    expect(details.get_by_role("columnheader")).to_have_text([re.compile(rf"^{h}\s*$") for h in headers])
    rows = details.locator("tbody tr")
    expect(rows).to_have_count(len(WAVES))
    # in topology order (core, then edge), each state a word: no emoji to show as an empty box
    expect(rows.locator("td:first-child")).to_have_text([re.compile(rf"^{r}\s*$") for r in WAVES])
    for index, (region, wave) in enumerate(WAVES.items()):
        cells = rows.nth(index).locator("td")
        expect(cells.nth(1)).to_have_text(re.compile(rf"^{wave}\s*$"))
        expect(cells.nth(2)).to_have_text(re.compile(r"^succeeded\s*$"))
        expect(cells.nth(3)).to_have_text(re.compile(rf"^{re.escape(RELEASE)}\s*$"))
        for column in range(3):  # the text of each cell ends well before the next cell's begins
            assert gap_after_text(cells.nth(column)) >= MIN_COLUMN_GAP_PX, (region, headers[column])
    screenshot(page, "4-summary-and-progress-table")

    # 5. Relationships: the rollout's children are the per-region workflows rollout:checkout/<region>.
    page.get_by_test_id("relationships-tab").click()
    expect(page.get_by_test_id("relationships-tab")).to_contain_text(str(len(WAVES)))
    # \x2f is `/`: Playwright's selector parser rejects a literal `/` inside a regular expression.
    children = page.get_by_role("link", name=re.compile(rf"^{re.escape(WORKFLOW_ID)}\x2f"))
    expect(children).to_have_count(len(WAVES))
    for region in WAVES:
        expect(page.get_by_role("link", name=f"{WORKFLOW_ID}/{region}", exact=True)).to_be_visible()
    screenshot(page, "5-relationships-children")


# The pixels between the end of a cell's text and the start of the next cell's: the Web UI of the dev
# server pads no table cell, so without the em space closing each cell this was 0 ("ca-central-1edge").
MIN_COLUMN_GAP_PX = 6
_GAP_JS = """cell => {
    const text = document.createRange();
    text.selectNodeContents(cell);
    const node = cell.lastChild;
    text.setEnd(node, node.textContent.trimEnd().length);
    const next = document.createRange();
    next.selectNodeContents(cell.nextElementSibling);
    return next.getBoundingClientRect().left - text.getBoundingClientRect().right;
}"""


def gap_after_text(cell: Locator) -> float:
    """How far the next cell's text starts after the end of this cell's text, in CSS pixels."""
    gap: float = cell.evaluate(_GAP_JS)
    return gap


def set_up_the_list_as_documented(page: Page, workflows_url: str) -> None:
    """docs/observability.md, "The workflow list at a glance": columns, then a saved view of the query."""
    page.goto(f"{workflows_url}?query={quote('GlobalopsOperation IS NOT NULL')}")
    page.get_by_test_id("workflows-summary-table-configuration-button").click()  # Configure Columns
    for column in ("Run ID", "Type", "Start", "End"):
        page.get_by_test_id(f"orderable-list-item-{column}-remove-button").click()
    for column in ("GlobalopsService", "GlobalopsRelease", "GlobalopsStatus", "GlobalopsOperation"):
        page.get_by_test_id(f"orderable-list-item-{column}-add-button").click()
    page.get_by_test_id("drawer-close-button").click()
    page.get_by_test_id("create-view-button").click()  # Save as New
    page.get_by_test_id("workflow-save-view-modal-input").fill("globalops")
    page.get_by_role("button", name="Save", exact=True).click()
    page.goto(workflows_url)  # then, any time later: Saved Views → globalops
    page.get_by_test_id("saved-views-button").click()
    page.get_by_text("globalops", exact=True).click()
    expect(page).to_have_url(re.compile(r"query=GlobalopsOperation(%20|\+)IS(%20|\+)NOT(%20|\+)NULL"))
