"""The page's words come from its message catalog (common/ui/i18n.js, issue 15): every
key the views ask t() for exists in the catalog, and no English is left in the page's
modules outside it. The scan lists each literal that reads like words shown to customers
(a capitalised word, a phrase with punctuation, or three lowercase words in a row) that
is not an argument of t(), including literals inside a template literal's ${...}; any
such literal fails the test (the views' words moved into the catalog in issue 15, so
there is no baseline left to shrink). No servers needed."""
import glob
import os
import re

from cin import ROOT

UI = os.path.join(ROOT, "common", "ui")
LITERAL = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`""")
CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")
# HTTP header names, and names of server software (the same in every language)
NOT_WORDS = {"'Content-Type'", "'X-CSRF-Token'", "'Idempotency-Key'", "'Accept'", "'Apache'", "'Plesk'"}
# text that is code to copy, not words to read: the command lines (openssl, certbot, lego)
# and server configuration lines (nginx, Apache) the installation help shows; translating
# them would break them
CODE = re.compile(r"^(openssl|certbot|lego) |^-newkey |^ssl_certificate |^SSLCertificateFile ")


def words(lit):
    """Does the literal read like text for people (not a class, id, path or header)?"""
    if lit in NOT_WORDS:
        return False
    body = re.sub(r"\$\{[^}]*\}", " ", lit[1:-1])
    if re.match(r"^(https?:|#/|/|\.|api/)", body) or CODE.match(lit[1:-1]):
        return False
    if CAPITALISED.search(body):
        return True
    if re.search(r"\b[a-z]{2,} [a-z]{2,} [a-z]{2,}\b", body):
        return True
    return bool(re.search(r"[a-z]{2,} [a-z]{2,}", body) and re.search(r"[.!?,:…']", body))


def code_of(path):
    with open(path) as f:
        src = f.read()
    return re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), src)  # comments out


def outside_catalog(path):
    code = code_of(path)
    found = []

    def scan(start, end):
        for m in LITERAL.finditer(code, start, end):
            before = code[max(0, m.start() - 40):m.start()].rstrip()
            if re.search(r"\bt\($|import|from$|class:$", before):
                continue
            if words(m.group(0)):
                found.append(f"{os.path.relpath(path, ROOT)}:{code.count(chr(10), 0, m.start()) + 1}: "
                             f"{m.group(0)[:70]}")
            if m.group(0).startswith("`"):  # the literals inside its ${...} too
                for e in re.finditer(r"\$\{([^`]*?)\}", m.group(0)):
                    scan(m.start() + e.start(1), m.start() + e.end(1))
    scan(0, len(code))
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


def test_no_english_outside_the_catalog():
    found = [line for path in view_files() for line in outside_catalog(path)]
    assert not found, "words for customers belong in i18n.js, used through t():\n  " + "\n  ".join(found)
