"""The reference case walked in a real browser (headless Chromium) against a live
server: submission, the working group's sign-offs, the LoA, registration, a
monitoring period with its data, verification, issuance with the first transfer
to Korea, and Korea's use, checking what each page shows. Screenshots of the
main screens are written to `out/screenshots/`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from web_support import load_accounting_and_finance

from article6.api.app import create_app
from article6.services.reference_workflow import DEMO_PASSWORD, load_people
from article6.store.database import make_engine
from article6.store.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
PROJECT = "VW-EMOTO-KHM"
STARTUP_LIMIT_S = 30.0

# A small monitoring dataset: every required record type, one odometer reading
# that cannot be read (quarantined with its reason, not lost).
DATASET = {
    "vehicles.csv": "vehicle_id,vin,plate,model,category,rated_power_kw,top_speed_kmh,"
    "battery_mode,owner_type,er_rights_signed_date,commission_date,decommission_date,"
    "decommission_reason,province\n"
    "V1,VIN0001,1A-0001,VW-E1,L1,3.0,45,swap,public_donation,2025-01-05,2025-01-10,,,Phnom Penh\n"
    "V2,VIN0002,1A-0002,VW-E1,L1,3.0,45,swap,private_sale,2025-01-05,2025-01-12,,,Siem Reap\n",
    "device_assignments.csv": "device_id,vehicle_id,valid_from,valid_to,odometer_offset_km\n"
    "D1,V1,2025-01-10T00:00:00Z,,0\nD2,V2,2025-01-12T00:00:00Z,,0\n",
    "odometer_readings.csv": "device_id,ts,odometer_km\n"
    "D1,2025-02-01T08:00:00Z,120.5\nD1,2025-03-01T08:00:00Z,980.0\n"
    "D2,2025-02-01T08:00:00Z,88.0\nD2,2025-03-01T08:00:00Z,not-a-number\n",
    "stations.csv": "station_id,kind,lat,lon,supply,commission_date,decommission_date,"
    "serves_non_project,other_programme_id\n"
    "S1,swap_cabinet,11.556,104.928,grid,2025-01-01,,false,\n",
    "meters.csv": "meter_id,station_id,role,accuracy_class_pct\nM1,S1,grid_import,1.0\n",
    "meter_readings.csv": "meter_id,ts,cumulative_kwh\n"
    "M1,2025-02-01T00:00:00Z,1000\nM1,2025-03-01T00:00:00Z,1650\n",
}


@dataclass(frozen=True)
class LiveServer:
    url: str


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """People, registries and the approach loaded; the rest happens in the browser."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'registry.db'}"
    engine = make_engine(url)
    upgrade(engine)
    cast = load_people(engine, folder / "keys")
    load_accounting_and_finance(engine, cast, folder)
    engine.dispose()
    app = create_app(url, folder / "keys")
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=STARTUP_LIMIT_S)
    sock.close()
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Session:
    """One person at the browser: their own context (cookies), in English."""

    def __init__(self, browser: Browser, server: LiveServer, user_id: str) -> None:
        self.server = server
        self.context = browser.new_context(
            base_url=server.url, viewport={"width": 1280, "height": 900}
        )
        self.context.add_cookies([{"name": "article6_locale", "value": "en", "url": server.url}])
        self.page: Page = self.context.new_page()
        self.page.goto("/login")
        self.page.fill("#user_id", user_id)
        self.page.fill("#password", DEMO_PASSWORD)
        self.page.click("button[type=submit]:has-text('Sign in')")
        expect(self.page.locator("h1")).to_have_text("Dashboard")
        expect(self.page.locator("header.top")).to_contain_text(f"({user_id})")

    def open_project(self) -> Page:
        self.page.goto(f"/projects/{PROJECT}")
        return self.page

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def _state(page: Page) -> str:
    return page.locator("#project-state").inner_text().strip()


def test_reference_case_in_the_browser(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    # The developer drafts the proposal and submits it.
    developer = Session(browser, live_server, "verywords-dev")
    page = developer.page
    page.click("text=Projects")
    page.click("text=New project proposal")
    page.fill("#project_id", PROJECT)
    page.fill("#title", "Electric motorcycles and battery swapping in Phnom Penh and Siem Reap")
    page.fill("#description", "E-motorcycles, charging units and battery-swap stations.")
    page.click("button:has-text('Save draft')")
    expect(page.locator(".flash")).to_contain_text(f"Draft {PROJECT} saved.")
    assert _state(page) == "Draft"
    expect(page.locator("dl.facts")).to_contain_text("680,000 t (2025–2034)")
    page.click("button:has-text('Submit for review')")
    expect(page.locator(".flash")).to_have_text("Project submitted for review.")
    assert _state(page) == "Submitted"

    # The secretariat opens the working group's review.
    coordinator = Session(browser, live_server, "khm-coordinator")
    expect(coordinator.page.locator("main")).to_contain_text(
        f"Open the working group review of {PROJECT}"
    )
    page = coordinator.open_project()
    page.click("button:has-text('Open the working group review')")
    assert _state(page) == "In review"
    expect(page.locator("#reviews")).to_contain_text("Waiting for sign-off")

    # Each working-group member signs off; the last one completes the review.
    members = ("khm-reviewer", "kor-motie", "gggi-reviewer", "kotra-reviewer", "kea-reviewer")
    for number, member in enumerate(members, start=1):
        reviewer = Session(browser, live_server, member)
        expect(reviewer.page.locator("main")).to_contain_text(f"Review and sign off {PROJECT}")
        page = reviewer.open_project()
        page.fill("#comment", "Methodology, totals and allocation ratios agreed.")
        if member == "gggi-reviewer":
            reviewer.shot("03-working-group-review")
        page.click("button:has-text('Sign off')")
        expect(page.locator(".flash")).to_contain_text("recorded.")
        waiting = page.locator("#reviews td:has-text('Waiting for sign-off')")
        expect(waiting).to_have_count(len(members) - number)
        assert page.locator("button:has-text('Sign off')").count() == 0
        assert _state(page) == ("Reviewed" if number == len(members) else "In review")
        reviewer.close()

    # The chair signs the Letter of Authorization.
    chair = Session(browser, live_server, "khm-chair")
    page = chair.open_project()
    page.fill("#authorization_id", "KHM-LOA-2025-001")
    page.fill("#authorization_date", "2025-07-18")
    page.fill("#entity_country", "KOR")
    page.fill("#entity_number", "KR-110111-0000000")
    page.fill("#terms", "Use towards Korea's NDC only.")
    page.click("button:has-text('Sign and issue')")
    expect(page.locator(".flash")).to_have_text("Letter of Authorization KHM-LOA-2025-001 issued.")
    assert _state(page) == "Authorized"
    expect(page.locator("section[aria-labelledby=loa-h] table")).to_contain_text("400,000")
    with page.expect_download() as download:
        page.click("a[href='/reports/loa/KHM-LOA-2025-001/1.pdf']")
    assert download.value.suggested_filename == "KHM-LOA-2025-001_v1.pdf"
    chair.close()

    # The secretariat registers the project in Cambodia's registry.
    page = coordinator.open_project()
    page.click("button:has-text('Register')")
    expect(page.locator(".flash")).to_have_text("Project registered.")
    assert _state(page) == "Registered"

    # The developer submits monitoring period 1 with its data.
    data_dir = tmp_path / "monitoring"
    data_dir.mkdir()
    for name, content in DATASET.items():
        (data_dir / name).write_text(content, encoding="utf-8")
    page = developer.open_project()
    page.fill("#start", "2025-01-01")
    page.fill("#end", "2025-12-31")
    page.fill("#reductions", "2025 = 68000")
    page.set_input_files("#data_files", sorted(str(p) for p in data_dir.iterdir()))
    page.click("button:has-text('Submit monitoring report')")
    expect(page.locator(".flash")).to_contain_text(
        "Monitoring period 1 submitted with its data: 12 rows read, 11 accepted, 1 quarantined."
    )
    report = page.locator("#upload-report")
    expect(report).to_contain_text("odometer_readings.csv")
    expect(report.locator("li")).to_have_count(1)
    developer.shot("04-monitoring-upload")
    expect(page.locator("#periods")).to_contain_text("68,000")

    # The secretariat assigns the verifier, who signs the statement.
    page = coordinator.open_project()
    page.select_option("#verifier-1", "IVB")
    page.click("button:has-text('Assign verifier')")
    expect(page.locator("#periods")).to_contain_text("Verifier assigned")
    verifier = Session(browser, live_server, "verifier")
    expect(verifier.page.locator("main")).to_contain_text(f"Verify period 1 of {PROJECT}")
    page = verifier.open_project()
    expect(page.locator("#verified-1")).to_have_value("2025 = 68000\n")
    page.fill("#opinion-1", "Reasonable assurance: reductions fairly stated.")
    page.click("button:has-text('Sign the verification statement')")
    expect(page.locator(".flash")).to_have_text("Period 1 verified.")
    expect(page.locator("#periods")).to_contain_text("Verified")
    verifier.close()

    # The developer requests issuance; Cambodia's registry issues and allocates.
    page = developer.open_project()
    page.click("button:has-text('Request issuance for period 1')")
    expect(page.locator("#periods")).to_contain_text("Issuance requested")
    registry = Session(browser, live_server, "khm-registry")
    page = registry.open_project()
    page.select_option("#issue-acquirer-1", "KOR01-HOLDING")
    page.fill("#issue-date-1", "2026-03-02")
    page.click("button:has-text('Issue units')")
    expect(page.locator(".flash")).to_have_text("68,000 t issued and allocated for period 1.")
    expect(page.locator("#periods")).to_contain_text("Issued")
    allocation = page.locator("section[aria-labelledby=periods-h]")
    expect(allocation.locator("tr", has_text="Acquiring Party")).to_contain_text("61,200")
    expect(allocation.locator("tr", has_text="Host Party")).to_contain_text("6,800")
    registry.shot("05-issuance")
    registry.close()
    developer.close()
    coordinator.close()

    # Korea sees the first transferred units and uses 10,000 t for 2030, after confirming.
    korea = Session(browser, live_server, "kor-motie")
    page = korea.page
    page.click("nav >> text=Registry")
    page.select_option("#registry_id", "KOR01")
    page.click("button:has-text('Show')")
    expect(page.locator("#holdings")).to_contain_text("CA0001-KHM01-KHM-6801-2025")
    expect(page.locator("#holdings")).to_contain_text("61,200")
    korea.shot("06-registry")
    page.click("a:has-text('Use towards an NDC')")
    page.select_option("#from_account", "KOR01-HOLDING")
    page.fill("#vintage", "2025")
    page.fill("#quantity_t", "10000")
    page.fill("#use_year", "2030")
    page.fill("#action_date", "2026-04-01")
    page.click("button:has-text('Review')")
    expect(page.locator("h1")).to_contain_text("Confirm")
    expect(page.locator("#confirm-quantity")).to_have_text("10,000")
    korea.shot("07-confirm-use")
    page.click("button:has-text('Confirm and record')")
    expect(page.locator(".flash")).to_contain_text("Use towards an NDC of 10,000 t recorded")
    expect(page.locator("#account-quantity")).to_have_text("51,200")
    expect(page.locator("#blocks")).to_contain_text("CA0001-KHM01-KHM-58000-2025")

    # Accounting and finance as Korea sees them.
    page.goto("/accounting?party=KOR&year=2026")
    expect(page.locator("#balance")).to_contain_text("10,000")
    expect(page.locator("#balance-chart svg polyline")).to_have_count(3)
    korea.shot("08-accounting")
    page.goto("/finance")
    expect(page.locator(".chart img")).to_have_count(2)
    korea.shot("09-finance")
    page.goto("/dashboard")
    korea.shot("02-dashboard")
    korea.close()

    # The public sees the totals and finds a used unit by its identifier.
    public = browser.new_context(base_url=live_server.url)
    public.add_cookies([{"name": "article6_locale", "value": "en", "url": live_server.url}])
    page = public.new_page()
    page.goto("/public")
    expect(page.locator("#vintage-totals")).to_contain_text("68,000")
    page.fill("#identifier", "CA0001-KHM01-KHM-60000-2025")
    page.click("button:has-text('Look up')")
    result = page.locator("#lookup-result")
    expect(result).to_contain_text("KOR01-NDC-USE")
    expect(result).to_contain_text("Used")
    expect(result).to_contain_text("used for 2030")
    page.screenshot(path=str(SCREENSHOTS / "10-public-lookup.png"), full_page=True)
    page.goto("/login")
    page.screenshot(path=str(SCREENSHOTS / "01-login.png"), full_page=True)
    public.close()


def test_pages_in_korean_and_khmer(browser: Browser, live_server: LiveServer) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The switcher (applied on change by the page's script) chooses Korean.
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    page = context.new_page()
    page.goto("/public")
    expect(page.locator("h1")).to_have_text("Public registry")
    page.select_option("#locale-select", "ko")
    expect(page.locator("h1")).to_have_text("공개 등록부")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    page.screenshot(path=str(SCREENSHOTS / "11-public-ko.png"), full_page=True)
    context.close()
    # A browser asking for Khmer gets Khmer.
    context = browser.new_context(base_url=live_server.url, locale="km")
    page = context.new_page()
    page.goto("/public")
    expect(page.locator("h1")).to_have_text("បញ្ជីឈ្មោះសាធារណៈ")
    expect(page.locator("#lookup-h")).to_have_text("ស្វែងរកឯកតា")
    page.screenshot(path=str(SCREENSHOTS / "12-public-km.png"), full_page=True)
    context.close()
