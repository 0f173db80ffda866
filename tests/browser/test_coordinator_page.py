"""The coordinator page in a real browser (Debian's chromium, headless) against the local stack: the page server with
its production security headers, the identity-provider stand-in, the HTTP API, the local S3 and the import.

Each test signs in through the stand-in as one of its users (scripts/local-users.json), acts as that person would,
screenshots its steps into .local/screenshots/<test>-<step>.png, and ends by asserting that the page ran without a
Content-Security-Policy violation or an uncaught error.
"""

import csv
import io
import json
import re
import uuid
from collections import Counter

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
    app.record_live_region()

    import_id = upload_and_wait(app, data)

    # Progress at the end: every byte of the file processed, as many rows done as the file has.
    job_bar = page.get_by_role("progressbar", name="File imported")
    expect(job_bar).to_have_attribute("max", str(len(data.content)))
    expect(job_bar).to_have_js_property("value", len(data.content))
    expect(page.locator("#job-progress-text")).to_contain_text(f"Rows done: {data.rows}.")
    expect(page.locator("#job-progress-text")).to_contain_text(re.compile(r"Invocations: [1-9]"))
    app.shot("completed")
    assert app.counts() == data.counts
    # Read out: the file, the upload and each status once, not every redraw of the progress text.
    said = app.said()
    assert re.fullmatch(f"{re.escape(data.name)}, {len(data.content):,} bytes .*: computing its checksum…", said[0])
    assert said[1] == f"The checksum of {data.name} is computed; the file can be uploaded."
    assert f"Sending {data.name}…" in said
    assert said[-1].startswith(f"{data.name}: {FINAL_TEXT}.")
    statuses = [s for s in said if s.startswith(f"{data.name}: ")]
    assert len(statuses) == len(set(statuses)), said
    assert all(a != b for a, b in zip(said, said[1:])), said

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
    # What changes by itself (status and progress through #live, the lists' state) is read out; problems at once.
    for live in ["notice", "live", "recent-status", "rejected-status"]:
        assert page.locator(f"#{live}").get_attribute("aria-live") == "polite", live
    # The texts redrawn at every poll are not live regions themselves: #live says what changed.
    for redrawn in ["job-status", "upload-progress-text", "job-progress-text", "file-facts"]:
        assert page.locator(f"#{redrawn}").get_attribute("aria-live") is None, redrawn
    assert page.locator("#problem").get_attribute("role") == "alert"
    # The page-wide live regions stay rendered while empty: text written into a region that was not rendered is
    # not read out.
    for live in ["notice", "live"]:
        assert page.locator(f"#{live}").evaluate("e => e.textContent === '' && getComputedStyle(e).display") != "none"
        assert page.locator(f"#{live}").evaluate("e => e.closest('[hidden]')") is None

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
    text = "\ufeff" + out.getvalue()
    parsed = app.page.evaluate("async text => (await import('/csv.js')).parseCsv(text)", text)
    assert parsed == records
    # Read from a stream, the text arrives in pieces that may end anywhere (inside quotes, between the two quotes
    # of a doubled one, between CR and LF): cut at every place, the records are the same.
    cut_everywhere = app.page.evaluate(
        """async text => {
          const { CsvReader } = await import('/csv.js');
          const results = [];
          for (let at = 0; at <= text.length; at++) {
            const reader = new CsvReader();
            results.push([...reader.push(text.slice(0, at)), ...reader.push(text.slice(at)), ...reader.end()]);
          }
          return results;
        }""",
        text,
    )
    assert len(cut_everywhere) == len(text) + 1
    for at, result in enumerate(cut_everywhere):
        assert result == records, f"cut at {at}"
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


def until(page, condition):
    """Lets the page's events (routes, requests) be handled until `condition()` holds: each evaluation is a round
    trip to the page, during which Playwright delivers what arrived."""
    for _ in range(10_000):
        if condition():
            return
        page.evaluate("0")
    raise AssertionError("the condition never held")


def problem_answer(status, title, origin):
    """An API answer as a problem document, with the CORS header the page's origin needs to read it."""
    return {
        "status": status,
        "headers": {"access-control-allow-origin": origin, "content-type": "application/problem+json"},
        "body": json.dumps({"title": title, "detail": "Try again in a moment.", "status": status,
                            "code": "unavailable"}),
    }


def announce_only(stack, token, stem):
    """An import of S01 announced through the API and never uploaded: it waits for its file."""
    status, announced = stack.api("POST", "/imports/observations", token, {
        "study": "CARDIO-7", "site": "S01", "fileName": unique_name(stem), "sizeBytes": 10,
        "sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    })
    assert status == 201, announced
    return announced["importId"]


def test_a_failed_poll_the_service_may_recover_from_is_asked_again(app):
    """One poll answered 503: the import stays shown as it last was, with the problem and when the page asks again;
    the next answer clears them. (A 404 ends the follow: test_another_sites_coordinator_neither_lists_nor_opens.)"""
    stack = app.stack
    page = app.page
    import_id = announce_only(stack, stack.mint("browser-test-s01", PAGE_SCOPES, "site:CARDIO-7/S01"), "retried")
    polls = []
    held = []

    def answer(route):
        polls.append(route.request.method)
        if len(polls) == 2:
            route.fulfill(**problem_answer(503, "Service Unavailable", stack.page_url))
        elif len(polls) == 3:
            held.append(route)  # the poll after the failure waits until the test has seen the page meanwhile
        else:
            route.fallback()

    page.route(f"{stack.api_url}/imports/{import_id}", answer)
    app.sign_in("coordinator-s01")
    app.record_live_region()
    app.open_import(import_id)
    expect(page.locator("#job-status")).to_have_text("Waiting for the file")
    alert = app.problem()
    expect(alert.get_by_role("heading")).to_have_text("Service Unavailable")
    expect(page.locator("#notice")).to_have_text(
        "The import could not be updated; it is shown as it last was. Asking again in 1.5 s."
    )
    expect(page.locator("#job")).to_be_visible()
    expect(page.locator("#job-id")).to_have_text(import_id)
    expect(page.locator("#job-status")).to_have_text("Waiting for the file")
    expect(alert).not_to_be_focused()
    app.shot("poll-failed")
    until(page, lambda: held)
    held[0].fallback()
    expect(page.locator("#notice")).to_have_text("The import service answers again.")
    expect(alert).to_be_hidden()
    expect(page.locator("#job-status")).to_have_text("Waiting for the file")
    # Two answers with the same status: it is read out once.
    assert [s for s in app.said() if s.endswith("Waiting for the file.")] == [
        f"{page.locator('#job-file').inner_text()}: Waiting for the file."
    ]
    page.unroute(f"{stack.api_url}/imports/{import_id}")
    app.assert_clean_run()


def test_opening_another_import_stops_the_rejected_rows_of_the_one_before(app):
    """The rejected rows of an import still loading when another is opened are dropped (their request stopped):
    they never land under the other import."""
    stack = app.stack
    page = app.page
    token = stack.mint("browser-test-s01", PAGE_SCOPES, "site:CARDIO-7/S01")
    first = stack.import_file(token, ObservationsFile.with_many_bad_rows(unique_name("first"), 3))
    second_data = ObservationsFile.with_bad_rows(unique_name("second"))
    second = stack.import_file(token, second_data)
    # While `hold` is set, a report's request is held unanswered.
    hold = []
    held = []
    page.route("**/*.rejected.csv*", lambda route: held.append(route) if hold else route.fallback())

    app.sign_in("coordinator-s01")
    app.open_import(second)
    expect(page.locator("#rejected-status")).to_have_text(f"{len(second_data.rejections)} rejected rows.")
    hold.append(True)
    app.open_import(first)
    expect(page.locator("#job-id")).to_have_text(first)
    expect(page.locator("#rejected-status")).to_have_text("Loading the rejected rows…")
    until(page, lambda: held)
    hold.clear()
    stopped = held[0].request.url
    with page.expect_event("requestfailed", lambda r: r.url == stopped):
        app.open_import(second)
    expect(page.locator("#job-id")).to_have_text(second)
    expect(page.locator("#rejected-status")).to_have_text(f"{len(second_data.rejections)} rejected rows.")
    assert [tuple(r[:3]) for r in app.table_rows("Rejected rows")] == second_data.rejections
    app.assert_clean_run()


def test_the_upload_card_stays_with_the_import_being_sent(app):
    """While a file is sent, the page stays on its import; once sent, another import opened shows no upload card."""
    stack = app.stack
    page = app.page
    other = announce_only(stack, stack.mint("browser-test-s01", PAGE_SCOPES, "site:CARDIO-7/S01"), "other")
    held = []
    page.route(f"{stack.s3_url}/**", lambda route: held.append(route) if route.request.method == "PUT"
               else route.fallback())
    app.sign_in("coordinator-s01")
    data = ObservationsFile.with_bad_rows(unique_name("sent"))
    app.pick_file(data.name, data.content)
    expect(app.fact("SHA-256")).to_have_text(data.sha256)
    with page.expect_request(lambda r: r.method == "PUT"):
        page.get_by_role("button", name="Upload").click()
    sending = page.locator("#job-id").inner_text()
    app.open_import(other)
    expect(page.locator("#notice")).to_have_text(
        "A file is being sent: other imports can be opened once it has been sent."
    )
    assert page.evaluate("location.hash") == f"#import={sending}"
    expect(page.locator("#job-id")).to_have_text(sending)
    expect(page.get_by_role("progressbar", name="File sent")).to_be_visible()
    page.unroute(f"{stack.s3_url}/**")
    held[0].fallback()
    expect(page.get_by_text("The whole file was sent")).to_be_visible()

    app.open_import(other)
    expect(page.locator("#job-id")).to_have_text(other)
    expect(page.locator("#job-status")).to_have_text("Waiting for the file")
    expect(page.get_by_role("progressbar", name="File sent")).to_be_hidden()
    expect(page.get_by_text("The whole file was sent")).to_be_hidden()
    app.open_import(sending)
    expect(page.locator("#job-status")).to_have_text(FINAL_TEXT)
    expect(page.get_by_text("The whole file was sent")).to_be_visible()
    app.assert_clean_run()


def test_a_malformed_import_address_is_ignored(app):
    stack = app.stack
    page = app.page
    import_id = announce_only(stack, stack.mint("browser-test-s01", PAGE_SCOPES, "site:CARDIO-7/S01"), "after")
    app.sign_in("coordinator-s01")
    page.evaluate("() => { location.hash = 'import=%E0'; }")
    # Hash changes are handled in order: once the next one's import is shown, the malformed one was handled.
    app.open_import(import_id)
    expect(page.locator("#job-id")).to_have_text(import_id)
    expect(app.problem()).to_be_hidden()
    app.assert_clean_run()


def test_a_file_over_the_pages_limit_is_refused_before_it_is_read(app, tmp_path):
    """A sparse file one byte over 1 GiB: no disk or memory spent, and the page must refuse it from its size."""
    page = app.page
    big = tmp_path / "too-big.csv"
    with open(big, "wb") as f:
        f.truncate(1024**3 + 1)
    app.sign_in("coordinator-s01")
    page.get_by_label("CSV file").set_input_files(big)
    expect(app.fact("Size")).to_contain_text("1,073,741,825 bytes")
    alert = app.problem()
    expect(alert.get_by_role("heading")).to_have_text("The file is too large for this page")
    expect(alert).to_contain_text("up to 1,073,741,824 bytes (1.1 GB) (1 GiB)")
    expect(alert).to_contain_text('"Imports through the API"')
    expect(app.fact("SHA-256")).to_have_text("not computed: the file is too large for this page")
    expect(page.get_by_role("button", name="Upload")).to_be_disabled()
    app.assert_clean_run()


def test_a_long_rejected_rows_report_is_read_only_as_far_as_it_is_shown(app):
    """600 rejected rows: the first 500 of the report are shown, the counts per code are said to be of those."""
    stack = app.stack
    page = app.page
    data = ObservationsFile.with_many_bad_rows(unique_name("long-report"), 600)
    import_id = stack.import_file(stack.mint("browser-test-s01", PAGE_SCOPES, "site:CARDIO-7/S01"), data)
    app.sign_in("coordinator-s01")
    app.open_import(import_id)
    expect(page.locator("#job-status")).to_have_text(FINAL_TEXT)
    expect(page.locator("#rejected-status")).to_have_text(
        "The first 500 lines of the report are shown. 600 rows were rejected in all. Download the report for all "
        "of them."
    )
    shown = app.table_rows("Rejected rows")
    assert [tuple(r[:3]) for r in shown] == data.rejections[:500]
    by_code = {code: int(n) for code, n in app.table_rows("Rejected rows by code, of the rows shown")}
    assert by_code == dict(Counter(code for _, _, code in data.rejections[:500]))
    expect(page.get_by_role("link", name="Download the rejected rows (CSV)")).to_be_visible()
    app.assert_clean_run()
