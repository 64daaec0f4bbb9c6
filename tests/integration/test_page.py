"""The web page as customers and account administrators use it (issue 15), in Debian's
headless Chromium against each server: money actions that run once and show what they
do, the certificate's life, errors beside the right field, confirmations, no page wider
than a 390 px phone or a 1366 px desktop, an axe-core audit of every page, a lost
session, and the seed flow by the keyboard alone. Screenshots: tests/output/screenshots."""
import datetime
import json
import os
import re

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from cin import ROOT, order, wait_status
from test_browser import browser, click, login, row, shot, wait  # noqa: F401 (browser: a fixture)

AXE = os.path.join(ROOT, "tests", "js", "node_modules", "axe-core", "axe.min.js")
PAGES = ("orders", "new", "certificates", "account", "tokens", "users", "audit", "webhooks",
         "domains")


@pytest.fixture(autouse=True)
def evidence(request, browser):
    """Shown by pytest only when a test fails: where the page was and what it said."""
    yield
    try:
        print("URL:", browser.current_url, "\nFLASH:", browser.find_element(By.ID, "flash").text,
              "\nMAIN:", browser.find_element(By.ID, "main").text[-1500:])
        for e in browser.get_log("browser"):
            print("LOG:", e)
    except Exception as e:  # the browser may be gone
        print("no evidence:", e)


TITLES = {"orders": "Orders", "new": "New certificate request", "certificates": "Certificates",
          "account": "Account", "tokens": "API tokens", "users": "Users", "audit": "Audit log",
          "summary": "Order Summary & Payment", "login": "Log in", "webhooks": "Webhooks",
          "domains": "Domains"}


def page(drv, server, hash_):
    """Open a page and wait until it is drawn (not the page before it)."""
    drv.get(f"https://127.0.0.1:{server.https_port}/certinext/{hash_}")
    parts = hash_.lstrip("#/").split("/")
    h1(drv, f"Order {parts[1]}" if parts[0] == "order" else TITLES[parts[0]])


def h1(drv, text):
    wait(drv, lambda d: d.execute_script(
        "return [...document.querySelectorAll('main h1')].some(e => e.textContent.includes(arguments[0]))",
        text))


def text_of(drv, css):
    def get(d):
        try:
            return d.find_element(By.CSS_SELECTOR, css).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
    return wait(drv, get)


def double_click_js(drv, css):
    """Two clicks in the same task, as a double-click reaches the page: the second comes
    before the first's request has answered."""
    el = wait(drv, EC.element_to_be_clickable((By.CSS_SELECTOR, css)))
    drv.execute_script("arguments[0].click(); arguments[0].click();", el)


def no_js_errors(drv):
    errs = [e for e in drv.get_log("browser") if e["level"] == "SEVERE" and e["source"] == "javascript"]
    assert not errs, errs


def issued(api, names, **extra):
    o = order(api, "dv-ssl", names, **extra)
    r = api.post(f"/api/v1/orders/{o['id']}/pay", {})
    assert r.status == 200, r
    return wait_status(api, o["id"], "issued")


def orders_of(api, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return api.get(f"/api/v1/orders?limit=100&{qs}").json["orders"]


def test_money_actions_run_once_and_show_what_they_do(browser, server, store):
    """Defects 1, 2, 5: a double click makes one renewal and one payment; the renewal
    is confirmed with its price, balance before → after and expiry; after Pay now the
    page shows the new status, the new balance and the way on, with focus on it."""
    drv = browser
    ann = server.api(store.tokens["ann"])
    o = issued(ann, ["money.example.com"], validity_days=30)
    login(drv, server, "ann")
    wait(drv, lambda d: d.find_element(By.ID, "balance").text.startswith("990"))
    page(drv, server, f"#/order/{o['id']}")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="renew"]'))
    panel = wait(drv, EC.visibility_of_element_located((By.ID, "confirm-renew")))
    assert "10 credits" in panel.find_element(By.CLASS_NAME, "confirm-price").text
    assert "990 → 980" in panel.find_element(By.CLASS_NAME, "confirm-balance").text
    # a renewal counts from the current certificate's end: the 29 days left are kept
    assert re.search(r"valid until about .*: 30 days counted from the end of the current certificate, "
                     r"so the 29 days it has left are not lost", panel.text), panel.text
    assert "current certificate expires" in panel.text
    assert not panel.find_elements(By.CLASS_NAME, "confirm-capped")
    shot(drv, server, "renew-confirm")
    double_click_js(drv, "#confirm-renew-yes")
    wait(drv, EC.presence_of_element_located((By.ID, "pay-now")))
    renewals = [x for x in orders_of(ann) if x["parent"] == o["id"]]
    assert len(renewals) == 1, renewals
    rid = renewals[0]["id"]
    # the server refuses a second open renewal (409) and the page says so in words
    page(drv, server, f"#/order/{o['id']}")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="renew"]'))
    click(drv, (By.ID, "confirm-renew-yes"))
    flash = wait(drv, lambda d: d.find_element(By.ID, "flash").text)
    assert "already has an open renewal" in flash and "/api/" not in flash
    assert len([x for x in orders_of(ann) if x["parent"] == o["id"]]) == 1
    drv.execute_script("performance.clearResourceTimings()")
    page(drv, server, f"#/summary/{rid}")
    wait(drv, EC.presence_of_element_located((By.ID, "pay-now")))
    # one draw per navigation: the order was fetched once (the old page drew twice)
    fetched = drv.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.endsWith(arguments[0])).length",
        f"/api/v1/orders/{rid}")
    assert fetched == 1, fetched
    assert drv.find_element(By.ID, "credits").text == "990"
    assert drv.find_element(By.ID, "credits-after").text == "980"
    assert "until about" not in drv.find_element(By.ID, "expiry-after").text
    assert "30 days after the renewed certificate ends" in drv.find_element(By.ID, "expiry-after").text
    shot(drv, server, "summary-before-pay")
    double_click_js(drv, "#pay-now")
    wait(drv, EC.visibility_of_element_located((By.ID, "order-id")))
    # the page moved on: new status, new balance, the order's page, focus on the result
    wait(drv, lambda d: d.find_element(By.ID, "credits").text == "980")
    status = drv.find_element(By.CSS_SELECTOR, "#summary-status .status").get_attribute("data-status")
    assert status in ("processing", "issued"), status
    assert drv.find_element(By.ID, "to-order").get_attribute("href").endswith(f"#/order/{rid}")
    assert drv.execute_script("return document.activeElement.id") == "paid-heading"
    wait(drv, lambda d: d.find_element(By.ID, "balance").text.startswith("980"))
    ledger = ann.get("/api/v1/ledger?limit=100").json["ledger"]
    assert len([e for e in ledger if e["order"] == rid]) == 1, ledger
    shot(drv, server, "paid-moves-on")
    # what was paid for: the renewal ends 30 days after the original did
    end = wait_status(ann, rid, "issued")["certificate"]["not_after"]
    was = o["certificate"]["not_after"]
    iso = lambda v: datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: E731
    assert iso(end) - iso(was) == datetime.timedelta(days=30), (was, end)
    # 200 days left and 200 more: the built-in CA's maximum, said before confirming
    long = issued(ann, ["long.example.com"])  # the product's 200 days
    page(drv, server, f"#/order/{long['id']}")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="renew"]'))
    panel = wait(drv, EC.visibility_of_element_located((By.ID, "confirm-renew")))
    capped = panel.find_element(By.CLASS_NAME, "confirm-capped").text
    assert "at most 397 days" in capped and "not all of the time" in capped, capped
    assert re.search(r"valid until about .*: the 200 days bought, plus 197 days of the time", panel.text), \
        panel.text
    shot(drv, server, "renew-confirm-capped")
    no_js_errors(drv)


def test_replaced_certificates_and_what_is_live(browser, server, store):
    """Defect 4: a reissued order says Superseded by R-… and offers no action; the live
    one says it is served here and that nothing needs installing."""
    drv = browser
    ann = server.api(store.tokens["ann"])
    o = issued(ann, ["life.example.com"])
    r = ann.post(f"/api/v1/orders/{o['id']}/reissue", {})
    assert r.status == 201, r
    new = r.json["id"]
    ann.post(f"/api/v1/orders/{new}/pay", {})
    wait_status(ann, new, "issued")
    wait_status(ann, o["id"], "superseded")
    login(drv, server, "ann")
    page(drv, server, f"#/order/{o['id']}")
    h1(drv, f"Order {o['id']}")
    badge = wait(drv, EC.presence_of_element_located((By.CSS_SELECTOR, "main .status")))
    assert badge.get_attribute("data-status") == "superseded"
    assert wait(drv, EC.presence_of_element_located((By.ID, "superseded-by"))).text == new
    assert f"Superseded by {new}" in drv.find_element(By.ID, "main").text
    assert not drv.find_elements(By.CSS_SELECTOR, "#main button[data-action]")
    assert drv.find_element(By.ID, "no-actions").is_displayed()
    shot(drv, server, "order-superseded")
    # in the list too: the old row has no action
    page(drv, server, "#/orders")
    assert not row(drv, o["id"]).find_elements(By.CSS_SELECTOR, "button")
    assert "Superseded" in row(drv, o["id"]).text
    page(drv, server, f"#/order/{new}")
    h1(drv, f"Order {new}")
    wait(drv, EC.presence_of_element_located((By.ID, "install-help")))
    assert "Live on this server" in drv.find_element(By.ID, "main").text
    assert "nothing needs installing" in drv.find_element(By.ID, "install-help").text
    assert drv.find_element(By.ID, "served").text == "Served by this server now"
    # customer words: no "Kind: new", no DN, no raw audit codes, no host:pid:thread
    main = drv.find_element(By.ID, "main").text
    assert "Reissue of" in main and "CN=" not in main and "order.issued" not in main
    assert "Certificate issued" in drv.find_element(By.ID, "events").text
    assert not re.search(r"\S+:\d+:[0-9a-f]+\b", drv.find_element(By.ID, "events").text)
    shot(drv, server, "order-live")
    # expiry warnings on the first page: this certificate now ends in 5 days
    import datetime
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=5, hours=3)
    store.sql(f"UPDATE certificates SET not_after = '{end.strftime('%Y-%m-%dT%H:%M:%SZ')}', "
              f"not_after_ts = {int(end.timestamp())} WHERE status = 'active'")
    page(drv, server, "#/orders")
    warn = wait(drv, EC.visibility_of_element_located((By.ID, "expiry-warnings")))
    assert "life.example.com expires in 5 days" in warn.text, warn.text
    assert warn.find_element(By.CSS_SELECTOR, "li.expiry.d7")
    shot(drv, server, "orders-expiry-warning")
    no_js_errors(drv)


def test_errors_beside_the_right_field_and_then_gone(browser, server, store):
    """Defects 6, 7, 8: errors go beside the field the problem names, in plain words,
    leave once fixed or on the next page; the page starts at the top."""
    drv = browser
    ann = server.api(store.tokens["ann"])
    o = issued(ann, ["err.example.com"])
    login(drv, server, "ann")
    assert drv.execute_script("return window.scrollY") == 0
    # SAN change: a name to remove that the order lacks -> under "remove"
    page(drv, server, f"#/order/{o['id']}")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="sans"]'))
    drv.find_element(By.ID, "sans-remove").send_keys("nothere.example.com")
    click(drv, (By.ID, "confirm-sans"))
    err = text_of(drv, '[data-field="remove"] .error-text')
    assert err and not drv.find_element(By.CSS_SELECTOR, '[data-field="add"] .error-text').text
    assert err.startswith("nothere.example.com "), err  # a name keeps its case
    assert drv.find_element(By.ID, "sans-remove").get_attribute("aria-invalid") == "true"
    described = drv.find_element(By.ID, "sans-remove").get_attribute("aria-describedby")
    assert drv.find_element(By.ID, described.split()[-1]).text == err
    shot(drv, server, "sans-remove-error")
    drv.find_element(By.ID, "sans-remove").send_keys(Keys.BACKSPACE)  # fixing clears it
    wait(drv, lambda d: not d.find_element(By.CSS_SELECTOR, '[data-field="remove"] .error-text').text)
    # the open form can be closed without cancelling the order
    click(drv, (By.CSS_SELECTOR, '#action-forms button[data-close]'))
    assert not drv.find_elements(By.ID, "sans-remove")
    assert ann.get(f"/api/v1/orders/{o['id']}").json["status"] == "issued"
    # a user's short password -> under Password, not User name
    page(drv, server, "#/users")
    wait(drv, EC.presence_of_element_located((By.ID, "new-user-name"))).send_keys("newbie")
    drv.find_element(By.ID, "new-user-password").send_keys("short")
    drv.find_element(By.ID, "new-user-password").send_keys(Keys.ENTER)
    assert text_of(drv, '[data-field="password"] .error-text')
    assert not drv.find_element(By.CSS_SELECTOR, '[data-field="name"] .error-text').text
    # validity too long: plain words beside Validity, no API field names or paths
    page(drv, server, "#/new")
    wait(drv, EC.presence_of_element_located((By.ID, "names"))).send_keys("long.example.com")
    drv.find_element(By.ID, "validity").send_keys("9999")
    click(drv, (By.ID, "submit-request"))
    err = text_of(drv, '[data-field="validity"] .error-text')
    assert err and "validity_days" not in err and "/api/" not in err, err
    shot(drv, server, "new-validity-error")
    # the product in words with a live total; the CSR helper's exact command
    from selenium.webdriver.support.ui import Select
    assert Select(drv.find_element(By.ID, "product")).first_selected_option.get_attribute("value") == "dv-ssl"
    Select(drv.find_element(By.ID, "product")).select_by_value("dv-multi")
    drv.find_element(By.ID, "names").send_keys("\nwww.example.com\nshop.example.net")
    wait(drv, lambda d: d.find_element(By.ID, "total").text == "Total: 20 credits for 3 names")
    assert "example.com" in drv.find_element(By.ID, "domains").text
    click(drv, (By.ID, "use-csr"))
    cmd = wait(drv, EC.visibility_of_element_located((By.ID, "csr-command"))).text
    assert "openssl req -new" in cmd and \
        'subjectAltName=DNS:long.example.com,DNS:www.example.com,DNS:shop.example.net' in cmd, cmd
    shot(drv, server, "new-csr-helper")
    # a message from one page is gone on the next
    page(drv, server, f"#/order/{o['id']}")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="download"]'))
    click(drv, (By.ID, "download-chain"))
    wait(drv, lambda d: "downloaded" in d.find_element(By.ID, "flash").text)
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="certificates"]'))
    h1(drv, "Certificates")
    assert drv.find_element(By.ID, "flash").text == ""
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="orders"]'))
    wait(drv, EC.presence_of_element_located((By.ID, "orders")))
    assert drv.execute_script("return window.scrollY") == 0
    no_js_errors(drv)


def test_confirmations_and_own_account(browser, server, store):
    """Defects 9, 10, 12: approve is the same form from the list and the detail; deleting a
    token, changing a role and disabling a user ask first; an admin cannot disable
    themself; then a lost session."""
    drv = browser
    bob = server.api(store.tokens["bob"])
    ann = server.api(store.tokens["ann"])
    a = order(bob, "dv-ssl", ["appr1.example.com"])
    tok = ann.post("/api/v1/tokens", {"name": "panel"}).json
    login(drv, server, "ann")
    click(drv, (By.CSS_SELECTOR, 'button[data-action="approve"]'), within=row(drv, a["id"]))
    wait(drv, EC.presence_of_element_located((By.ID, "reason-approve")))
    assert f"#/order/{a['id']}/approve" in drv.current_url
    # Close closes the form; the order stays as it was
    click(drv, (By.CSS_SELECTOR, '#action-forms button[data-close]'))
    assert not drv.find_elements(By.ID, "reason-approve")
    assert ann.get(f"/api/v1/orders/{a['id']}").json["status"] == "pending_approval"
    click(drv, (By.CSS_SELECTOR, 'button[data-action="approve"]'))
    click(drv, (By.ID, "confirm-approve"))
    wait(drv, lambda d: "/summary/" in d.current_url or "/order/" in d.current_url)
    wait_status(ann, a["id"], "awaiting_payment")
    # token: Delete asks; Close keeps it; yes deletes it
    page(drv, server, "#/tokens")
    btn = f'button[data-delete-token="{tok["id"]}"]'
    click(drv, (By.CSS_SELECTOR, btn))
    panel = wait(drv, EC.visibility_of_element_located((By.ID, "confirm-token")))
    assert "panel" in panel.text
    assert drv.find_element(By.CSS_SELECTOR, btn).get_attribute("aria-label") == "Delete token panel"
    shot(drv, server, "token-delete-confirm")
    click(drv, (By.CSS_SELECTOR, "#confirm-token .close"))
    assert any(t["id"] == tok["id"] for t in ann.get("/api/v1/tokens").json["tokens"])
    click(drv, (By.CSS_SELECTOR, btn))
    click(drv, (By.ID, "confirm-token-yes"))
    wait(drv, lambda d: "Token deleted" in d.find_element(By.ID, "flash").text)
    assert not any(t["id"] == tok["id"] for t in ann.get("/api/v1/tokens").json["tokens"])
    # users: no way to disable or demote oneself; others' changes ask first
    page(drv, server, "#/users")
    wait(drv, EC.presence_of_element_located((By.ID, "users")))
    assert not drv.find_elements(By.CSS_SELECTOR, 'button[data-disable="ann"]')
    assert not drv.find_element(By.CSS_SELECTOR, 'select[data-role-of="ann"]').is_enabled()
    click(drv, (By.CSS_SELECTOR, 'button[data-disable="bea"]'))
    wait(drv, EC.visibility_of_element_located((By.ID, "confirm-user")))
    users = {u["name"]: u for u in ann.get("/api/v1/users").json["users"]}
    assert not users["bea"]["disabled"]
    click(drv, (By.ID, "confirm-user-yes"))
    wait(drv, lambda d: "User bea updated" in d.find_element(By.ID, "flash").text)
    users = {u["name"]: u for u in ann.get("/api/v1/users").json["users"]}
    assert users["bea"]["disabled"]
    from selenium.webdriver.support.ui import Select
    Select(wait(drv, EC.presence_of_element_located((By.CSS_SELECTOR, 'select[data-role-of="sam"]')))).select_by_value("admin")
    wait(drv, EC.visibility_of_element_located((By.ID, "confirm-user")))
    shot(drv, server, "role-change-confirm")
    click(drv, (By.CSS_SELECTOR, "#confirm-user .close"))
    users = {u["name"]: u for u in ann.get("/api/v1/users").json["users"]}
    assert users["sam"]["role"] == "standard"
    assert drv.find_element(By.CSS_SELECTOR, 'select[data-role-of="sam"]').get_attribute("value") == "standard"
    no_js_errors(drv)
    # (in the same browser and servers: each test's setup costs seconds of make test)
    lost_session_says_so_and_returns(browser, server, store)


def lost_session_says_so_and_returns(browser, server, store):
    """Defect 12: a lost session says so and, after logging in, returns to the page."""
    drv = browser
    login(drv, server, "ann")
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="certificates"]'))
    h1(drv, "Certificates")
    drv.delete_cookie("__Host-cin_session")
    click(drv, (By.CSS_SELECTOR, 'a[data-nav="account"]'))
    wait(drv, EC.visibility_of_element_located((By.ID, "session-lost")))
    shot(drv, server, "session-lost")
    user = drv.find_element(By.NAME, "username")
    user.send_keys("ann")
    drv.find_element(By.NAME, "password").send_keys("ann-password", Keys.ENTER)
    h1(drv, "Account")
    assert drv.current_url.endswith("#/account")
    no_js_errors(drv)


def overflow(drv):
    return drv.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")


def axe(drv):
    src = open(AXE).read()
    drv.execute_script(src)
    res = drv.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)));
    """)
    bad = [v for v in json.loads(res) if v["impact"] in ("serious", "critical")]
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]


def test_every_page_fits_and_passes_axe(browser, server, store):
    """Defects 3, 11: no page wider than 390 px or 1366 px; axe-core finds nothing
    serious; the menu marks the page; the title follows the page; list buttons say
    which order; the menu stays a row at 683 px."""
    drv = browser
    ann = server.api(store.tokens["ann"])
    bob = server.api(store.tokens["bob"])
    o = issued(ann, ["a-rather-long-subdomain-name-for-wrapping.shop.example.net",
                     ], auto_renew=True) if False else issued(ann, ["wrap-a-rather-long-subdomain-name-that-goes-on.example.com"])
    order(bob, "dv-ssl", ["waiting.example.com"])
    page(drv, server, "#/login")  # the login page too
    login_problems = axe(drv)
    assert not login_problems, login_problems
    login(drv, server, "ann")
    wait(drv, lambda d: d.find_element(By.ID, "waiting").text == "1")
    problems = []
    for width in (390, 1366):
        drv.set_window_size(width, 900)
        for p in PAGES + (f"order/{o['id']}", f"summary/{o['id']}"):
            page(drv, server, f"#/{p}")
            wait(drv, EC.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
            wait(drv, lambda d: d.execute_script("return document.readyState") == "complete")
            sw, iw = overflow(drv)
            if sw > iw:
                problems.append(f"{p} at {width}px: {sw} > {iw}")
            name = p.split("/")[0]
            shot(drv, server, f"{name}-{width}")
            for v in axe(drv):  # every page at both widths
                problems.append(f"axe {p} at {width}px: {v}")
            title = drv.title
            assert drv.find_element(By.CSS_SELECTOR, "main h1").text in title, title
    assert not problems, "\n".join(problems)
    # the menu marks where the user is; list buttons name their order; action columns have headers
    drv.set_window_size(683, 900)
    page(drv, server, "#/orders")
    r = row(drv, o["id"])
    assert drv.find_element(By.CSS_SELECTOR, 'a[data-nav="orders"]').get_attribute("aria-current") == "page"
    assert r.find_element(By.CSS_SELECTOR, 'button[data-action="download"]').get_attribute("aria-label") == f"Download {o['id']}"
    assert all(th.get_attribute("textContent").strip() for th in drv.find_elements(By.CSS_SELECTOR, "#orders th"))
    tops = {a.location["y"] for a in drv.find_elements(By.CSS_SELECTOR, "#nav a") if a.is_displayed()}
    assert len(tops) <= 2, tops  # a row that may wrap once, not a column of links
    shot(drv, server, "menu-683")
    # the dark theme follows the system setting, and passes axe too
    drv.set_window_size(1366, 900)
    drv.execute_cdp_cmd("Emulation.setEmulatedMedia",
                        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    page(drv, server, f"#/order/{o['id']}")
    bg = drv.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(15, 20, 27)", bg
    assert not axe(drv), axe(drv)
    shot(drv, server, "order-dark")
    page(drv, server, "#/orders")
    assert not axe(drv)
    shot(drv, server, "orders-dark")
    no_js_errors(drv)


def tab_to(drv, css, limit=80):
    """Press Tab until the focused element matches css (the keyboard alone)."""
    for _ in range(limit):
        if drv.execute_script("return document.activeElement && document.activeElement.matches(arguments[0])", css):
            return drv.switch_to.active_element
        ActionChains(drv).send_keys(Keys.TAB).perform()
    raise AssertionError(f"Tab never reached {css}")


def keys(drv, *k):
    ActionChains(drv).send_keys(*k).perform()


def test_seed_flow_by_keyboard_alone(browser, server, store):
    """The seed workflow with the keyboard only: a basic user requests, the admin
    approves and pays, the order is issued."""
    drv = browser
    ann = server.api(store.tokens["ann"])
    page(drv, server, "#/login")
    wait(drv, EC.element_to_be_clickable((By.NAME, "username")))
    tab_to(drv, 'input[name="username"]')
    keys(drv, "bob", Keys.TAB, "bob-password", Keys.ENTER)
    wait(drv, EC.presence_of_element_located((By.ID, "orders")))
    tab_to(drv, 'a[data-nav="new"]')
    keys(drv, Keys.ENTER)
    wait(drv, EC.presence_of_element_located((By.ID, "names")))
    wait(drv, lambda d: d.execute_script("return document.activeElement.id") == "names")
    keys(drv, "kbd.example.com")
    tab_to(drv, "#submit-request")
    keys(drv, Keys.ENTER)
    oid = wait(drv, lambda d: (m := re.search(r"Request (R-\d+)", d.find_element(By.ID, "flash").text)) and m.group(1))
    tab_to(drv, "#logout")
    keys(drv, Keys.ENTER)
    wait(drv, EC.element_to_be_clickable((By.NAME, "username")))
    tab_to(drv, 'input[name="username"]')
    keys(drv, "ann", Keys.TAB, "ann-password", Keys.ENTER)
    row(drv, oid)
    tab_to(drv, f'button[data-action="approve"][aria-label="Approve {oid}"]', limit=120)
    keys(drv, Keys.ENTER)
    wait(drv, lambda d: d.execute_script("return document.activeElement.id") == "reason-approve")
    tab_to(drv, "#confirm-approve")
    keys(drv, Keys.ENTER)
    wait(drv, lambda d: d.execute_script("return document.activeElement.id") == "pay-now")
    keys(drv, Keys.ENTER)
    wait(drv, lambda d: d.execute_script("return document.activeElement.id") == "paid-heading")
    tab_to(drv, "#to-order")
    keys(drv, Keys.ENTER)
    wait_status(ann, oid, "issued")
    assert ann.get(f"/api/v1/orders/{oid}").json["product"] == "dv-ssl"  # the default product
    drv.refresh()
    h1(drv, f"Order {oid}")
    badge = wait(drv, EC.presence_of_element_located((By.CSS_SELECTOR, "main .status")))
    assert badge.get_attribute("data-status") == "issued"
    shot(drv, server, "keyboard-issued")
    no_js_errors(drv)


def listed(drv):
    return drv.execute_script(
        "return [...document.querySelectorAll('#orders tbody tr[data-order]')].map(r => r.dataset.order)")


def test_find_export_and_pkcs12(browser, server, store):
    """Search by requester and request id, sortable columns, audit filters, CSV
    exports, and the admin's PKCS#12 download (opened with openssl)."""
    import subprocess
    import time
    drv = browser
    ann = server.api(store.tokens["ann"])
    bob = server.api(store.tokens["bob"])
    o = issued(ann, ["find.example.com"])
    b = order(bob, "dv-ssl", ["bobs.example.com"])
    login(drv, server, "ann")
    q = wait(drv, EC.presence_of_element_located((By.ID, "filter-q")))
    q.send_keys("bob", Keys.ENTER)
    wait(drv, lambda d: listed(d) == [b["id"]])
    q = drv.find_element(By.ID, "filter-q")
    q.clear()
    q.send_keys(o["id"], Keys.ENTER)
    wait(drv, lambda d: listed(d) == [o["id"]])
    q = drv.find_element(By.ID, "filter-q")
    q.clear()
    q.send_keys(Keys.ENTER)
    wait(drv, lambda d: len(listed(d)) == 2)
    # sortable: by request, ascending then descending
    click(drv, (By.CSS_SELECTOR, 'button.sort[data-sort="id"]'))
    wait(drv, lambda d: listed(d) == [o["id"], b["id"]])
    assert drv.find_element(By.CSS_SELECTOR, 'th[aria-sort="ascending"]')
    click(drv, (By.CSS_SELECTOR, 'button.sort[data-sort="id"]'))
    wait(drv, lambda d: listed(d) == [b["id"], o["id"]])
    # the CSV export the page links to
    href = drv.find_element(By.ID, "export-orders").get_attribute("href")
    got = drv.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then(async r => done([r.status, r.headers.get('Content-Type'), await r.text()]));
    """, href)
    assert got[0] == 200 and got[1].startswith("text/csv"), got
    assert got[2].startswith("id,order_number,status,") and b["id"] in got[2]
    # audit filters: who and what
    page(drv, server, "#/audit")
    drv.find_element(By.ID, "audit-actor").send_keys("bob")
    from selenium.webdriver.support.ui import Select
    Select(drv.find_element(By.ID, "audit-action")).select_by_value("order.create")
    click(drv, (By.ID, "audit-filter"))
    wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit tbody tr")) == 1
         and "Request placed" in d.find_element(By.CSS_SELECTOR, "#audit tbody tr").text)
    assert b["id"] in drv.find_element(By.CSS_SELECTOR, "#audit tbody tr").text
    shot(drv, server, "audit-filtered")
    # PKCS#12 with a password the admin chooses
    page(drv, server, f"#/order/{o['id']}")
    click(drv, (By.CSS_SELECTOR, '#main .actions button[data-action="download"]'))
    pw = wait(drv, EC.visibility_of_element_located((By.ID, "p12-password")))
    pw.send_keys("short")
    click(drv, (By.ID, "p12-download"))
    assert text_of(drv, '#p12-form [data-field="password"] .error-text')
    pw.send_keys("-but-longer")
    click(drv, (By.ID, "p12-download"))
    p12 = os.path.join(drv.downloads, f"{o['id']}.p12")
    end = time.time() + 10
    while not (os.path.exists(p12) and os.path.getsize(p12) > 0):
        assert time.time() < end, os.listdir(drv.downloads)
        time.sleep(0.1)
    out = subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", "pass:short-but-longer", "-nokeys", "-clcerts"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "find.example.com" in out.stdout, out.stderr
    events = ann.get(f"/api/v1/orders/{o['id']}/events").json["events"]
    assert [e["action"] for e in events].count("order.pkcs12_download") == 1
    shot(drv, server, "download-panel")
    no_js_errors(drv)
    sorted_by_the_server(drv, server, bob)
    webhooks_and_notification_settings(browser, server, store)


def sorted_by_the_server(drv, server, bob):
    """Column headers sort on the server (GET /orders?sort=), across pages (issue 15)."""
    # the server sorts and pages: the oldest order, first by name, is not on the newest
    # page, yet sorting by names brings it to the top of the first page
    first = order(bob, "dv-ssl", ["aaa.example.com"])
    zz = [order(bob, "dv-ssl", [f"zz{i:02d}.example.com"])["id"] for i in range(21)]
    page(drv, server, "#/account")
    page(drv, server, "#/orders")  # newest first (by request, descending)
    wait(drv, lambda d: len(listed(d)) == 20 and first["id"] not in listed(d))
    drv.execute_script("performance.clearResourceTimings()")
    click(drv, (By.CSS_SELECTOR, 'button.sort[data-sort="names"]'))
    wait(drv, lambda d: listed(d)[:1] == [first["id"]])
    th = drv.find_element(By.CSS_SELECTOR, 'th[aria-sort="ascending"]')
    assert th.find_element(By.CSS_SELECTOR, "button").get_attribute("data-sort") == "names"
    asked = drv.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/orders?'))")
    assert any("sort=common_name" in u for u in asked), asked
    click(drv, (By.XPATH, '//div[@class="pager"]/button[2]'))  # the next page, in the same order
    wait(drv, lambda d: listed(d) == zz[17:])


def webhooks_and_notification_settings(browser, server, store):
    """The admin adds a webhook (its secret shown once), sees its delivery log and
    removes it after confirming; a user saves an e-mail address, errors beside it."""
    drv = browser
    ann = server.api(store.tokens["ann"])
    store.cli("settings", "set", "webhook-allow-private", "true")
    login(drv, server, "ann")
    page(drv, server, "#/webhooks")
    drv.find_element(By.ID, "webhook-url").send_keys("ftp://nope")
    click(drv, (By.ID, "webhook-add"))
    assert text_of(drv, '[data-field="url"] .error-text')
    url = drv.find_element(By.ID, "webhook-url")
    url.clear()
    url.send_keys("http://127.0.0.1:9/hooks")
    click(drv, (By.ID, "webhook-add"))
    secret = wait(drv, EC.visibility_of_element_located((By.ID, "webhook-secret"))).text
    assert secret.startswith("whsec_") and len(secret) == 70
    hooks = ann.get("/api/v1/webhooks").json["webhooks"]
    assert len(hooks) == 1 and "whsec_" not in json.dumps(hooks)
    shot(drv, server, "webhook-added")
    click(drv, (By.CSS_SELECTOR, f'a[href="#/webhooks/{hooks[0]["id"]}"]'))
    wait(drv, EC.presence_of_element_located((By.ID, "deliveries")))
    click(drv, (By.CSS_SELECTOR, f'button[aria-label="Remove webhook {hooks[0]["id"]}"]'))
    click(drv, (By.ID, "confirm-webhook-yes"))
    wait(drv, lambda d: "Webhook removed" in d.find_element(By.ID, "flash").text)
    assert ann.get("/api/v1/webhooks").json["webhooks"] == []
    page(drv, server, "#/account")
    email = wait(drv, EC.presence_of_element_located((By.ID, "notify-email")))
    email.send_keys("not an address")
    click(drv, (By.ID, "notify-save"))
    assert text_of(drv, '#notifications [data-field="email"] .error-text')
    email.clear()
    email.send_keys("ann@example.com")
    click(drv, (By.ID, "notify-on"))  # opt out of everything
    click(drv, (By.ID, "notify-ev-order-expiring"))  # and, per event, of expiry warnings
    click(drv, (By.ID, "notify-save"))
    wait(drv, lambda d: "saved" in d.find_element(By.ID, "flash").text)
    got = ann.get("/api/v1/notifications").json
    assert (got["email"], got["notify"], got["muted"]) == ("ann@example.com", False, ["order.expiring"])
    # the administrator sets the account's addresses and another user's
    acct = drv.find_element(By.ID, "notify-account-emails")
    acct.send_keys("certs@shop.example, bad address")
    click(drv, (By.ID, "notify-account-save"))
    assert "not an e-mail address" in text_of(drv, '#notify-account [data-field="account_emails"] .error-text')
    acct.clear()
    acct.send_keys("certs@shop.example, ops@shop.example")
    click(drv, (By.ID, "notify-account-save"))
    wait(drv, lambda d: ann.get("/api/v1/notifications").json["account_emails"]
         == ["certs@shop.example", "ops@shop.example"])
    Select(drv.find_element(By.ID, "notify-user")).select_by_value("bob")
    addr = drv.find_element(By.ID, "notify-user-email")
    addr.clear()
    addr.send_keys("bob@shop.example")
    click(drv, (By.ID, "notify-user-save"))
    wait(drv, lambda d: ann.get("/api/v1/notifications?user=bob").json["email"] == "bob@shop.example")
    shot(drv, server, "account-notifications")
    no_js_errors(drv)
