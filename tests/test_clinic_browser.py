"""The clinic pages in a real headless Chromium: what a nurse does when paged."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from alerts.models import Alert
from tests.clinic_signin import authenticator_for, current_code
from tests.conftest import IN_CI
from tests.factories import PASSWORD, PatientFactory

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER) and not IN_CI,
        reason="Chromium and chromedriver are not installed here (.ci/run installs them)",
    ),
]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(20)  # a shared, loaded machine: generous, never a fixed sleep
    yield driver
    driver.quit()


def test_a_nurse_logs_in_opens_the_urgent_alert_and_acknowledges_it(
    browser, live_server, api, team, clinician, django_capture_on_commit_callbacks
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    device = authenticator_for(clinician)
    carla = PatientFactory(care_team=team, display_name="Carla")
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        "pain_now": 7,
        "red_flags": ["saddle_numbness"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert api(carla.user).post("/api/v1/diary/checkins/", body, format="json").status_code == 201

    browser.get(f"{live_server.url}/clinic/")
    browser.find_element(By.ID, "id_username").send_keys(clinician.username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    browser.find_element(By.ID, "id_code").send_keys(current_code(device))
    browser.find_element(By.ID, "verify").click()

    browser.find_element(By.LINK_TEXT, "Carla").click()
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart").is_displayed()
    browser.find_element(By.LINK_TEXT, "Red flag reported").click()
    browser.find_element(By.ID, "acknowledge").click()

    # The click posts and reloads: wait for the new page, not the old one's status.
    WebDriverWait(browser, 20).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "alert-status"), "Acknowledged")
    )
    assert Alert.objects.get(patient=carla).status == "acknowledged"
    shots = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "clinic-alert-acknowledged.png"))
