// The coordinator page: sign in, choose a study and site from the grants, check a CSV file in the browser (size,
// SHA-256), announce it to the import API, upload it with the pre-signed request, follow the import until it ends,
// show its counts and rejected rows, and list the site's recent imports. The address `#import=<id>` opens an import.
// Nothing here writes tokens or file contents anywhere but memory and the requests that need them.

import { ApiError, FINAL_STATUSES, NETWORK_PROBLEM, announce, getImport, listImports } from "./api.js";
import * as auth from "./auth.js";
import { CsvReader, recordOf } from "./csv.js";
import { $, clearPassingProblem, clearProblem, el, row, say, show, showProblem } from "./dom.js";
import { MAX_BROWSER_FILE_BYTES, formatSize, sha256Base64 } from "./file.js";
import { UploadError, uploadFile } from "./upload.js";

const POLL_MS = 1500;
/** After a failed poll that may pass (network, 429, 5xx): asked again after 1.5 s, doubling up to 30 s. */
const POLL_RETRY_FIRST_MS = 1500;
const POLL_RETRY_MAX_MS = 30_000;
const REJECTED_ROWS_SHOWN = 500;

const STATUS_TEXT = {
  awaiting_upload: "Waiting for the file",
  running: "Importing",
  continuing: "Importing (continuing with the next part)",
  completed: "Completed",
  failed: "Failed",
  superseded: "Replaced by a newer upload",
  expired: "Expired: the file did not arrive in time",
};
const statusText = (status) => STATUS_TEXT[status] || status;

let config = null;
/** The file chosen and its checksum: { file, sha256 } once computed. */
let chosen = null;
/** Which import is followed; a newer follow makes older polls stop. */
let following = { id: null, generation: 0, timer: 0 };
/** Imports whose file this page sent: until the import starts, they wait for storage's notice, not for the file. */
const sent = new Set();
/** The import whose file is being sent now; while it is, the page stays on it. */
let uploading = null;
/** The import the upload card (its progress bar) belongs to: shown with that import only. */
let uploadCard = null;
/** The reading of the rejected rows under way: stopped when another import is opened. */
let reportLoad = null;

function notice(text) {
  $("notice").textContent = text;
}

/** A network error shown earlier, or a failed poll asked past, is over once an answer comes back. */
function clearNetworkProblem() {
  if (!$("problem").hidden && $("problem-code").textContent === NETWORK_PROBLEM.code) clearProblem();
  clearPassingProblem();
}

/** A failed request that may pass: no answer at all, too many requests, or the service's own failure. */
function mayPass(error) {
  if (!(error instanceof ApiError)) return false;
  const status = error.problem.status;
  return error.problem.code === NETWORK_PROBLEM.code || status === 429 || status >= 500;
}

/** An API failure: its problem shown; a refused or expired token signs the person out of the page. */
function failed(error) {
  if (error instanceof ApiError) {
    if (error.signedOut) {
      auth.forget();
      render();
    }
    showProblem(error.problem);
  } else {
    showProblem({ title: "Something went wrong", detail: String(error.message || error) });
  }
}

// --- signed in or not -------------------------------------------------------------------------------------------

function render() {
  const signedIn = auth.signedIn();
  show($("signed-out"), !signedIn);
  show($("account"), signedIn);
  if (!signedIn) {
    stopFollowing();
    show($("workspace"), false);
    show($("no-sites"), false);
    return;
  }
  $("who").textContent = auth.displayName();
  const grants = auth.grants(config);
  show($("no-sites"), grants.length === 0);
  show($("workspace"), grants.length > 0);
  if (grants.length === 0) return;
  fillChoices(grants);
  loadRecent();
  openFromAddress();
}

function fillChoices(grants) {
  const studies = [...new Set(grants.map((g) => g.study))];
  const study = $("study");
  const current = study.value;
  study.replaceChildren(...studies.map((s) => el("option", s, { value: s })));
  if (studies.includes(current)) study.value = current;
  fillSites();
  $("dataset").replaceChildren(...config.datasets.map((d) => el("option", d, { value: d })));
}

function fillSites() {
  const sites = auth.grants(config).filter((g) => g.study === $("study").value).map((g) => g.site);
  const site = $("site");
  const current = site.value;
  site.replaceChildren(...sites.map((s) => el("option", s, { value: s })));
  if (sites.includes(current)) site.value = current;
}

// --- the file -----------------------------------------------------------------------------------------------------

async function fileChosen() {
  const file = $("file").files[0];
  chosen = null;
  $("upload").disabled = true;
  show($("file-facts"), Boolean(file));
  if (!file) return;
  $("file-name").textContent = file.name;
  $("file-size").textContent = formatSize(file.size);
  if (file.size > MAX_BROWSER_FILE_BYTES) {
    // Refused before any of it is read: its checksum would need the whole file in memory.
    $("file-sha256").textContent = "not computed: the file is too large for this page";
    showProblem({
      title: "The file is too large for this page",
      detail:
        `This page checks files of up to ${formatSize(MAX_BROWSER_FILE_BYTES)} (1 GiB): it reads the whole file ` +
        "in the browser to compute its checksum. Send larger files through the import API (see \"Imports through " +
        "the API\" in the project's README), or split the file.",
      code: "file_too_large",
    });
    return;
  }
  say(`${file.name}, ${formatSize(file.size)}: computing its checksum…`);
  $("file-sha256").textContent = "computing…";
  try {
    const sha256 = await sha256Base64(file);
    if ($("file").files[0] !== file) return; // another file was chosen meanwhile
    chosen = { file, sha256 };
    $("file-sha256").textContent = sha256;
    $("upload").disabled = false;
    say(`The checksum of ${file.name} is computed; the file can be uploaded.`);
  } catch {
    $("file-sha256").textContent = "could not be computed";
    showProblem({
      title: "The file could not be read",
      detail:
        "This browser could not read the whole file to compute its checksum. Choose the file again, or a smaller one.",
    });
  }
}

// --- announce, upload, follow -------------------------------------------------------------------------------------

async function startUpload(event) {
  event.preventDefault();
  if (!chosen) return;
  clearProblem();
  const { file, sha256 } = chosen;
  const study = $("study").value;
  const site = $("site").value;
  setFormBusy(true);
  try {
    notice("Announcing the file…");
    let announced;
    try {
      announced = await announce(config, $("dataset").value, {
        study,
        site,
        fileName: file.name,
        sizeBytes: file.size,
        sha256,
      });
    } catch (error) {
      notice("");
      failed(error);
      return;
    }
    stopFollowing();
    uploading = announced.importId;
    uploadCard = announced.importId;
    history.replaceState(null, "", `#import=${encodeURIComponent(announced.importId)}`);
    showJob({
      importId: announced.importId,
      fileName: file.name,
      status: announced.status,
      sizeBytes: file.size,
      progress: { rowsDone: 0, bytesDone: 0, bytesTotal: file.size, invocations: 0 },
    });
    const bar = $("upload-progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    $("upload-progress-text").textContent = "Sending the file…";
    show($("upload-progress-box"));
    $("job-title").focus();
    say(`Sending ${file.name}…`);
    let lastTenth = -1;
    try {
      await uploadFile(announced.upload, file, (loaded, total) => {
        bar.max = Math.max(total, 1);
        bar.value = loaded;
        // The text changes every tenth, not with every progress event; every quarter is read out.
        const tenth = Math.floor((loaded / Math.max(total, 1)) * 10);
        if (tenth !== lastTenth) {
          const quarter = Math.floor(tenth / 2.5);
          if (quarter > Math.floor(lastTenth / 2.5) && quarter > 0 && quarter < 4) say(`${quarter * 25} % sent`);
          lastTenth = tenth;
          const text = `${formatSize(loaded)} of ${formatSize(total)} sent (${tenth * 10} %)`;
          $("upload-progress-text").textContent = text;
        }
      });
    } catch (error) {
      $("upload-progress-text").textContent = "The file was not sent.";
      showProblem(
        error instanceof UploadError && error.network
          ? { ...NETWORK_PROBLEM, title: "The storage service could not be reached", code: "upload_failed" }
          : { title: "The upload failed", detail: error.message, code: "upload_failed" },
      );
      return;
    }
    $("upload-progress-text").textContent = `The whole file was sent: ${formatSize(file.size)}.`;
    sent.add(announced.importId);
    notice("The file was sent; its import is followed below.");
    follow(announced.importId);
    loadRecent();
  } finally {
    uploading = null;
    setFormBusy(false);
  }
}

function setFormBusy(busy) {
  for (const id of ["study", "site", "dataset", "file"]) $(id).disabled = busy;
  $("upload").disabled = busy || !chosen;
}

function stopFollowing() {
  clearTimeout(following.timer);
  if (reportLoad) reportLoad.abort();
  reportLoad = null;
  following = { id: null, generation: following.generation + 1, timer: 0 };
}

/**
 * Follows an import: asks for it every POLL_MS until its status is final; `focus` moves the focus to it once shown.
 * A failure that may pass (network, 429, 5xx) is shown and asked past with a growing delay, the import left as it
 * last was; any other (refused, not found) ends the follow.
 */
function follow(importId, focus = false) {
  stopFollowing();
  const generation = following.generation;
  following.id = importId;
  let failures = 0;
  let shown = false;
  const said = { status: null, quarter: 0 };
  const poll = async () => {
    let view;
    try {
      view = await getImport(config, importId);
    } catch (error) {
      if (generation !== following.generation) return;
      if (mayPass(error)) {
        failures += 1;
        const delay = Math.min(POLL_RETRY_FIRST_MS * 2 ** (failures - 1), POLL_RETRY_MAX_MS);
        showProblem(error.problem, false, true);
        const seconds = (delay / 1000).toLocaleString("en");
        notice(
          shown
            ? `The import could not be updated; it is shown as it last was. Asking again in ${seconds} s.`
            : `The import could not be loaded yet. Asking again in ${seconds} s.`,
        );
        following.timer = setTimeout(poll, delay);
      } else {
        show($("job"), false);
        stopFollowing();
        failed(error);
      }
      return;
    }
    if (generation !== following.generation) return;
    if (failures > 0) notice("The import service answers again.");
    failures = 0;
    clearNetworkProblem();
    showJob(view);
    shown = true;
    sayChanges(view, said);
    if (focus) {
      focus = false;
      $("job-title").focus();
    }
    if (FINAL_STATUSES.has(view.status)) {
      notice(`The import of ${view.fileName} ended: ${statusText(view.status)}.`);
      showOutcome(view);
      loadRecent();
    } else {
      following.timer = setTimeout(poll, POLL_MS);
    }
  };
  poll();
}

/** Reads out what changed since the last poll: the status, and progress by quarters (the text shown changes more). */
function sayChanges(view, said) {
  const parts = [];
  const status = $("job-status").textContent;
  if (status !== said.status) {
    said.status = status;
    parts.push(`${view.fileName}: ${status}.`);
  }
  const total = view.progress.bytesTotal || view.sizeBytes || 0;
  const quarter = total > 0 ? Math.floor((Math.min(view.progress.bytesDone, total) / total) * 4) : 0;
  if (!FINAL_STATUSES.has(view.status) && quarter > said.quarter && quarter < 4) {
    parts.push(`${quarter * 25} % of the file imported.`);
  }
  said.quarter = Math.max(said.quarter, quarter);
  if (parts.length) say(parts.join(" "));
}

function showJob(view) {
  show($("job"));
  // The upload's card belongs to the import being (or just) sent, never to another one opened since.
  show($("upload-progress-box"), view.importId === uploadCard);
  $("job-file").textContent = view.fileName;
  $("job-id").textContent = view.importId;
  const waitingForStorage = view.status === "awaiting_upload" && sent.has(view.importId);
  $("job-status").textContent = waitingForStorage ? "File sent; the import starts shortly" : statusText(view.status);
  $("job").dataset.status = view.status;
  const p = view.progress;
  const total = p.bytesTotal || view.sizeBytes || 0;
  const done = view.status === "completed" ? total : Math.min(p.bytesDone, total);
  const bar = $("job-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  $("job-progress-text").textContent =
    `Rows done: ${p.rowsDone.toLocaleString("en")}. ` +
    `${formatSize(done)} of ${formatSize(total)}. ` +
    `Invocations: ${p.invocations}.`;
  if (!FINAL_STATUSES.has(view.status)) {
    show($("job-counts"), false);
    show($("job-error"), false);
    show($("rejected"), false);
  }
}

function showOutcome(view) {
  const counts = view.counts;
  show($("job-counts"), Boolean(counts));
  if (counts) {
    $("count-total").textContent = counts.total.toLocaleString("en");
    $("count-imported").textContent = counts.imported.toLocaleString("en");
    $("count-rejected").textContent = counts.rejected.toLocaleString("en");
    $("count-not-reached").textContent = counts.notReached.toLocaleString("en");
  }
  show($("job-error"), Boolean(view.error));
  if (view.error) {
    $("job-error-message").textContent = view.error.message;
    $("job-error-code").textContent = view.error.code;
  }
  if (view.reports) showRejectedRows(view.reports.rejectedRowsUrl, counts);
  else show($("rejected"), false);
}

/**
 * The first `limit` records of the rejected-rows report as objects, read from its stream as it arrives: reading
 * stops there, so a report of millions of rows is never held whole. `cut` when more records follow.
 */
async function readRejectedRows(url, limit, signal) {
  const response = await fetch(url, { cache: "no-store", signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const csv = new CsvReader();
  let header = null;
  const rows = [];
  /** Takes records; true once one past the limit is seen. */
  const take = (records) => {
    for (const record of records) {
      if (!header) header = record;
      else if (rows.length < limit) rows.push(recordOf(header, record));
      else return true;
    }
    return false;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        take(csv.end());
        return { rows, cut: false };
      }
      if (take(csv.push(value))) return { rows, cut: true };
    }
  } finally {
    // The rest of the body is not downloaded.
    reader.cancel().catch(() => {});
  }
}

async function showRejectedRows(url, counts) {
  // The import this is for: another one opened meanwhile (a newer follow) must not get these rows.
  const generation = following.generation;
  show($("rejected"));
  show($("rejected-content"), false);
  const link = $("rejected-download");
  link.href = url;
  show(link);
  if (counts && counts.rejected === 0) {
    $("rejected-status").textContent = "No rows were rejected.";
    return;
  }
  $("rejected-status").textContent = "Loading the rejected rows…";
  const controller = new AbortController();
  reportLoad = controller;
  let read;
  try {
    read = await readRejectedRows(url, REJECTED_ROWS_SHOWN, controller.signal);
  } catch (error) {
    if (generation !== following.generation) return;
    $("rejected-status").textContent =
      `The rejected rows could not be loaded (${error.message}); use the download link.`;
    return;
  } finally {
    if (reportLoad === controller) reportLoad = null;
  }
  if (generation !== following.generation) return;
  const { rows, cut } = read;
  const byCode = new Map();
  for (const r of rows) byCode.set(r.code, (byCode.get(r.code) || 0) + 1);
  const codes = [...byCode].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  // The API counts rejected rows, not rows per code: per code, only the rows read can be counted.
  $("by-code-caption").textContent = cut ? "Rejected rows by code, of the rows shown" : "Rejected rows by code";
  $("rejected-by-code").tBodies[0].replaceChildren(...codes.map(([code, n]) => row([el("code", code), String(n)])));
  $("rejected-rows").tBodies[0].replaceChildren(
    ...rows.map((r) => row([r.line, r.column, el("code", r.code), r.message])),
  );
  const inAll = counts
    ? ` ${counts.rejected.toLocaleString("en")} ${counts.rejected === 1 ? "row was" : "rows were"} rejected in all.`
    : "";
  $("rejected-status").textContent = cut
    ? `The first ${rows.length.toLocaleString("en")} lines of the report are shown.${inAll} ` +
      "Download the report for all of them."
    : `${rows.length.toLocaleString("en")} rejected ${rows.length === 1 ? "row" : "rows"}.`;
  show($("rejected-content"));
}

/** The import `#import=<id>` in the address names; none when the address is malformed (e.g. `%E0`). */
function addressedImport() {
  const match = /^#import=(.+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

/** `#import=<id>` in the address: follow that import, unless a file is being sent (the page stays on its import). */
function openFromAddress(focus = false) {
  const importId = addressedImport();
  if (!importId || !auth.signedIn()) return;
  if (uploading && importId !== uploading) {
    history.replaceState(null, "", `#import=${encodeURIComponent(uploading)}`);
    notice("A file is being sent: other imports can be opened once it has been sent.");
    return;
  }
  if (importId === following.id) return;
  clearProblem();
  follow(importId, focus);
}

// --- recent imports -----------------------------------------------------------------------------------------------

let recentGeneration = 0;

async function loadRecent() {
  const study = $("study").value;
  const site = $("site").value;
  if (!study || !site) return;
  const generation = ++recentGeneration;
  $("recent-status").textContent = "Loading…";
  let list;
  try {
    list = await listImports(config, study, site, 10);
  } catch (error) {
    if (generation !== recentGeneration) return;
    $("recent-status").textContent = "The recent imports could not be loaded.";
    failed(error);
    return;
  }
  if (generation !== recentGeneration) return;
  clearNetworkProblem();
  const imports = list.imports || [];
  $("recent-imports").tBodies[0].replaceChildren(
    ...imports.map((i) =>
      row([
        el("a", i.fileName, { href: `#import=${encodeURIComponent(i.importId)}` }),
        el("time", new Date(i.requestedAt).toLocaleString(), { datetime: i.requestedAt }),
        statusText(i.status),
        i.counts ? i.counts.imported.toLocaleString("en") : "–",
        i.counts ? i.counts.rejected.toLocaleString("en") : "–",
      ]),
    ),
  );
  $("recent-status").textContent = imports.length
    ? `The ${imports.length} latest imports of ${study} / ${site}, updated ${new Date().toLocaleTimeString()}.`
    : `No imports yet for ${study} / ${site}.`;
}

// --- start --------------------------------------------------------------------------------------------------------

async function loadConfig() {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function start() {
  try {
    config = await loadConfig();
  } catch {
    showProblem({
      title: "The page could not start",
      detail: "Its configuration could not be loaded. Reload the page.",
    });
    return;
  }
  $("sign-in").addEventListener("click", () => auth.beginSignIn(config));
  $("sign-out").addEventListener("click", () => {
    stopFollowing();
    auth.signOut(config);
    // Signed out here already, whether or not the identity provider's sign-out page answers.
    render();
    notice("Signed out.");
  });
  $("study").addEventListener("change", () => {
    fillSites();
    loadRecent();
  });
  $("site").addEventListener("change", loadRecent);
  $("file").addEventListener("change", fileChosen);
  $("upload-form").addEventListener("submit", startUpload);
  $("refresh").addEventListener("click", loadRecent);
  window.addEventListener("hashchange", () => openFromAddress(true));
  // A page restored from the back-forward cache keeps its memory, but sign-out forgot the tokens before leaving:
  // show it as it now is.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) render();
  });

  try {
    if (await auth.completeSignIn(config)) notice("");
  } catch (error) {
    showProblem({
      title: "Sign-in failed",
      detail: error instanceof auth.SignInError ? error.message : "The sign-in answer could not be read.",
    });
  }
  render();
}

start();
