"""The web page in a real browser (Debian's headless Chromium, driven by selenium),
served by each module: the seed workflow, XSS attempts, roles, screenshots."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException,
                                        StaleElementReferenceException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from cin import ROOT, handshake, order

SHOTS = os.path.join(ROOT, "tests", "output", "screenshots")
XSS_NAME = '<img/src=x/onerror=window.__xss=1>'
XSS_REASON = '<script>window.__xss=1</script> blog is <b>retired</b>'


@pytest.fixture
def browser(base):
    downloads = os.path.join(base, "downloads")
    os.makedirs(downloads)
    profile = tempfile.mkdtemp(prefix="cin-chrome-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--ignore-certificate-errors", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-quic", f"--user-data-dir={profile}", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                           "download.prompt_for_download": False})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(30)
    drv.downloads = downloads
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait(drv, cond, timeout=15):
    return WebDriverWait(drv, timeout).until(cond)


def click(drv, locator, within=None):
    """Click once the element is there, shown and enabled: a loaded machine may
    render it later than the click would come (never a fixed sleep)."""
    def ready(d):
        try:
            el = (within or d).find_element(*locator)
            return el if el.is_displayed() and el.is_enabled() else False
        except (NoSuchElementException, StaleElementReferenceException):
            return False
    wait(drv, ready).click()


def shot(drv, server, page):
    os.makedirs(SHOTS, exist_ok=True)
    drv.save_screenshot(os.path.join(SHOTS, f"{server.name}-{page}.png"))


def login(drv, server, user):
    drv.get(f"https://127.0.0.1:{server.https_port}/certinext/#/login")
    def typed(d):
        # the form may be drawn again while the page starts: type into the one on
        # screen, once both fields take input
        try:
            name = EC.element_to_be_clickable((By.NAME, "username"))(d)
            pw = EC.element_to_be_clickable((By.NAME, "password"))(d)
            if not name or not pw:
                return False
            name.clear()
            name.send_keys(user)
            pw.clear()
            pw.send_keys(f"{user}-password", Keys.ENTER)  # the keyboard alone is enough
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    wait(drv, typed)
    wait(drv, EC.presence_of_element_located((By.ID, "orders")))


def logout(drv):
    click(drv, (By.ID, "logout"))
    wait(drv, EC.presence_of_element_located((By.NAME, "username")))


def row(drv, oid):
    return wait(drv, EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-order="{oid}"]')))


def no_xss(drv):
    try:
        drv.switch_to.alert
        raise AssertionError("an alert opened")
    except NoAlertPresentException:
        pass
    assert drv.execute_script("return window.__xss === undefined")


def new_request(drv, product, names):
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="new"]'))
    wait(drv, EC.presence_of_element_located((By.ID, "names")))
    Select(drv.find_element(By.ID, "product")).select_by_value(product)
    drv.find_element(By.ID, "names").send_keys("\n".join(names))
    click(drv, (By.ID, "submit-request"))


def created(drv):
    """The request id the page announces after a submission."""
    def announced(d):
        m = re.search(r"Request (R-\d+)", d.find_element(By.ID, "flash").text)
        return m and d.find_elements(By.ID, "orders") and m.group(1)
    try:
        return wait(drv, announced)
    except Exception:
        print("flash:", drv.find_element(By.ID, "flash").text, "main:",
              drv.find_element(By.ID, "main").text[:500])
        raise


def test_seed_workflow_in_the_browser(browser, server, store):
    drv = browser
    # a basic user logs in and places an order
    drv.get(f"https://127.0.0.1:{server.https_port}/certinext/")
    wait(drv, EC.presence_of_element_located((By.NAME, "username")))
    shot(drv, server, "login")
    # a wrong password gets a clear message
    drv.find_element(By.NAME, "username").send_keys("bob")
    drv.find_element(By.NAME, "password").send_keys("nope", Keys.ENTER)
    err = wait(drv, EC.visibility_of_element_located((By.ID, "login-error")))
    wait(drv, lambda d: "Wrong user name or password" in err.text)
    login(drv, server, "bob")
    new_request(drv, "dv-ssl", ["shop.example.com"])
    oid = created(drv)
    assert "Order Pending for Approval" in row(drv, oid).text
    shot(drv, server, "orders-basic")
    # an XSS attempt in a name: the API's error, shown beside the field, as text
    new_request(drv, "dv-ssl", [XSS_NAME])
    names_err = wait(drv, EC.visibility_of_element_located(
        (By.CSS_SELECTOR, '[data-field="names"] .error-text')))
    wait(drv, lambda d: XSS_NAME in names_err.text)
    no_xss(drv)
    assert not drv.find_elements(By.CSS_SELECTOR, "main img")
    shot(drv, server, "new-request-error")
    drv.find_element(By.ID, "names").clear()
    new_request_names = drv.find_element(By.ID, "names")
    new_request_names.send_keys("blog.example.com")
    click(drv, (By.ID, "submit-request"))
    other = created(drv)
    logout(drv)

    # the admin: reject needs a reason; reject the other order with one
    login(drv, server, "ann")
    shot(drv, server, "orders-admin")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="reject"]'), within=row(drv, other))
    confirm = wait(drv, EC.presence_of_element_located((By.ID, "confirm-reject")))
    assert not confirm.is_enabled()  # cannot be finalized while the reason is empty
    reason = drv.find_element(By.ID, "reason-reject")
    reason.send_keys("   ")
    assert not confirm.is_enabled()
    reason.send_keys(XSS_REASON)
    wait(drv, lambda d: confirm.is_enabled())
    confirm.click()
    try:
        shown = wait(drv, EC.presence_of_element_located((By.ID, "rejection-reason")))
    except Exception:
        shot(drv, server, "debug-reject")
        print("MAIN:", drv.find_element(By.ID, "main").text[:800], "FLASH:", drv.find_element(By.ID, "flash").text)
        raise
    assert XSS_REASON.strip() in shown.text.strip()
    no_xss(drv)
    shot(drv, server, "order-rejected")

    # approve -> Order Summary & Payment -> Pay now -> Order ID
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="orders"]'))
    click(drv, (By.CSS_SELECTOR, 'button[data-action="approve"]'), within=row(drv, oid))
    # approving opens the same form as on the order's page (an optional comment)
    click(drv, (By.ID, "confirm-approve"))
    wait(drv, EC.presence_of_element_located((By.ID, "pay-now")))
    assert "Order Summary & Payment" in drv.find_element(By.TAG_NAME, "h1").text
    assert "shop.example.com" in drv.find_element(By.ID, "main").text
    assert drv.find_element(By.ID, "price").text == "10 credits"
    assert drv.find_element(By.ID, "credits").text == "1000"
    shot(drv, server, "summary")
    click(drv, (By.ID, "pay-now"))
    order_id = wait(drv, EC.visibility_of_element_located((By.ID, "order-id"))).text
    assert re.fullmatch(r"CIN-\d{6}", order_id), order_id
    shot(drv, server, "paid")
    click(drv, (By.ID, "back-to-orders"))

    # after issuance: Issued, and the downloaded chain is what the server serves
    end = time.time() + 20
    while "Issued" not in row(drv, oid).text:
        assert time.time() < end, "never issued"
        time.sleep(0.3)
        drv.refresh()
    r = row(drv, oid)
    assert order_id in r.text
    click(drv, (By.CSS_SELECTOR, 'button[data-action="download"]'), within=r)
    pem = os.path.join(drv.downloads, f"{oid}.pem")
    end = time.time() + 10
    while not (os.path.exists(pem) and os.path.getsize(pem) > 0):
        assert time.time() < end, os.listdir(drv.downloads)
        time.sleep(0.1)
    serial = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", pem],
                            capture_output=True, text=True, check=True).stdout
    serial = serial.strip().split("=")[1].lower()
    end = time.time() + 5
    while handshake(server.https_port, "shop.example.com")[0] != serial:
        assert time.time() < end, "the server does not serve the downloaded certificate"
        time.sleep(0.05)
    click(drv, (By.LINK_TEXT, oid))
    wait(drv, EC.presence_of_element_located((By.ID, "cert-serial")))
    assert drv.find_element(By.ID, "cert-serial").text == serial
    shot(drv, server, "order-detail")
    for page in ("account", "users", "tokens", "audit", "certificates"):
        click(drv, (By.CSS_SELECTOR, f'a[data-nav="{page}"]'))
        wait(drv, EC.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
        time.sleep(0.3)
        shot(drv, server, page)
    drv.set_window_size(390, 844)  # a phone
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="orders"]'))
    wait(drv, EC.presence_of_element_located((By.ID, "orders")))
    shot(drv, server, "orders-phone")
    drv.set_window_size(1280, 900)
    logout(drv)

    # the basic user sees the rejection reason, as text
    login(drv, server, "bob")
    click(drv, (By.LINK_TEXT, other))
    shown = wait(drv, EC.presence_of_element_located((By.ID, "rejection-reason")))
    assert shown.text.strip() == XSS_REASON.strip()
    no_xss(drv)


def test_standard_user_cannot_approve(browser, server, store):
    drv = browser
    bob = server.api(store.tokens["bob"])
    o = order(bob, "dv-ssl", ["standard.example.com"])
    login(drv, server, "sam")
    r = row(drv, o["id"])
    assert "Order Pending for Approval" in r.text
    assert not r.find_elements(By.CSS_SELECTOR, 'button[data-action="approve"]')
    # a direct API call from the page, with the session and its CSRF token
    status = drv.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('api/v1/session').then(r => r.json()).then(s =>
          fetch('api/v1/orders/""" + o["id"] + """/approve', {method: 'POST',
            headers: {'X-CSRF-Token': s.csrf_token, 'Content-Type': 'application/json'},
            body: '{}'}).then(r => done(r.status)));
    """)
    assert status == 403
    # and without the CSRF header the cookie alone changes nothing
    status = drv.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('api/v1/orders', {method: 'POST', headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({product: 'dv-ssl', common_name: 'csrf.example.com'})})
          .then(r => done(r.status));
    """)
    assert status == 403
    # bound to this host (the __Host- prefix: Secure, path /, no Domain)
    cookie = drv.get_cookie("__Host-cin_session")
    assert cookie and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/" and not cookie.get("domain", "").startswith(".")


def test_autossl_and_imported_certificates_shown_as_such(browser, server, store, base):
    # an AutoSSL certificate (the policy orders for the account's domains) and an
    # imported one: the certificates page says "Automatic" and "Imported"
    store.cli("account", "set", "acme", "--auto-certificate", "dv-ssl")
    wait_for_sql = time.time() + 30
    while store.sql("SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'") != "2":
        assert time.time() < wait_for_sql, "AutoSSL did not issue"
        time.sleep(0.1)
    key, crt = os.path.join(base, "imp.key"), os.path.join(base, "imp.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "30",
                    "-subj", "/CN=imported.example.com", "-addext",
                    "subjectAltName=DNS:imported.example.com"], check=True, capture_output=True)
    store.cli("import", "--account", "acme", crt)
    drv = browser
    login(drv, server, "ann")
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="certificates"]'))
    table = wait(drv, EC.presence_of_element_located((By.ID, "certificates")))
    wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#certificates tbody tr")) == 3)
    rows = {r.find_element(By.CSS_SELECTOR, 'td[data-label="Names"]').text: r
            for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
    labels = sorted(r.text for r in table.find_elements(By.CSS_SELECTOR, "[data-origin]"))
    assert labels == ["Automatic", "Automatic", "Imported"], (labels, list(rows))
    imported = [n for n in rows if n.startswith("imported.example.com")]
    assert imported and "Imported" in imported[0]
    shot(drv, server, "certificates-automatic")
    # the account page states the policy
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="account"]'))
    panel = wait(drv, EC.presence_of_element_located((By.ID, "autossl")))
    assert "dv-ssl certificate automatically" in panel.text
