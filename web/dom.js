// Small DOM helpers. Text is always set as text (textContent), never parsed as HTML: file names, messages and codes
// come from people and from the API.

export const $ = (id) => document.getElementById(id);

export function show(element, visible = true) {
  element.hidden = !visible;
}

/** An element with text or children. */
export function el(tag, content, attributes = {}) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (content instanceof Node) element.append(content);
  else if (content !== undefined && content !== null) element.textContent = String(content);
  return element;
}

/** A table row of cells (strings or nodes). */
export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(el("td", cell));
  return tr;
}

/**
 * Shows a problem as its document says it: title, detail, code and each violation (path: message); moves the
 * focus to it when `focus` so keyboard and screen-reader users land on what went wrong. A `passing` problem (one
 * the page is still asking past) is cleared by the next answer that comes back (clearPassingProblem).
 */
export function showProblem(problem, focus = true, passing = false) {
  const box = $("problem");
  box.dataset.passing = passing ? "true" : "";
  $("problem-title").textContent = problem.title || "Something went wrong";
  $("problem-detail").textContent = problem.detail || "";
  show($("problem-detail"), Boolean(problem.detail));
  $("problem-code").textContent = problem.code || "";
  show($("problem-code-line"), Boolean(problem.code));
  const list = $("problem-violations");
  list.replaceChildren();
  for (const v of problem.violations || []) {
    const item = el("li");
    item.append(el("code", v.path || "(the whole request)"), document.createTextNode(`: ${v.message}`));
    list.append(item);
  }
  if (problem.omittedViolations) {
    list.append(el("li", `and ${problem.omittedViolations} more`));
  }
  show(list, list.children.length > 0);
  show(box);
  if (focus) box.focus();
}

export function clearProblem() {
  show($("problem"), false);
}

/** Clears the problem shown if it was a passing one. */
export function clearPassingProblem() {
  if (!$("problem").hidden && $("problem").dataset.passing === "true") clearProblem();
}

/** Says `text` through the page's visually hidden live region: for what changed, not for every redraw. */
export function say(text) {
  $("live").textContent = text;
}
