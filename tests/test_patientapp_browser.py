"""The patient app in a real headless Chromium on a 360 x 740 phone screen.

Stories: a patient enrolls from the QR's fragment URL, logs a check-in and sees it in
history; a red flag shows the safety message before any network answer, and the nurse
then sees the urgent alert; with the network cut the app reloads from its cache, keeps
three entries waiting and sends each exactly once when the network is back; a
caregiver's entry and a retraction made elsewhere reach the patient's phone. Every
screen is checked with axe-core in English and Italian, and photographed under
var/screenshots/app/ (SCREENSHOT_DIR overrides var/screenshots).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation

from alerts import texts
from alerts.models import Alert, Notification
from care import services
from care.models import Role, User
from diary.models import CheckIn
from tests.browser import CHROMEDRIVER, CHROMIUM, start_chromium
from tests.conftest import IN_CI, client_for, needs_service
from tests.factories import PASSWORD, CaregiverLinkFactory, ClinicianFactory, PatientFactory
from tests.reliability_helpers import database_url, postgres_in_use, wait_until

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots")) / "app"
STRONG = "a-long-unusual-passphrase-42"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER) and not IN_CI,
        reason="Chromium and chromedriver are not installed here (.ci/run installs them)",
    ),
]


@pytest.fixture
def phone():
    driver = start_chromium(window=(360, 740), prefs={"intl.accept_languages": "en-GB,en"})
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": True},
    )
    driver.execute_cdp_cmd("Network.enable", {})
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


# --- What a person does -------------------------------------------------------------------


def wait(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def text_of(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def see(driver, text: str, timeout=30) -> None:
    wait(driver, lambda d: text in text_of(d), timeout)


def press(driver, css: str) -> None:
    from selenium.webdriver.common.by import By

    element = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, css))
    wait(driver, lambda d: element.is_enabled())
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def press_text(driver, text: str) -> None:
    """The button, link or option whose visible text is `text`."""
    xpath = (
        f"//*[self::button or self::a or self::label][normalize-space(.)={json.dumps(text)}]"
        f" | //label[.//span[normalize-space(.)={json.dumps(text)}]]"
    )
    from selenium.webdriver.common.by import By

    element = wait(driver, lambda d: d.find_element(By.XPATH, xpath))
    wait(driver, lambda d: element.is_enabled())
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def type_into(driver, field_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    element = wait(driver, lambda d: d.find_element(By.ID, field_id))
    element.clear()
    element.send_keys(text)


def offline(driver, cut: bool) -> None:
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": cut, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    # The page learns it at once, as a phone losing its signal does.
    driver.execute_script(f"window.dispatchEvent(new Event('{'offline' if cut else 'online'}'))")


def log_in(driver, url: str, username: str, password: str = PASSWORD) -> None:
    driver.get(f"{url}/app/#/login")
    type_into(driver, "field-username", username)
    type_into(driver, "field-password", password)
    press(driver, "button[type=submit]")
    see(driver, "Your diary")


def shell_cached(driver) -> None:
    """The service worker is installed, controls the page and holds the shell."""
    wait(
        driver,
        lambda d: (
            d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "navigator.serviceWorker.ready.then(async () => {"
                "  const names = await caches.keys();"
                "  done(Boolean(navigator.serviceWorker.controller) && names.some(n => n.startsWith('crossroad-shell-')));"
                "}).catch(() => done(false));"
            )
            or d.refresh()
        ),
        60,
    )


def check_in(driver, pain: int) -> None:
    press(driver, "#go-checkin")
    press(driver, f"input[name=pain_now][value='{pain}']")
    press(driver, "#save-checkin")
    see(driver, "Saved on this phone")


def waiting(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "[data-testid=waiting]").text


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


# --- Stories ------------------------------------------------------------------------------


def test_a_patient_enrolls_from_the_qr_logs_a_checkin_and_a_red_flag_reaches_the_nurse(
    phone, live_server, team
):
    nurse = ClinicianFactory(username="nurse-anna", team=team)
    nadia = services.create_patient(
        data={"display_name": "Nadia", "care_team": team, "timezone": "Europe/London", "language": "en"}
    )
    _, code = services.issue_invite(patient=nadia, by=nurse, role=Role.PATIENT)

    phone.get(f"{live_server.url}/app/#enroll={code}")
    see(phone, "Start with your invite code")
    assert "enroll=" not in phone.current_url  # the code leaves the address bar at once
    assert phone.execute_script("return document.getElementById('field-code').value") == code
    type_into(phone, "field-username", "nadia")
    type_into(phone, "field-password", STRONG)
    press(phone, "button[type=submit]")
    see(phone, "Diary of Nadia")

    check_in(phone, 6)
    see(phone, "0 waiting")
    press(phone, "#go-history")
    see(phone, "Pain 6 out of 10")
    assert CheckIn.objects.get(patient=nadia).pain_now == 6

    # The red flag: with the network cut the safety message still comes, at once.
    press(phone, "a.back")
    press(phone, "#go-checkin")
    press(phone, "input[name=pain_now][value='8']")
    press(phone, "#next")
    offline(phone, True)
    press_text(phone, "Very sleepy with slow breathing")
    press(phone, "#save-checkin")
    see(phone, "not an emergency service")
    call = phone.execute_script("return document.querySelector('[data-testid=call]').getAttribute('href')")
    assert call == "tel:112"
    assert CheckIn.objects.filter(patient=nadia).count() == 1  # nothing reached the server yet
    shot(phone, "story-safety-offline")

    offline(phone, False)
    wait(phone, lambda d: CheckIn.objects.filter(patient=nadia).count() == 2)
    alerts = client_for(nurse).get("/api/v1/alerts/", {"patient": nadia.pk}).json()["results"]
    assert [(a["rule"], a["severity"]) for a in alerts] == [("red_flag", "urgent")]


def test_offline_the_app_reloads_from_cache_keeps_three_entries_and_sends_each_once(
    phone, live_server, patient
):
    log_in(phone, live_server.url, patient.user.username)
    shell_cached(phone)

    offline(phone, True)
    phone.refresh()
    see(phone, "Your diary")
    see(phone, "offline")
    for pain in (1, 2, 3):
        check_in(phone, pain)
    see(phone, "3 waiting")
    shot(phone, "offline-three-waiting")
    assert CheckIn.objects.filter(patient=patient).count() == 0

    offline(phone, False)
    see(phone, "0 waiting")
    see(phone, "last synced")

    assert sorted(CheckIn.objects.filter(patient=patient).values_list("pain_now", flat=True)) == [1, 2, 3]
    # A second sync (the phone retrying) changes nothing.
    press(phone, "#sync-now")
    see(phone, "0 waiting")
    assert CheckIn.objects.filter(patient=patient).count() == 3


def test_a_caregivers_entry_and_a_retraction_elsewhere_reach_the_patients_phone(
    phone, live_server, patient, caregiver
):
    log_in(phone, live_server.url, patient.user.username)
    mine = {
        "id": str(uuid.uuid4()),
        "recorded_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        "pain_now": 4,
    }
    client_for(patient.user).post("/api/v1/sync/", {"checkins": [mine]}, format="json")
    entry = {
        "id": str(uuid.uuid4()),
        "patient": str(patient.pk),
        "recorded_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "pain_now": 9,
    }
    assert (
        client_for(caregiver).post("/api/v1/sync/", {"checkins": [entry]}, format="json").status_code == 200
    )
    client_for(caregiver).post(
        f"/api/v1/diary/checkins/{mine['id']}/retract/", {"reason": "wrong day"}, format="json"
    )

    press(phone, "#sync-now")
    press(phone, "#go-history")
    see(phone, "Pain 9 out of 10")
    see(phone, "Reported by a caregiver")
    see(phone, "Entered in error")
    shot(phone, "history-after-pull")


def tokens(driver, replace_access: str | None = None) -> dict:
    """The phone's stored token pair; optionally spoil its access token (as if expired)."""
    return driver.execute_async_script(
        "const [spoil, done] = arguments;"
        "const r = indexedDB.open('crossroad'); r.onsuccess = () => {"
        " const store = r.result.transaction('kv', 'readwrite').objectStore('kv');"
        " const q = store.get('tokens'); q.onsuccess = () => {"
        "  const pair = q.result; if (spoil) { pair.access = spoil; store.put(pair, 'tokens'); }"
        "  done(pair); }; };",
        replace_access,
    )


def test_tokens_refresh_quietly_and_a_refused_refresh_asks_to_log_in_keeping_the_outbox(
    phone, live_server, patient
):
    log_in(phone, live_server.url, patient.user.username)
    first = tokens(phone, replace_access="expired-access-token")

    check_in(phone, 4)
    see(phone, "0 waiting")
    assert tokens(phone)["refresh"] != first["refresh"]  # rotated
    assert CheckIn.objects.filter(patient=patient).count() == 1

    services.revoke_refresh_tokens(user=patient.user)
    tokens(phone, replace_access="expired-again")
    press(phone, "#go-checkin")
    press(phone, "input[name=pain_now][value='7']")
    press(phone, "#save-checkin")
    see(phone, "Please log in again")
    see(phone, "1 entries are waiting on this phone")
    assert CheckIn.objects.filter(patient=patient).count() == 1

    type_into(phone, "field-username", patient.user.username)
    type_into(phone, "field-password", PASSWORD)
    press(phone, "button[type=submit]")
    see(phone, "0 waiting")
    assert sorted(CheckIn.objects.filter(patient=patient).values_list("pain_now", flat=True)) == [4, 7]


def test_a_reminder_push_shows_a_notification_in_the_patients_language(phone, live_server, patient):

    log_in(phone, live_server.url, patient.user.username)
    shell_cached(phone)
    with translation.override("it"):
        title, body = (str(part) for part in texts.render_push(Notification(kind="reminder")))
    # What alerts/webpush.py encrypts; the browser hands the worker the decrypted text.
    message = json.dumps(
        {"title": title, "body": body, "key": f"reminder:{patient.pk}:today", "kind": "reminder"}
    )
    phone.execute_cdp_cmd(
        "Browser.grantPermissions", {"permissions": ["notifications"], "origin": live_server.url}
    )
    phone.execute_cdp_cmd("ServiceWorker.enable", {})

    def shown():
        return phone.execute_async_script(
            "const done = arguments[0]; navigator.serviceWorker.getRegistration('/app/')"
            ".then(r => r.getNotifications()).then(ns => done(ns.map(n => [n.title, n.body, n.tag])))"
            ".catch(e => done([]))"
        )

    from selenium.common.exceptions import TimeoutException

    # The registration's id is the browser's own, a small number in a fresh profile (a push
    # to an id with no registration goes nowhere). DevTools sometimes drops a push sent
    # while the worker is still starting: send again until one arrives (same tag, so a
    # repeat replaces the notification, it does not add one).
    for _attempt in range(5):
        for registration_id in range(16):
            phone.execute_cdp_cmd(
                "ServiceWorker.deliverPushMessage",
                {"origin": f"{live_server.url}/", "registrationId": str(registration_id), "data": message},
            )
        try:
            wait(phone, lambda d: shown(), 5)
            break
        except TimeoutException:
            continue

    assert shown() == [["Diario del dolore", "Come va il dolore oggi?", f"reminder:{patient.pk}:today"]]


def test_a_caregiver_sees_whom_they_report_for_on_every_screen(phone, live_server, patient, caregiver):
    log_in(phone, live_server.url, caregiver.username)
    for screen in ("#/", "#/checkin", "#/history", "#/settings"):
        phone.get(f"{live_server.url}/app/{screen}")
        see(phone, f"You are reporting for {patient.display_name}")


def test_logging_out_with_entries_waiting_asks_first_then_wipes_the_phone(phone, live_server, patient):
    log_in(phone, live_server.url, patient.user.username)
    offline(phone, True)
    check_in(phone, 5)
    press(phone, "#go-settings")
    press(phone, "#logout")
    see(phone, "1 entries have not reached the server yet")
    press_text(phone, "Delete them and log out")
    see(phone, "Log in")
    left = phone.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const r = indexedDB.open('crossroad'); r.onsuccess = () => {"
        " const tx = r.result.transaction(['kv','outbox','records']);"
        " Promise.all(['kv','outbox','records'].map(n => new Promise(ok => {"
        "  const q = tx.objectStore(n).getAllKeys(); q.onsuccess = () => ok(q.result); })))"
        " .then(done); };"
    )
    assert left == [["language"], [], []]


# --- Accessibility and screenshots --------------------------------------------------------


def axe_violations(driver) -> list[dict]:
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:3],
        }
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def audit(driver, name: str, language: str, found: dict) -> None:
    from selenium.webdriver.common.by import By

    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "h1.screen-title"))
    wait(driver, lambda d: d.execute_script("return document.documentElement.lang") == language)
    shot(driver, f"{language}-{name}")
    violations = axe_violations(driver)
    if violations:
        found[f"{language} {name}"] = violations


@pytest.mark.parametrize("language", ["en", "it"])
def test_every_screen_has_no_serious_accessibility_violation(phone, live_server, team, language):
    pump = PatientFactory(
        care_team=team,
        user__username="paola",
        display_name="Paola",
        idds=True,
        idds_lockout_minutes=60,
        idds_max_daily_boluses=4,
    )
    carer = CaregiverLinkFactory(patient=pump, caregiver__username="piero").caregiver
    # The app speaks the account's language from login on.
    User.objects.filter(pk__in=[pump.user_id, carer.pk]).update(language=language)
    # Something on every list: two weeks of check-ins (one retracted), an alert.
    days = [
        {
            "id": str(uuid.uuid4()),
            "recorded_at": (timezone.now() - timedelta(days=d)).isoformat(),
            "pain_now": d % 11,
        }
        for d in range(1, 15)
    ]
    client_for(pump.user).post("/api/v1/sync/", {"checkins": days}, format="json")
    client_for(pump.user).post(
        f"/api/v1/diary/checkins/{days[0]['id']}/retract/", {"reason": "typo"}, format="json"
    )
    Alert.objects.create(patient=pump, rule="persistent_pain", severity="warning")
    CaregiverLinkFactory(patient=PatientFactory(care_team=team, display_name="Lia"), caregiver=carer)
    found: dict[str, list] = {}
    url = live_server.url

    phone.get(f"{url}/app/#/login")
    if language == "it":
        press_text(phone, "Italiano")
    audit(phone, "login", language, found)
    phone.get(f"{url}/app/#/enroll")
    audit(phone, "enroll", language, found)

    type_into_login(phone, url, "paola")
    for name, path in (
        ("home", "#/"),
        ("checkin", "#/checkin"),
        ("adverse-effect", "#/adverse"),
        ("bolus", "#/bolus"),
        ("medication", "#/medication"),
        ("history", "#/history"),
        ("chart", "#/chart"),
        ("alerts", "#/alerts"),
        ("caregivers", "#/caregivers"),
        ("export", "#/export"),
        ("withdraw", "#/withdraw"),
        ("settings", "#/settings"),
    ):
        phone.get(f"{url}/app/{path}")
        audit(phone, name, language, found)
    phone.get(f"{url}/app/#/checkin")
    press(phone, "input[name=pain_now][value='3']")
    for step in range(1, 10):
        press(phone, "#next")
        audit(phone, f"checkin-step-{step + 1}", language, found)
    phone.get(f"{url}/app/#/medication")
    phone.find_element("id", "field-drug").send_keys("m")
    audit(phone, "medication-drug-chosen", language, found)
    phone.get(f"{url}/app/#/caregivers")
    press(phone, ".primary[type=submit]")
    wait(phone, lambda d: d.find_elements("css selector", "[data-testid=invite-code]"))
    audit(phone, "caregivers-invite-qr", language, found)
    phone.get(f"{url}/app/#/checkin")
    press(phone, "input[name=pain_now][value='9']")
    press(phone, "#next")
    press(phone, "input[name=red_flags]")
    press(phone, "#save-checkin")
    audit(phone, "safety", language, found)

    phone.get(f"{url}/app/#/settings")
    press(phone, "#logout")
    wait(phone, lambda d: "#/login" in d.current_url)
    type_into_login(phone, url, "piero")
    audit(phone, "caregiver-choose-patient", language, found)
    press_text(phone, "Paola")
    audit(phone, "caregiver-home", language, found)
    phone.get(f"{url}/app/#/checkin")
    audit(phone, "caregiver-checkin", language, found)

    assert found == {}


def type_into_login(driver, url: str, username: str) -> None:
    driver.get(f"{url}/app/#/login")
    type_into(driver, "field-username", username)
    type_into(driver, "field-password", PASSWORD)
    press(driver, "button[type=submit]")
    wait(driver, lambda d: "#/login" not in d.current_url)


def test_history_corrects_and_retracts_on_the_phone(phone, live_server, patient):
    log_in(phone, live_server.url, patient.user.username)
    check_in(phone, 3)
    see(phone, "0 waiting")
    press(phone, "#go-history")
    press_text(phone, "Correct")
    type_into(phone, next(iter_edit_ids(phone)), "5")
    press_text(phone, "Save the correction")
    see(phone, "Pain 5 out of 10")
    see(phone, "Corrected")
    press_text(phone, "Mark as entered in error")
    type_into(phone, next(iter_edit_ids(phone)), "wrong person")
    press(phone, ".record .primary")
    see(phone, "Entered in error")

    record = CheckIn.objects.get(patient=patient)
    assert (record.pain_now, record.status, record.retracted_reason) == (
        5,
        "entered_in_error",
        "wrong person",
    )


def iter_edit_ids(driver):
    for element in driver.find_elements("css selector", "input[id^=edit-]"):
        yield element.get_attribute("id")


def test_a_caregiver_without_the_right_to_read_sees_no_history(phone, live_server, patient, blind_caregiver):
    log_in(phone, live_server.url, blind_caregiver.username)
    see(phone, f"You are reporting for {patient.display_name}")
    assert "History" not in text_of(phone)
    phone.get(f"{live_server.url}/app/#/history")
    see(phone, "does not let you see the diary")


def test_withdrawal_asks_for_confirmation_then_stops_collection_and_wipes_the_phone(
    phone, live_server, patient
):
    log_in(phone, live_server.url, patient.user.username)
    press(phone, "#go-withdraw")
    type_into(phone, "field-password", PASSWORD)
    assert not phone.find_element("css selector", "button.danger").is_enabled()  # not without the tick
    press(phone, "#field-confirm")
    press(phone, "button.danger")
    see(phone, "Your consent is withdrawn")
    see(phone, "Log in")

    patient.refresh_from_db()
    assert patient.withdrawn_at is not None


def test_export_gives_the_patient_a_file_of_their_data(phone, live_server, patient):
    log_in(phone, live_server.url, patient.user.username)
    press(phone, "#go-export")
    press_text(phone, "Prepare my data")
    link = wait(phone, lambda d: d.find_elements("css selector", "a[download]"))[0]
    assert link.get_attribute("href").startswith("blob:")
    exported = phone.execute_async_script(
        "const done = arguments[0]; fetch(document.querySelector('a[download]').href).then(r => r.json()).then(done);"
    )
    assert str(patient.pk) in json.dumps(exported)


# --- A server that dies mid-sync ----------------------------------------------------------


class Server:
    """`manage.py runserver` in a process of its own on this test's PostgreSQL database,
    so that the test can kill it (SIGKILL, no goodbye) and start it again."""

    def __init__(self, port: int):
        self.port = port
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import subprocess
        import sys
        import urllib.request

        from django.db import connection

        env = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "DJANGO_DEBUG": "true",
            "CELERY_TASK_ALWAYS_EAGER": "true",
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/catalog/", timeout=2):  # noqa: S310 - loopback
                    return True
            except OSError:
                return False

        wait_until(answers, timeout=60)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@needs_service("PostgreSQL", postgres_in_use())
def test_a_server_killed_in_the_middle_of_a_sync_and_restarted_still_stores_each_entry_once(phone, patient):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.db import connections

    # The server process checks passwords with the real hashers, not this test run's fast one.
    hasher = PBKDF2PasswordHasher()
    User.objects.filter(pk=patient.user_id).update(password=hasher.encode(PASSWORD, hasher.salt()))
    server = Server(free_port())
    server.start()
    try:
        log_in(phone, server.url, patient.user.username)
        offline(phone, True)
        for pain in (2, 4, 6):
            check_in(phone, pain)
        see(phone, "3 waiting")

        # Hold the patient's change counter: the server's sync transaction stops inside
        # the diary write, its rows not committed, and the server is killed right there.
        holder = connections.create_connection("default")
        holder.set_autocommit(False)
        try:
            with holder.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO diary_changecounter (patient_id, seq) VALUES (%s, 0) ON CONFLICT DO NOTHING",
                    [patient.pk],
                )
                holder.commit()
                cursor.execute(
                    "SELECT seq FROM diary_changecounter WHERE patient_id = %s FOR UPDATE", [patient.pk]
                )
                offline(phone, False)
                wait(phone, lambda d: a_writer_waits_for_the_counter())
                server.kill()
        finally:
            holder.rollback()
            holder.close()
        see(phone, "3 waiting")
        assert CheckIn.objects.filter(patient=patient).count() == 0

        server.start()
        press(phone, "#sync-now")
        see(phone, "0 waiting")
        press(phone, "#sync-now")
        see(phone, "last synced")
        assert sorted(CheckIn.objects.filter(patient=patient).values_list("pain_now", flat=True)) == [2, 4, 6]
    finally:
        if server.process and server.process.poll() is None:
            server.kill()


def a_writer_waits_for_the_counter() -> bool:
    """True once another session waits for the counter row this test holds (asked on a
    connection in autocommit: within one transaction pg_stat_activity stays a snapshot)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            ["%diary_changecounter%"],
        )
        return cursor.fetchone()[0] > 0
