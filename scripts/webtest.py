#!/usr/bin/env python3
"""The self-service portal in Debian's chromium (selenium + chromium-driver),
against the private services scripts/webtest.sh started. The story: log in,
add a key, create a mailbox on a subdomain, see it running, ssh into the
container with that key, change the password, delete it; the external-domain
flow; and the attacks, each a test. Saves a PNG of each page (desktop and
phone width) under $SHOTS. Prints 'N passed, N failed'."""
import http.cookiejar
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PORTAL = os.environ["PORTAL"]
SEMAILCTL = os.environ["SEMAILCTL"]
WORK = os.environ["WORK"]
SHOTS = os.environ["SHOTS"]
ZONE = "semail.email"
os.makedirs(SHOTS, exist_ok=True)


def sh(*argv, stdin=None, check=True):
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv}: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def admin_ldif(ldif):
    sh("ldapmodify", "-x", "-H", os.environ["LDAP_URI"], "-D", os.environ["LDAP_ADMIN_DN"],
       "-y", os.environ["LDAP_SECRET"], stdin=ldif)


def add_user(uid, password, cn=None):
    sh(SEMAILCTL, "user", "add", uid, "--cn", cn or uid, "--sn", uid, "--posix", "--password-stdin",
       stdin=password + "\n")


def binds(uid, password):
    f = f"{WORK}/{uid}.try"
    with open(f, "w") as fh:
        fh.write(password)
    os.chmod(f, 0o600)
    return sh("ldapwhoami", "-x", "-H", os.environ["LDAP_URI"], "-D",
              f"uid={uid},ou=Personnes,dc=semail,dc=email", "-y", f, check=False).returncode == 0


def browser(width=1280, height=900):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", "--force-device-scale-factor=1"]:
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


d = browser()


def shot(name, driver=None):
    """The page as it is now, at desktop and at phone width (the same page, re-laid out, not reloaded)."""
    driver = driver or d
    for suffix, width in (("", 1280), ("-phone", 390)):
        driver.set_window_size(width, 900)
        h = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(h + 160, 4000))
        driver.save_screenshot(f"{SHOTS}/{name}{suffix}.png")
    driver.set_window_size(1280, 900)


def submit(selector, driver=None):
    """Clicks the button of the form SELECTOR and waits for the next page."""
    driver = driver or d
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"{selector} button").click()
    def gone(_):
        try:
            old.is_enabled()  # still the page the click was made on
            return False
        except Exception:  # stale, or chromium's "does not belong to the document": the next page is there
            return True
    WebDriverWait(driver, 120).until(gone)
    WebDriverWait(driver, 120).until(lambda x: x.execute_script("return document.readyState") == "complete")


def login(driver, uid, password):
    driver.get(PORTAL + "/login")
    driver.find_element(By.NAME, "uid").send_keys(uid)
    driver.find_element(By.NAME, "password").send_keys(password)
    submit("form[action='/login']", driver)


def text(driver=None):
    for _ in range(10):  # the progress page reloads itself: read again if it went away
        try:
            return (driver or d).find_element(By.TAG_NAME, "body").text
        except Exception:
            time.sleep(0.2)
    return ""


def form_csrf(driver=None):
    return (driver or d).find_element(By.NAME, "csrf").get_attribute("value")


def cookie(driver=None):
    c = (driver or d).get_cookie("semail")
    return c["value"] if c else None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def post(path, fields, session=None, origin=PORTAL):
    """A form post outside the browser (the attacker's), no redirects followed."""
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(PORTAL + path, data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if origin:
        req.add_header("Origin", origin)
    if session:
        req.add_header("Cookie", f"semail={session}")
    try:
        r = urllib.request.build_opener(NoRedirect).open(req, timeout=60)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def assert_session_dead(old, what):
    """GET / with the session cookie OLD must be sent to /login (303), not open a page."""
    req = urllib.request.Request(PORTAL + "/", headers={"Cookie": f"semail={old}"})
    try:
        urllib.request.build_opener(NoRedirect).open(req, timeout=60)
        raise AssertionError(what)
    except urllib.error.HTTPError as e:
        assert e.code == 303 and e.headers["Location"] == "/login", (e.code, e.headers)


def wait_for(cond, what, seconds=120):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {text()[:2000]}")


results = []


def test(fn):
    name = fn.__name__
    try:
        fn()
        results.append((name, None))
        print(f"ok   {name}", flush=True)
    except Exception:
        results.append((name, traceback.format_exc()))
        print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    return fn


# The people: alice (the story), bob (owns a subdomain), mallory (markup in her name).
add_user("alice", "pw-alice")
add_user("bob", "pw-bob")
add_user("mallory", "pw-mallory", cn='<script>document.title="owned"</script><b>Mal</b>')
admin_ldif("dn: uid=bob,ou=Personnes,dc=semail,dc=email\nchangetype: modify\nadd: objectClass\n"
           "objectClass: semailUser\n-\nadd: semailMailbox\nsemailMailbox: bob@bob.semail.email\n-\n")
KEY = f"{WORK}/alice-key"
sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", KEY)
PUB = open(KEY + ".pub").read().strip()
FP = sh("ssh-keygen", "-l", "-E", "sha256", "-f", KEY + ".pub").stdout.split()[1]
state = {}


@test
def login_page_and_a_wrong_password():
    d.get(PORTAL + "/login")
    shot("login")
    login(d, "alice", "not-her-password")
    assert "Wrong user name or password" in text(), text()
    login(d, "alice", "pw-alice")
    assert "You have no mailbox yet" in text(), text()
    assert "alice" in text()
    shot("home-empty")


@test
def security_headers_and_cookie():
    r = urllib.request.urlopen(PORTAL + "/login")
    h = r.headers
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"], h
    assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff", h
    sc = h["Set-Cookie"]
    assert "HttpOnly" in sc and "SameSite=Strict" in sc, sc
    c = d.get_cookie("semail")
    assert c["httpOnly"] and c["sameSite"] == "Strict", c


@test
def add_a_key():
    d.get(PORTAL + "/keys")
    assert "You have no SSH key" in text()
    d.find_element(By.NAME, "key").send_keys(PUB)
    submit("form[action='/keys/add']")
    assert "Key added." in text(), text()
    assert FP in text(), text()
    shot("keys")
    # A key with options is refused, and said so.
    d.find_element(By.NAME, "key").send_keys('command="sh" ' + PUB)
    submit("form[action='/keys/add']")
    assert "not a valid SSH public key" in text(), text()


@test
def the_policy_refuses_with_its_reason():
    d.get(PORTAL + "/create")
    assert "role address" in text() and "postmaster" in text(), text()
    shot("create")
    for local, sub, reason in [("postmaster", "alice", "role address"),
                               ("alice", "bob", "belongs to another mailbox"),
                               ("alice", "mx", "records semailctl does not manage")]:
        d.get(PORTAL + "/create")
        d.find_element(By.NAME, "local").clear()
        d.find_element(By.NAME, "local").send_keys(local)
        d.find_element(By.NAME, "sub").clear()
        d.find_element(By.NAME, "sub").send_keys(sub)
        submit("form[action='/create/check']")
        assert reason in text(), f"{local}@{sub}: {text()}"
        assert not d.find_elements(By.CSS_SELECTOR, "form[action='/create']"), "a create button for a refused address"
        if reason == "role address":
            shot("create-refused")


@test
def an_address_carrying_markup_is_shown_escaped():
    d.get(PORTAL + "/create")
    d.find_element(By.NAME, "local").clear()
    d.find_element(By.NAME, "local").send_keys('<img src=x onerror=alert(1)>')
    submit("form[action='/create/check']")
    assert "<img src=x onerror=alert(1)>" in text(), text()  # shown as text
    assert not d.find_elements(By.CSS_SELECTOR, "main img"), "markup became an element"
    assert "&lt;img" in d.page_source


@test
def create_a_mailbox_on_a_subdomain():
    d.get(PORTAL + "/create")
    d.find_element(By.NAME, "local").clear()
    d.find_element(By.NAME, "local").send_keys("alice")
    d.find_element(By.NAME, "sub").clear()
    d.find_element(By.NAME, "sub").send_keys("alice")
    submit("form[action='/create/check']")
    assert "alice@alice.semail.email is free and allowed" in text(), text()
    shot("create-allowed")
    submit("form[action='/create']")
    assert "/progress" in d.current_url, d.current_url
    assert "Checking your address" in text(), text()
    # Caught in the middle: some steps done, one under way (the page reloads itself every second).
    wait_for(lambda: "✓" in text() or "Done." in text(), "a first step")
    shot("progress-running")
    wait_for(lambda: "Done." in text() or "What to do" in text() or "failed" in text().lower(), "the create")
    assert "Done." in text(), text()
    shot("progress-done")
    assert d.find_elements(By.LINK_TEXT, "Go to my mailbox")
    d.get(PORTAL + "/")
    t = text()
    assert "alice@alice.semail.email" in t and "running" in t, t
    assert "Host alice.semail" in t and "known_hosts" in t, t
    assert "The MX record of alice.semail.email is published." in t, t
    assert d.find_elements(By.TAG_NAME, "meter"), "no usage bar"
    shot("home")


@test
def ssh_into_the_container_with_that_key():
    block = d.find_elements(By.TAG_NAME, "pre")
    cfg = next(p.text for p in block if "HostName" in p.text)
    ip = re.search(r"HostName (\S+)", cfg).group(1)
    r = sh("ssh", "-i", KEY, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"alice@{ip}", "id -un; test -d ~/Maildir && echo maildir",
           check=False)
    assert r.returncode == 0 and "alice" in r.stdout and "maildir" in r.stdout, r


@test
def my_software():
    d.get(PORTAL + "/software")
    assert "You have chosen none" in text(), text()
    shot("software")
    d.find_element(By.NAME, "package").send_keys("mutt")
    submit("form[action='/software/add']")
    # No network for apt in this test: the rebuild fails, the list and the container stay.
    assert "could not be rebuilt" in text() and "You have chosen none" in text(), text()
    shot("software-refused")
    d.find_element(By.NAME, "package").send_keys("Mutt;id")
    submit("form[action='/software/add']")
    assert "invalid package name" in text(), text()
    d.get(PORTAL + "/")
    assert "running" in text()


@test
def csrf_and_origin():
    s = cookie()
    token = (d.get(PORTAL + "/keys"), form_csrf())[1]
    state["old_csrf"] = token
    key2 = PUB.replace("alice@laptop", "via-csrf")
    code, body = post("/keys/add", {"key": key2}, session=s)
    assert code == 403 and "stale" in body, (code, body[:300])
    code, body = post("/keys/add", {"key": key2, "csrf": "x" * 43}, session=s)
    assert code == 403, code
    code, body = post("/keys/add", {"key": key2, "csrf": token}, session=s, origin="http://evil.example")
    assert code == 403 and "another site" in body, (code, body[:300])
    d.get(PORTAL + "/keys")
    assert "via-csrf" not in text()


@test
def another_uids_mailbox_cannot_be_asked_for():
    # No page takes a uid: the session's is used. A uid slipped into the query or a form is ignored.
    d.get(PORTAL + "/?uid=bob")
    assert "alice@alice.semail.email" in text() and "bob@" not in text(), text()
    token = (d.get(PORTAL + "/keys"), form_csrf())[1]
    code, _ = post("/keys/remove", {"csrf": token, "fingerprint": FP, "uid": "bob"}, session=cookie())
    assert code == 303
    d.get(PORTAL + "/keys")
    assert "no key" in text().lower() or FP not in text(), text()
    # semailctl refuses alice acting on bob whatever the portal asked for.
    r = sh(SEMAILCTL, "mailbox", "status", "bob", "--as-user", "alice", "--json", stdin="pw-alice\n", check=False)
    assert r.returncode == 77, r
    # Put the key back for the next tests.
    d.get(PORTAL + "/keys")
    d.find_element(By.NAME, "key").send_keys(PUB)
    submit("form[action='/keys/add']")


@test
def change_the_password():
    d.get(PORTAL + "/password")
    shot("password")
    d.find_element(By.NAME, "current").send_keys("pw-alice")
    d.find_element(By.NAME, "new").send_keys("new-alice-pw")
    d.find_element(By.NAME, "again").send_keys("new-alice-pw")
    submit("form[action='/password']")
    assert "Your password was changed." in text(), text()
    assert binds("alice", "new-alice-pw") and not binds("alice", "pw-alice")
    d.get(PORTAL + "/")
    assert "running" in text()  # the session goes on with the new password


@test
def delete_with_typed_confirmation():
    d.get(PORTAL + "/delete")
    t = text()
    assert "destroys your mail volume and all the mail in it" in t, t
    shot("delete")
    d.find_element(By.NAME, "confirm").send_keys("alice@wrong.example")
    submit("form[action='/delete']")
    assert "nothing was deleted" in text(), text()
    d.find_element(By.NAME, "confirm").send_keys("alice@alice.semail.email")
    submit("form[action='/delete']")
    wait_for(lambda: "Done." in text() or "What to do" in text(), "the delete")
    assert "Done." in text(), text()
    shot("progress-deleted")
    d.get(PORTAL + "/")
    assert "You have no mailbox yet" in text(), text()


@test
def the_external_domain_flow():
    ext = "alice-ext.test"
    d.get(PORTAL + "/create")
    d.find_element(By.NAME, "local").clear()
    d.find_element(By.NAME, "local").send_keys("alice")
    d.find_element(By.CSS_SELECTOR, "input[value='ext']").click()
    d.find_element(By.NAME, "ext").send_keys(ext)
    submit("form[action='/create/check']")
    t = text()
    assert "proof of control" in t and f"_semail.{ext}. IN TXT" in t and f"{ext}. IN MX" in t, t
    shot("create-external")
    token = re.search(r"semail-verify=[0-9a-f]{32}", t).group(0)
    # The owner publishes the TXT proof (their zone, served here by the test named), not the MX yet.
    zf = f"{os.environ['NAMED_DIR']}/db.{ext}"
    with open(zf, "w") as f:
        f.write(f"$TTL 60\n@ IN SOA ns1.{ext}. h.{ext}. 1 60 60 600 60\n@ IN NS ns1.{ext}.\nns1 IN A 127.0.0.1\n"
                f"_semail IN TXT \"{token}\"\n")
    rndc = ["rndc", "-s", "127.0.0.1", "-p", os.environ["RNDC_PORT"], "-k", os.environ["RNDC_KEY"]]
    sh(*rndc, "addzone", ext, f'{{ type primary; file "{zf}"; }};')
    submit("form[action='/create/check']")
    assert f"alice@{ext} is free and allowed" in text(), text()
    submit("form[action='/create']")
    wait_for(lambda: "Done." in text() or "What to do" in text(), "the external create")
    assert "Done." in text(), text()
    d.get(PORTAL + "/")
    t = text()
    assert f"{ext} is your own domain" in t and f"{ext}. IN MX 10 mx.semail.email." in t, t
    submit("form[action='/mx']")
    assert f"MX of {ext}" in text() and "has no MX record" in text(), text()
    with open(zf, "a") as f:
        f.write("@ IN MX 10 mx.semail.email.\n")
    sh(*rndc, "reload", ext)
    time.sleep(1)
    submit("form[action='/mx']")
    shot("home-external")
    assert f"{ext} has an MX record pointing at mx.semail.email." in text(), text()
    d.get(PORTAL + "/delete")
    d.find_element(By.NAME, "confirm").send_keys(f"alice@{ext}")
    submit("form[action='/delete']")
    wait_for(lambda: "Done." in text() or "What to do" in text(), "the external delete")
    assert "Done." in text(), text()


@test
def markup_in_the_directory_is_shown_escaped():
    m = browser()
    try:
        login(m, "mallory", "pw-mallory")
        assert "<script>" in text(m) and "<b>Mal</b>" in text(m), text(m)
        assert m.title != "owned", m.title
        assert not m.find_elements(By.CSS_SELECTOR, "main b"), "markup became an element"
        shot("home-markup", m)
    finally:
        m.quit()


@test
def the_session_cookie_is_dead_after_logout():
    d.get(PORTAL + "/")
    old, token = cookie(), form_csrf()
    submit("form[action='/logout']")
    assert "/login" in d.current_url
    code, body = post("/keys/add", {"key": PUB, "csrf": token}, session=old)
    assert code == 403 and "session has ended" in body, (code, body[:300])
    assert_session_dead(old, "the old cookie opened a page")
    # A new login gets a new session id, and the old form token is stale in it.
    login(d, "alice", "new-alice-pw")
    assert cookie() != old
    code, _ = post("/keys/add", {"key": PUB, "csrf": state["old_csrf"]}, session=cookie())
    assert code == 403, code


@test
def option_like_values_and_a_second_login_page():
    # A form value that semailctl could read as an option (it would choose root's configuration file) is refused.
    d.get(PORTAL + "/keys")
    token = form_csrf()
    for field, path in (("key", "/keys/add"), ("fingerprint", "/keys/remove")):
        code, _ = post(path, {field: "--config=/etc/shadow", "csrf": token}, session=cookie())
        assert code == 303, code
        d.get(PORTAL + "/keys")
        assert 'begins with "-"' in text(), text()
    # The login page stores nothing: no session cookie is handed out with it.
    r = urllib.request.urlopen(PORTAL + "/login")
    cookies = r.headers.get_all("Set-Cookie")
    assert len(cookies) == 1 and cookies[0].startswith("semail-login="), cookies
    # Opening the login page while logged in ends that session on the server too.
    old = cookie()
    d.get(PORTAL + "/login")
    assert_session_dead(old, "the session survived the login page")


@test
def a_login_storm_is_throttled_and_slapd_is_unhurt():
    def attempt(uid, pw):
        jar = http.cookiejar.CookieJar()
        o = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = o.open(PORTAL + "/login").read().decode()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"uid": uid, "password": pw, "csrf": token}).encode()
        req = urllib.request.Request(PORTAL + "/login", data=data, headers={"Origin": PORTAL})
        try:
            return o.open(req).status
        except urllib.error.HTTPError as e:
            return e.code
    codes = [attempt("bob", f"guess-{i}") for i in range(30)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
    # Throttled means no bind at all: even bob's right password is refused now.
    assert attempt("bob", "pw-bob") == 429
    t0 = time.time()
    assert binds("bob", "pw-bob")  # slapd answers at once
    assert time.time() - t0 < 2
    time.sleep(9)  # login_window = 8
    assert attempt("bob", "pw-bob") == 200


@test
def parallel_guesses_get_no_more_binds_than_the_limit():
    # The attack: one login token, many guesses sent at once, each meant to pass the check before any is counted.
    jar = http.cookiejar.CookieJar()
    o = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = o.open(PORTAL + "/login").read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    login_cookie = [c for c in jar if c.name == "semail-login"][0].value

    def guess(i):
        data = urllib.parse.urlencode({"uid": "bob", "password": f"parallel-{i}", "csrf": token}).encode()
        req = urllib.request.Request(PORTAL + "/login", data=data,
                                     headers={"Origin": PORTAL, "Cookie": f"semail-login={login_cookie}"})
        try:
            return urllib.request.urlopen(req, timeout=60).status
        except urllib.error.HTTPError as e:
            return e.code
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(guess, range(40)))
    wrong = codes.count(401)
    assert 1 <= wrong <= 5 and codes.count(429) == 40 - wrong, codes
    time.sleep(9)  # login_window = 8


d.quit()
failed = [n for n, e in results if e]
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
