"""The coordinator page in a real browser (Debian's chromium, headless) against the local stack: the page server with
its production security headers, the identity-provider stand-in, the HTTP API, the local S3 and the import.

Each test signs in through the stand-in as one of its users (scripts/local-users.json), acts as that person would,
screenshots its steps into .local/screenshots/<test>-<step>.png, and ends by asserting that the page ran without a
Content-Security-Policy violation or an uncaught error.
"""

import csv
import io
import re
import uuid

from playwright.sync_api import expect

from coordinator import PAGE_SCOPES, ObservationsFile, read_csv_url

FINAL_TEXT = "Completed"


def unique_name(stem):
    """A file name no earlier run used, so the recent-imports table shows this run's import."""
    return f"{stem}-{uuid.uuid4().hex[:8]}.csv"


def upload_and_wait(app, data: ObservationsFile):
    """Picks the file, checks what the page says about it, uploads it and waits until the import has ended."""
    page = app.page
    app.pick_file(data.name, data.content)
    expect(app.fact("File")).to_have_text(data.name)
    expect(app.fact("Size")).to_contain_text(f"{len(data.content):,} bytes")
    # The checksum computed by the browser is the file's SHA-256, base64, exactly as S3 checks it.
    expect(app.fact("SHA-256")).to_have_text(data.sha256)
    app.shot("file-chosen")
    upload = page.get_by_role("button", name="Upload")
    expect(upload).to_be_enabled()
    upload.click()
    # The whole file went out through the upload's progress bar.
    upload_bar = page.get_by_role("progressbar", name="File sent")
    expect(upload_bar).to_have_attribute("max", str(len(data.content)))
    expect(upload_bar).to_have_js_property("value", len(data.content))
    expect(page.get_by_text("The whole file was sent")).to_be_visible()
    expect(page.locator("#recent-status")).not_to_have_text("Loading…")
    app.shot("upload-progress")
    expect(page.locator("#job-status")).to_have_text(FINAL_TEXT)
    return page.locator("#job-id").inner_text()


def test_a_coordinator_uploads_a_file_follows_its_import_and_reads_its_rejected_rows(app):
    page = app.page
    data = ObservationsFile.with_bad_rows(unique_name("week-4"))
    app.sign_in("coordinator-s01")
    app.shot("signed-in")
    # Their one grant is the only choice.
    expect(page.get_by_label("Study", exact=True).locator("option")).to_have_text(["CARDIO-7"])
    expect(page.get_by_label("Site", exact=True).locator("option")).to_have_text(["S01"])
    app.choose_site("CARDIO-7", "S01")

    import_id = upload_and_wait(app, data)

    # Progress at the end: every byte of the file processed, as many rows done as the file has.
    job_bar = page.get_by_role("progressbar", name="File imported")
    expect(job_bar).to_have_attribute("max", str(len(data.content)))
    expect(job_bar).to_have_js_property("value", len(data.content))
    expect(page.locator("#job-progress-text")).to_contain_text(f"Rows done: {data.rows}.")
    expect(page.locator("#job-progress-text")).to_contain_text(re.compile(r"Invocations: [1-9]"))
    app.shot("completed")
    assert app.counts() == data.counts

    # The rejected rows: the report's lines, columns and codes, and how many rows each code rejected.
    expect(page.locator("#rejected-status")).to_have_text(f"{len(data.rejections)} rejected rows.")
    shown = app.table_rows("Rejected rows")
    assert [tuple(r[:3]) for r in shown] == data.rejections
    assert all(r[3] for r in shown), "every rejected row has its message"
    by_code = {code: int(n) for code, n in app.table_rows("Rejected rows by code")}
    assert by_code == dict(data.codes)
    app.shot("rejected-rows", page.locator("#job"))

    # The download link is the report itself; the table says what it says, quoted messages included.
    link = page.get_by_role("link", name="Download the rejected rows (CSV)")
    expect(link).to_have_attribute("download", re.compile(r".+"))
    href = link.get_attribute("href")
    assert href.startswith(app.stack.s3_url + "/")
    header, *records = read_csv_url(href)
    assert header == ["line", "column", "code", "message"]
    assert shown == records

    # The site's recent imports list it first, with its counts.
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#recent-status")).to_contain_text("latest imports")
    first = page.get_by_role("table", name="The site's latest imports, newest first").locator("tbody tr").first
    expect(first.locator("td")).to_have_text(
        [data.name, re.compile(".+"), FINAL_TEXT, str(data.counts["imported"]), str(data.counts["rejected"])]
    )
    # The tokens live in the page's memory only: loaded again, even at the import's address, it asks for a sign-in.
    assert page.url == f"{app.stack.page_url}/#import={import_id}"
    page.reload()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.locator("#job")).to_be_hidden()
    app.assert_clean_run()


def test_another_sites_coordinator_neither_lists_nor_opens_the_import(app):
    stack = app.stack
    page = app.page
    # An import of S01, announced by an S01 coordinator through the API.
    name = unique_name("s01-only")
    s01 = stack.mint("browser-test-s01", PAGE_SCOPES, "site:CARDIO-7/S01")
    status, announced = stack.api("POST", "/imports/observations", s01, {
        "study": "CARDIO-7", "site": "S01", "fileName": name, "sizeBytes": 10,
        "sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    })
    assert status == 201, announced
    import_id = announced["importId"]
    assert stack.api("GET", f"/imports/{import_id}", s01)[0] == 200

    app.sign_in("coordinator-s02")
    expect(page.get_by_label("Site", exact=True).locator("option")).to_have_text(["S02"])
    expect(page.locator("#recent-status")).to_contain_text("CARDIO-7 / S02")
    assert name not in [r[0] for r in app.table_rows("The site's latest imports, newest first")]
    app.shot("own-list")

    with page.expect_response(lambda r: r.url == f"{stack.api_url}/imports/{import_id}") as answer:
        page.evaluate("id => { location.hash = 'import=' + id; }", import_id)
    problem = answer.value.json()
    assert answer.value.status == 404
    alert = app.problem()
    expect(alert).to_be_visible()
    expect(alert.get_by_role("heading")).to_have_text(problem["title"])
    expect(alert).to_contain_text(problem["detail"])
    expect(alert.locator("code").first).to_have_text("not_found")
    expect(alert).to_be_focused()
    expect(page.locator("#job")).to_be_hidden()
    app.shot("not-found")
    app.assert_clean_run()


def test_a_person_without_site_grants_is_told_there_are_no_sites(app):
    page = app.page
    app.sign_in("patient-0001")
    expect(page.get_by_text("Your account has no sites to import for.")).to_be_visible()
    expect(page.get_by_role("button", name="Upload")).to_have_count(0)
    expect(page.get_by_label("CSV file")).to_be_hidden()
    app.shot("no-sites")
    app.assert_clean_run()


def test_an_announcement_the_api_refuses_is_shown_as_its_problem_document(app):
    """An empty file: the page announces it as it is, and the API refuses it (422, sizeBytes out of range)."""
    page = app.page
    app.sign_in("coordinator-s01")
    app.pick_file("empty.csv", b"")
    expect(app.fact("Size")).to_have_text("0 bytes")
    with page.expect_response(lambda r: r.url == f"{app.stack.api_url}/imports/observations") as answer:
        page.get_by_role("button", name="Upload").click()
    assert answer.value.status == 422
    problem = answer.value.json()
    assert answer.value.headers["content-type"].startswith("application/problem+json")
    alert = app.problem()
    expect(alert.get_by_role("heading")).to_have_text(problem["title"])
    expect(alert).to_contain_text(problem["detail"])
    expect(alert.locator("code").first).to_have_text(problem["code"])
    violations = alert.get_by_role("list", name="What to correct").get_by_role("listitem")
    expect(violations).to_have_text([f"{v['path']}: {v['message']}" for v in problem["violations"]])
    assert [v["path"] for v in problem["violations"]] == ["/sizeBytes"]
    expect(alert).to_be_focused()
    expect(page.locator("#job")).to_be_hidden()
    app.shot("problem")
    app.assert_clean_run()


LIST_THROUGH_THE_PAGE = """async () => {
  const api = await import('/api.js');
  const config = await (await fetch('/config.json')).json();
  try {
    const list = await api.listImports(config, 'CARDIO-7', 'S01', 1);
    return 'listed ' + list.imports.length;
  } catch (error) {
    return 'refused: ' + error.message;
  }
}"""


def test_sign_out_forgets_the_token(app):
    page = app.page
    app.sign_in("coordinator-s01")
    # The page's own API module calls the API while signed in; the tokens are in no storage.
    assert page.evaluate(LIST_THROUGH_THE_PAGE).startswith("listed ")
    assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]

    # The page forgets the token before it leaves for the identity provider's sign-out: with that page out of
    # reach (the navigation to it dropped), the page left behind is signed out and its API calls are refused.
    logout = f"{app.stack.idp_url}/logout**"
    page.route(logout, lambda route: route.abort("aborted"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert page.evaluate(LIST_THROUGH_THE_PAGE) == "refused: Signed out"
    page.unroute(logout)

    app.sign_in("coordinator-s01")
    authorized = []
    page.context.on("request", lambda r: authorized.append(r.url) if "authorization" in r.headers else None)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(app.stack.page_url + "/")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    app.shot("signed-out")

    page.go_back()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.get_by_label("CSV file")).to_be_hidden()
    assert page.evaluate(LIST_THROUGH_THE_PAGE) == "refused: Signed out"
    assert authorized == []
    app.shot("after-back")
    app.assert_clean_run()


def test_the_page_fits_a_360_px_wide_screen(app):
    page = app.page
    page.set_viewport_size({"width": 360, "height": 740})
    app.open()
    assert app.scroll_width() <= 360
    app.sign_in("coordinator-both")
    assert app.scroll_width() <= 360
    expect(page.get_by_label("Site", exact=True).locator("option")).to_have_text(["S01", "S02"])
    app.choose_site("CARDIO-7", "S01")
    upload_and_wait(app, ObservationsFile.with_bad_rows(unique_name("a-rather-long-file-name-for-a-small-screen")))
    expect(page.get_by_role("table", name="Rejected rows", exact=True)).to_be_visible()
    # The tables are wider than the screen: they scroll in their own box, the page does not.
    assert page.locator(".table-box").evaluate_all("boxes => boxes.some(b => b.scrollWidth > b.clientWidth)")
    assert app.scroll_width() <= 360
    app.shot("narrow")
    app.assert_clean_run()


def test_the_page_runs_under_its_content_security_policy(app):
    page = app.page
    response = page.goto(app.stack.page_url + "/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    app.sign_in("coordinator-s01")
    app.choose_site("CARDIO-7", "S01")
    upload_and_wait(app, ObservationsFile.with_bad_rows(unique_name("csp")))
    expect(page.get_by_role("table", name="Rejected rows", exact=True)).to_be_visible()
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#recent-status")).to_contain_text("latest imports")
    app.assert_clean_run()


MAIN_FLOW = [
    # (role, accessible name, id)
    ("combobox", "Study", "study"),
    ("combobox", "Site", "site"),
    ("combobox", "Data set", "dataset"),
    ("button", "CSV file", "file"),
    ("button", "Upload", "upload"),
    ("button", "Refresh", "refresh"),
]


def test_the_main_flow_works_with_the_keyboard_alone(app):
    page = app.page
    app.sign_in("coordinator-s01")
    # Every control of the main flow has an accessible name.
    for role, name, element_id in [("button", "Sign out", "sign-out"), *MAIN_FLOW]:
        if element_id == "file":
            locator = page.get_by_label(name, exact=True)
        else:
            locator = page.get_by_role(role, name=name, exact=True)
        assert locator.get_attribute("id") == element_id, name
    # What changes by itself (status, progress, the lists' state) is read out; problems at once.
    for live in ["notice", "job-status", "upload-progress-text", "job-progress-text", "recent-status", "rejected-status"]:
        assert page.locator(f"#{live}").get_attribute("aria-live") == "polite", live
    assert page.locator("#problem").get_attribute("role") == "alert"

    data = ObservationsFile.with_bad_rows(unique_name("keyboard"))
    page.locator("body").focus()
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        if focused == "file":
            # The file chooser opens from the keyboard; the test answers it as the person would.
            with page.expect_file_chooser() as chooser:
                page.keyboard.press("Space")
            chooser.value.set_files({"name": data.name, "mimeType": "text/csv", "buffer": data.content})
            expect(page.locator("#file-sha256")).to_have_text(data.sha256)
        reached.append(focused)
        if focused == "upload":
            break
    assert [r for r in reached if r in {f for _, _, f in MAIN_FLOW}] == ["study", "site", "dataset", "file", "upload"]
    # Focus is visible.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    app.shot("upload-focused")
    page.keyboard.press("Enter")
    expect(page.locator("#job-title")).to_be_focused()
    expect(page.locator("#job-status")).to_have_text(FINAL_TEXT)
    page.keyboard.press("Tab")
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "refresh":
            break
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Refresh")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#recent-imports tbody tr").first.locator("td").first).to_have_text(data.name)
    app.shot("done")
    app.assert_clean_run()


def test_the_page_reads_csv_as_rfc_4180_writes_it(app):
    """The rejected-rows report quotes fields with commas, quotes and line breaks; the page's reader (web/csv.js)
    must read them as Python's csv module writes them."""
    records = [
        ["line", "column", "code", "message"],
        ["7", "value", "too_long", 'must be at most 200 characters, "as written"'],
        ["9", "/medicationLogs/0/dosage", "missing", "first line\nsecond line"],
        ["12", "", "field_count", "has 4 field(s); the header has 9"],
        ["13", "unit", "x", "ends with a carriage return\r\nand a CRLF"],
        ["14", "", "", ""],
    ]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(records)
    app.open()
    parsed = app.page.evaluate(
        "async text => (await import('/csv.js')).parseCsv(text)", "\ufeff" + out.getvalue()
    )
    assert parsed == records
    app.assert_clean_run()


def test_a_network_error_is_shown_until_the_service_answers_again(app):
    page = app.page
    app.sign_in("coordinator-s01")
    expect(page.locator("#recent-status")).to_contain_text("CARDIO-7 / S01")
    api = f"{app.stack.api_url}/**"
    page.route(api, lambda route: route.abort("connectionrefused"))
    page.get_by_role("button", name="Refresh").click()
    alert = app.problem()
    expect(alert.get_by_role("heading")).to_have_text("The import service could not be reached")
    expect(alert).to_contain_text("Check your network connection")
    expect(page.locator("#recent-status")).to_have_text("The recent imports could not be loaded.")
    app.shot("network-error")
    page.unroute(api)
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#recent-status")).to_contain_text("CARDIO-7 / S01")
    expect(alert).to_be_hidden()
    app.assert_clean_run()


def test_an_upload_storage_refuses_is_shown_with_its_code(app):
    """S3 refuses a PUT whose headers differ from the signed ones; the local S3 checks no signature, so the refusal
    is S3's answer played back."""
    page = app.page
    app.sign_in("coordinator-s01")
    refusal = "<?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>"
    page.route(
        f"{app.stack.s3_url}/**",
        lambda route: route.fulfill(
            status=403,
            headers={"access-control-allow-origin": "*", "content-type": "application/xml"},
            body=refusal,
        )
        if route.request.method == "PUT"
        else route.fallback(),
    )
    app.pick_file(unique_name("refused"), ObservationsFile.with_bad_rows("x").content)
    page.get_by_role("button", name="Upload").click()
    alert = app.problem()
    expect(alert.get_by_role("heading")).to_have_text("The upload failed")
    expect(alert).to_contain_text("HTTP 403, SignatureDoesNotMatch")
    expect(page.locator("#upload-progress-text")).to_have_text("The file was not sent.")
    expect(page.locator("#job-status")).to_have_text("Waiting for the file")
    app.shot("upload-refused")
    app.assert_clean_run()
