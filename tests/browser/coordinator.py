"""The coordinator page as a person uses it (Coordinator), the local stack around it (Stack), and the CSV files the
tests upload, each with the rejections and counts the import must report for it (ObservationsFile)."""

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

HEADER = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at"
# The scopes of the page's app client (the identity-provider stand-in gives its users the same).
PAGE_SCOPES = "openid imports/upload imports/read"


@dataclass
class Stack:
    """Where the local stack's services are (.local/stack.env), and tokens minted as the local gateway accepts them."""

    VARIABLES = ("PAGE_URL", "IDP_URL", "API_URL", "AWS_ENDPOINT_URL", "CARGO_TARGET_DIR", "LOCAL_JWT_SECRET")

    page_url: str
    idp_url: str
    api_url: str
    s3_url: str
    target_dir: Path

    @classmethod
    def from_environment(cls):
        return cls(
            page_url=os.environ["PAGE_URL"].rstrip("/"),
            idp_url=os.environ["IDP_URL"].rstrip("/"),
            api_url=os.environ["API_URL"].rstrip("/"),
            s3_url=os.environ["AWS_ENDPOINT_URL"].rstrip("/"),
            target_dir=Path(os.environ["CARGO_TARGET_DIR"]),
        )

    def mint(self, sub, scopes, *groups):
        """An access token for `sub` with these scopes and groups (cognito:groups), like `local-gateway mint`."""
        command = [str(self.target_dir / "debug" / "local-gateway"), "mint", sub, scopes, *groups]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    def api(self, method, path, token, body=None):
        """(status, JSON body) of a request to the HTTP API."""
        headers = {"authorization": f"Bearer {token}"}
        request = urllib.request.Request(self.api_url + path, method=method, headers=headers)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)


    def import_file(self, token, data):
        """Announces `data` for CARDIO-7/S01 and sends it with the pre-signed PUT, as a coordinator's tool does; the
        import id. The import then runs on its own."""
        status, announced = self.api("POST", "/imports/observations", token, {
            "study": "CARDIO-7", "site": "S01", "fileName": data.name, "sizeBytes": len(data.content),
            "sha256": data.sha256,
        })
        assert status == 201, announced
        upload = announced["upload"]
        request = urllib.request.Request(upload["url"], data=data.content, method=upload["method"])
        for name, value in upload["headers"].items():
            if name.lower() not in ("content-length", "host"):
                request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        return announced["importId"]


@dataclass
class ObservationsFile:
    """A CSV file of observations for CARDIO-7/S01, some rows bad on purpose: its bytes, and what the import must
    report for it."""

    name: str
    lines: list = field(default_factory=lambda: [HEADER])
    # (line, column, code) of every rejection the report must list, in file order.
    rejections: list = field(default_factory=list)
    rows: int = 0

    def row(self, text, rejection=None):
        line = sum(part.count("\n") + 1 for part in self.lines) + 1
        self.lines.append(text)
        self.rows += 1
        if rejection:
            self.rejections.append((str(line), *rejection))
        return self

    @property
    def content(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()

    @property
    def sha256(self) -> str:
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode()

    @property
    def counts(self):
        rejected = len({line for line, _, _ in self.rejections})
        return {"total": self.rows, "imported": self.rows - rejected, "rejected": rejected, "notReached": 0}

    @property
    def codes(self):
        return Counter(code for _, _, code in self.rejections)

    @classmethod
    def with_many_bad_rows(cls, name, bad):
        """`bad` rows, each rejected: two of every three for a missing subject, the third for a date in the future."""
        f = cls(name)
        for n in range(bad):
            if n % 3 == 2:
                f.row(f"CARDIO-7,S01,BIG-{n:04},WEEK-4,VITALS,SYSBP,120,mmHg,2999-01-01T00:00:00Z",
                      ("collected_at", "in_future"))
            else:
                f.row("CARDIO-7,S01,,WEEK-4,VITALS,SYSBP,120,mmHg,2026-03-02T08:15:00Z", ("subject_id", "missing"))
        return f

    @classmethod
    def with_bad_rows(cls, name, valid=12):
        f = cls(name)
        for n in range(valid):
            f.row(f"CARDIO-7,S01,BRW-{n:03},WEEK-4,VITALS,SYSBP,{118 + n},mmHg,2026-03-02T08:{n:02}:00+01:00")
        # A free-text value over two lines, with a comma and quotes: the rows after it start a line further down.
        f.row('CARDIO-7,S01,BRW-050,WEEK-4,NOTES,COMMENT,"stable, ""no change""\nsee visit 3",,2026-03-02T08:30:00Z')
        f.row("CARDIO-7,S01,BRW-101,WEEK-4,VITALS,SYSBP,130,mmHg,yesterday", ("collected_at", "invalid_format"))
        f.row("CARDIO-7,S01,BRW-102,WEEK-4,VITALS,SYSBP,131,mmHg,02/03/2026 08:15", ("collected_at", "invalid_format"))
        f.row("CARDIO-7,S01,BRW-103,WEEK-4,VITALS,SYSBP,132,mmHg,2999-01-01T00:00:00Z", ("collected_at", "in_future"))
        f.row("CARDIO-7,S02,BRW-104,WEEK-4,VITALS,SYSBP,133,mmHg,2026-03-02T08:15:00Z", ("site_id", "scope_mismatch"))
        f.row("CARDIO-7,S01,BRW-105,WEEK-4", ("", "field_count"))
        f.row("CARDIO-7,S01,,WEEK-4,VITALS,SYSBP,134,mmHg,2026-03-02T08:15:00Z", ("subject_id", "missing"))
        return f


def read_csv_url(url):
    """The records of a CSV file served at `url` (a pre-signed GET of the local S3), header first."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return list(csv.reader(io.StringIO(response.read().decode("utf-8-sig"), newline="")))


class Coordinator:
    """The page in a browser, driven as a person would: by label, role and visible text."""

    def __init__(self, page: Page, stack: Stack, screenshots: Path, test_name: str):
        self.page = page
        self.stack = stack
        self.screenshots = screenshots
        self.test_name = test_name
        self.console = []
        self.page_errors = []
        page.on("console", lambda message: self.console.append((message.type, message.text)))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def shot(self, step, part=None):
        """A screenshot of the whole page, or of one part of it (a locator), as <test>-<step>.png."""
        path = str(self.screenshots / f"{self.test_name}-{step}.png")
        if part is None:
            self.page.screenshot(path=path, full_page=True)
        else:
            part.screenshot(path=path)

    def open(self):
        self.page.goto(self.stack.page_url + "/")
        expect(self.page.get_by_role("heading", name="Data import", exact=True)).to_be_visible()

    def sign_in(self, user):
        """Signs in through the identity-provider stand-in as `user`; back on the page, signed in."""
        self.open()
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(self.stack.idp_url + "/**")
        self.page.get_by_label(user, exact=True).check()
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(self.stack.page_url + "/")
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def choose_site(self, study, site):
        self.page.get_by_label("Study", exact=True).select_option(study)
        self.page.get_by_label("Site", exact=True).select_option(site)

    def pick_file(self, name, content: bytes):
        self.page.get_by_label("CSV file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": content})

    def fact(self, term):
        """The value of a term in the file's facts (name, size, SHA-256)."""
        return self.page.locator("#file-facts").get_by_text(term, exact=True).locator("xpath=following-sibling::dd[1]")

    def problem(self):
        return self.page.get_by_role("alert")

    def open_import(self, import_id):
        """Opens an import through the address, as a link of the recent imports does."""
        self.page.evaluate("id => { location.hash = 'import=' + encodeURIComponent(id); }", import_id)

    def record_live_region(self):
        """From now on, every text written into the page's live region (#live), in order: said()."""
        self.page.evaluate("""() => {
          const live = document.getElementById('live');
          window.__said = [];
          new MutationObserver(() => window.__said.push(live.textContent))
            .observe(live, { childList: true, characterData: true, subtree: true });
        }""")

    def said(self):
        return self.page.evaluate("window.__said")

    def table_rows(self, table_name):
        """The cells' texts of a table's body rows, the table found by its caption."""
        table = self.page.get_by_role("table", name=table_name, exact=True)
        return table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
        )

    def counts(self):
        return {
            key: int(self.page.locator(f"#count-{css}").inner_text().replace(",", ""))
            for key, css in [("total", "total"), ("imported", "imported"), ("rejected", "rejected"),
                             ("notReached", "not-reached")]
        }

    def csp_violations(self):
        """Console messages in which the browser refused something under the page's Content-Security-Policy."""
        return [text for kind, text in self.console if "Content Security Policy" in text]

    def assert_clean_run(self):
        """No CSP violation and no uncaught error in the page while the test ran."""
        assert self.csp_violations() == []
        assert self.page_errors == []

    def scroll_width(self):
        return self.page.evaluate("document.scrollingElement.scrollWidth")
