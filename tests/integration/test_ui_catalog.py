"""The page's words come from its message catalog (common/ui/i18n.js, issue 15): every
key the views ask t() for exists in the catalog, and the English left in the views
outside t() only shrinks. The scan lists each literal that reads like words shown to
customers (a capitalised word, or a phrase with punctuation) that is not an argument of
t(); BASELINE is what was left when the scan was added, per file (moving those strings
into the catalog is issue 15's open part). No servers needed."""
import glob
import os
import re

from cin import ROOT

UI = os.path.join(ROOT, "common", "ui")
LITERAL = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`""")
CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")
NOT_WORDS = {"'Content-Type'", "'X-CSRF-Token'", "'Idempotency-Key'", "'Accept'"}

# what the views still show outside the catalog, per file (only ever lowered)
BASELINE = {
    "chrome.js": 3,
    "table.js": 3,
    "views/account.js": 0,
    "views/accounts.js": 6,
    "views/acme.js": 18,
    "views/actions.js": 45,
    "views/audit.js": 13,
    "views/certificates.js": 16,
    "views/install.js": 19,
    "views/login.js": 6,
    "views/new.js": 17,
    "views/order.js": 35,
    "views/orders.js": 21,
    "views/security.js": 11,
    "views/summary.js": 17,
    "views/tokens.js": 15,
    "views/users.js": 26,
    "views/webhooks.js": 31,
}


def words(lit):
    """Does the literal read like text for people (not a class, id, path or header)?"""
    if lit in NOT_WORDS:
        return False
    body = re.sub(r"\$\{[^}]*\}", " ", lit[1:-1])
    if re.match(r"^(https?:|#/|/|\.|api/)", body):
        return False
    if CAPITALISED.search(body):
        return True
    return bool(re.search(r"[a-z]{2,} [a-z]{2,}", body) and re.search(r"[.!?,:…']", body))


def code_of(path):
    with open(path) as f:
        src = f.read()
    return re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), src)  # comments out


def outside_catalog(path):
    code = code_of(path)
    found = []
    for m in LITERAL.finditer(code):
        before = code[max(0, m.start() - 40):m.start()].rstrip()
        if re.search(r"\bt\($|import|from$|class:$", before):
            continue
        if words(m.group(0)):
            found.append(f"{os.path.relpath(path, ROOT)}:{code.count(chr(10), 0, m.start()) + 1}: "
                         f"{m.group(0)[:70]}")
    return found


def view_files():
    return sorted(glob.glob(os.path.join(UI, "views", "*.js")) +
                  [os.path.join(UI, f) for f in ("app.js", "chrome.js", "dom.js", "table.js",
                                                 "router.js", "session.js", "api.js")])


def catalog_keys():
    with open(os.path.join(UI, "i18n.js")) as f:
        src = f.read()
    return set(re.findall(r"^\s+'([\w.\-]+)':", src, re.M)) | \
        set(re.findall(r"^\s+([\w]+):", src, re.M))


def test_every_key_asked_for_is_in_the_catalog():
    keys = catalog_keys()
    missing = []
    for path in view_files():
        for k in re.findall(r"\bt\('([\w.\-]+)'", code_of(path)):
            if k not in keys:
                missing.append(f"{os.path.relpath(path, ROOT)}: {k}")
    assert not missing, missing


def test_no_new_english_outside_the_catalog():
    grown = []
    for path in view_files():
        name = os.path.relpath(path, UI)
        found = outside_catalog(path)
        if len(found) > BASELINE.get(name, 0):
            grown.append(f"{name}: {len(found)} > {BASELINE.get(name, 0)}\n  " + "\n  ".join(found))
    assert not grown, "words for customers belong in i18n.js, used through t():\n" + "\n".join(grown)
