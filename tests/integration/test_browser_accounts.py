"""Issue 16 in a real browser (headless Chromium): enrolling an authenticator when
the account requires two-factor login (QR code drawn, code typed, recovery codes
shown once, then a login with a recovery code), and the parent approval flow
(the parent's administrator approves a sub-account's order, then the
sub-account's own administrator)."""
import base64
import hashlib
import hmac
import struct
import time

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from cin import order
from test_browser import browser, click, row, wait  # noqa: F401 (browser: the fixture)


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def type_login(drv, server, user, password):
    drv.get(f"https://127.0.0.1:{server.https_port}/certinext/#/login")

    def typed(d):
        try:
            name = EC.element_to_be_clickable((By.NAME, "username"))(d)
            pw = EC.element_to_be_clickable((By.NAME, "password"))(d)
            if not name or not pw:
                return False
            name.clear()
            name.send_keys(user)
            pw.clear()
            pw.send_keys(password, Keys.ENTER)
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    wait(drv, typed)


def headers(drv):
    # the words, not as the style capitalises them
    return [th.get_attribute("textContent").strip()
            for th in drv.find_elements(By.CSS_SELECTOR, "#orders thead th")]


def test_totp_enrolment_in_the_browser(browser, server, store):  # noqa: F811
    api = server.api()
    ann = api.as_user(store.tokens["ann"])
    assert ann.request("PATCH", "/api/v1/accounts/acme", {"require_2fa": True}).status == 200
    type_login(browser, server, "ann", "ann-password")
    # the page walks the user to enrolment
    wait(browser, EC.presence_of_element_located((By.ID, "totp-required")))
    click(browser, (By.ID, "totp-start"))
    img = wait(browser, EC.visibility_of_element_located((By.ID, "totp-qr")))
    assert wait(browser, lambda d: d.execute_script(
        "const i = document.getElementById('totp-qr'); return i.complete && i.naturalWidth > 0"))
    assert img.get_attribute("src").startswith("data:image/svg+xml;base64,")
    secret = browser.find_element(By.ID, "totp-secret").text
    browser.find_element(By.ID, "totp-code").send_keys(totp(secret, int(time.time() // 30)))
    click(browser, (By.ID, "totp-confirm"))
    codes = wait(browser, EC.presence_of_all_elements_located((By.CSS_SELECTOR,
                                                               "#recovery-codes li")))
    recovery = [c.text for c in codes]
    assert len(recovery) == 10 and all(len(c) == 11 for c in recovery)
    # the next login asks for a code; a recovery code works, once
    click(browser, (By.ID, "logout"))
    wait(browser, EC.presence_of_element_located((By.NAME, "username")))
    type_login(browser, server, "ann", "ann-password")
    field = wait(browser, EC.visibility_of_element_located((By.NAME, "totp")))
    field.send_keys(recovery[0], Keys.ENTER)
    wait(browser, EC.presence_of_element_located((By.ID, "orders")))
    r = ann.get("/api/v1/audit?limit=50")
    actions = [e["action"] for e in r.json["events"]]
    assert "user.totp_enrolled" in actions and "session.recovery_code_used" in actions
    # turning it off needs proof: a wrong password is refused beside its field
    browser.get(f"https://127.0.0.1:{server.https_port}/certinext/#/security")
    pw = wait(browser, EC.visibility_of_element_located((By.ID, "totp-off-password")))
    pw.send_keys("wrong-password")
    click(browser, (By.ID, "totp-off"))
    err = '[data-field="password"] .error-text'
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, err).text.strip())
    assert ann.get("/api/v1/totp").json["enrolled"] is True
    pw = browser.find_element(By.ID, "totp-off-password")
    pw.clear()
    pw.send_keys("ann-password")
    click(browser, (By.ID, "totp-off"))
    # off; the account still requires it, so the page asks to enrol again
    wait(browser, EC.presence_of_element_located((By.ID, "totp-required")))
    assert ann.get("/api/v1/totp").json["enrolled"] is False
    actions = [e["action"] for e in ann.get("/api/v1/audit?limit=50").json["events"]]
    assert "user.totp_off" in actions


def test_parent_approval_in_the_browser(browser, server, store):  # noqa: F811
    api = server.api()
    store.cli("account", "create", "resell", "--parent", "acme", "--credits", "100")
    store.cli("domain", "add", "--account", "resell", "r.example.com")
    for name, role in (("radm", "admin"), ("rstd", "standard")):
        store.cli("user", "create", "--account", "resell", "--name", name, "--role", role,
                  "--password-stdin", input=f"{name}-password\n")
    rstd = api.as_user(store.cli("token", "create", "--user", "rstd").stdout.strip())
    o = order(rstd, "dv-ssl", ["shop.r.example.com"])
    assert o["status"] == "pending_parent_approval"
    # the parent's administrator: sub-accounts, then the orders waiting for it
    type_login(browser, server, "ann", "ann-password")
    wait(browser, EC.presence_of_element_located((By.ID, "orders")))
    click(browser, (By.CSS_SELECTOR, 'a[data-nav="accounts"]'))
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-account="resell"]')))
    click(browser, (By.ID, "parent-pending"))
    tr = row(browser, o["id"])
    assert "Order Pending for Parent Approval" in tr.text
    # a parent's administrator sees several accounts: the list names each order's
    assert "Account" in headers(browser)
    assert tr.find_element(By.CSS_SELECTOR, "td:nth-child(4)").text == "resell"
    click(browser, (By.CSS_SELECTOR, 'button[data-action="approve"]'), within=tr)
    # approving opens the same form as on the order's page (an optional comment)
    click(browser, (By.ID, "confirm-approve"))
    wait(browser, lambda d: rstd.get(f"/api/v1/orders/{o['id']}").json["status"]
         == "pending_approval")
    click(browser, (By.ID, "logout"))
    wait(browser, EC.presence_of_element_located((By.NAME, "username")))
    # then the sub-account's own administrator, in a fresh page (no list filter kept)
    browser.get("about:blank")
    type_login(browser, server, "radm", "radm-password")
    tr = row(browser, o["id"])
    assert "Order Pending for Approval" in tr.text
    assert "Account" not in headers(browser)  # one account: no such column
    click(browser, (By.CSS_SELECTOR, 'button[data-action="approve"]'), within=tr)
    # approving opens the same form as on the order's page (an optional comment)
    click(browser, (By.ID, "confirm-approve"))
    wait(browser, lambda d: rstd.get(f"/api/v1/orders/{o['id']}").json["status"]
         == "awaiting_payment")


def test_custom_fields_in_the_browser(browser, server, store):  # noqa: F811
    ann = server.api().as_user(store.tokens["ann"])
    r = ann.post("/api/v1/fields", {"name": "cost_centre", "type": "text", "required": True})
    assert r.status == 201, r
    type_login(browser, server, "ann", "ann-password")
    wait(browser, EC.presence_of_element_located((By.ID, "orders")))
    click(browser, (By.CSS_SELECTOR, 'a[data-nav="new"]'))
    cc = wait(browser, EC.presence_of_element_located((By.NAME, "field-cost_centre")))
    browser.find_element(By.ID, "names").send_keys("cf.example.com")
    cc.send_keys("=CC-12")
    click(browser, (By.ID, "submit-request"))
    wait(browser, EC.url_contains("#/summary/"))
    oid = browser.current_url.rsplit("/", 1)[1]
    assert ann.get(f"/api/v1/orders/{oid}").json["fields"] == {"cost_centre": "=CC-12"}
    browser.get(f"https://127.0.0.1:{server.https_port}/certinext/#/order/{oid}")
    shown = wait(browser, EC.presence_of_element_located(
        (By.CSS_SELECTOR, '[data-custom-field="cost_centre"]')))
    assert shown.text == "=CC-12"
