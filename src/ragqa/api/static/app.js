// ragqa web page: ask a question, show the answer, open the quoted source passage of a citation.
// Document text is only ever put into the page with textContent, never parsed as HTML.
"use strict";

const $ = (selector) => document.querySelector(selector);
const documentCache = new Map();
const narrow = window.matchMedia("(max-width: 899px)");
let references = new Map();
let lastCitation = null;

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.message ? body.message : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function loadIndexInfo() {
  try {
    const manifest = await api("/v1/index");
    showIndex(manifest.index_version, manifest.built_at);
  } catch (err) {
    $("#index-version").textContent = "not loaded";
  }
}

function showIndex(version, builtAt) {
  $("#index-version").textContent = version || "unknown";
  $("#index-built").textContent = builtAt ? builtAt.replace("T", " ").replace("Z", " UTC") : "unknown";
}

async function ask(question) {
  const button = $("#ask");
  button.disabled = true;
  setStatus("Searching the evidence\u2026");
  try {
    const answer = await api("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question }),
    });
    render(answer);
    setStatus(`Answered in ${Math.round(answer.timings_ms.total || 0)} ms.`);
    const url = new URL(window.location.href);
    url.searchParams.set("q", question);
    window.history.replaceState(null, "", url);
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    button.disabled = false;
  }
}

// -- rendering the answer -------------------------------------------------------------------

function render(answer) {
  references = new Map(answer.references.map((ref) => [ref.n, ref]));
  closePassage();
  $("#answer").hidden = false;
  showIndex(answer.index_version, answer.index_built_at);

  const abstention = $("#abstention");
  abstention.hidden = !answer.abstained;
  if (answer.abstained) {
    $("#abstention-message").textContent = answer.message || "No answer: the corpus does not cover this question.";
    $("#abstention-reason").textContent = answer.abstention ? `Why: ${answer.abstention.reason}.` : "";
  }

  const verdict = $("#verdict");
  verdict.replaceChildren(...answer.bottom_line.map(renderStatement));
  $("#verdict-section").hidden = answer.bottom_line.length === 0;

  renderRegimen(answer.regimen_check, answer.abstained);

  $("#sections").replaceChildren(...answer.sections.map((section) =>
    el("section", { className: "answer-section", "data-topic": section.topic }, [
      el("h3", { text: section.heading }),
      el("ul", { className: "statements" }, section.statements.map(renderStatement)),
    ])));

  $("#references").replaceChildren(...answer.references.map(renderReference));
  $("#references-section").hidden = answer.references.length === 0;

  const disclaimer = $("#disclaimer");
  disclaimer.textContent = answer.disclaimer;
  disclaimer.hidden = false;
}

function renderStatement(statement) {
  const item = el("li", { className: `statement ${statement.kind}` });
  if (statement.kind === "extract") {
    item.append(el("span", { className: "text", text: statement.text }));
    for (const n of statement.citations) item.append(" ", citationButton(n, statement));
    const where = (statement.section || []).join(" > ") +
      (Number.isInteger(statement.page) ? `${statement.section && statement.section.length ? ", " : ""}p. ${statement.page}` : "");
    if (where) item.append(" ", el("span", { className: "section-path", text: `(${where})` }));
    return item;
  }
  // ragqa's own sentences carry their citations inline as "[1, 2]": make those clickable
  const pattern = /\[(\d+(?:,\s*\d+)*)\]/g;
  let last = 0;
  for (const match of statement.text.matchAll(pattern)) {
    item.append(statement.text.slice(last, match.index));
    match[1].split(",").forEach((n, i) => {
      if (i > 0) item.append(" ");
      item.append(citationButton(Number(n.trim()), null));
    });
    last = match.index + match[0].length;
  }
  item.append(statement.text.slice(last));
  return item;
}

function citationButton(n, statement) {
  const ref = references.get(n);
  const button = el("button", {
    type: "button",
    className: "citation",
    text: `[${n}]`,
    "data-n": String(n),
    title: ref ? (ref.year != null ? `${ref.title} (${ref.year})` : ref.title) : `reference ${n}`,
  });
  button.addEventListener("click", () => showPassage(n, statement, button));
  return button;
}

function renderRegimen(check, abstained) {
  const banner = $("#regimen-banner");
  banner.classList.remove("ok");
  if (check.supported === false) {
    banner.hidden = false;
    banner.textContent = `Not studied: the retrieved evidence does not cover ${check.asked_label || "the regimen asked about"}.`;
  } else if (check.supported === true) {
    banner.hidden = false;
    banner.classList.add("ok");
    banner.textContent = `The retrieved evidence covers ${check.asked_label}.`;
  } else {
    banner.hidden = true;
    banner.textContent = "";
  }
  // when a regimen was asked about, the note already leads the bottom line
  $("#regimen-note").textContent = check.supported === null ? check.note : "";
  const rows = check.evidence.map((entry) => el("tr", {}, [
    el("td", { text: entry.label, "data-label": "Regimen" }),
    el("td", { text: entry.doses.join("; ") || "\u2013", "data-label": "Doses" }),
    el("td", { text: entry.routes.join(", ") || "\u2013", "data-label": "Routes" }),
    el("td", { "data-label": "Sources" },
      entry.citations.flatMap((n, i) => (i ? [" ", citationButton(n, null)] : [citationButton(n, null)]))),
  ]));
  $("#regimen-table tbody").replaceChildren(...rows);
  $("#regimen-table").hidden = rows.length === 0;
  $("#regimen-section").hidden = abstained && rows.length === 0 && check.supported === null;
}

function renderReference(ref) {
  const meta = [ref.publisher, ref.year, ref.doc_type.replaceAll("_", " ")]
    .filter((part) => part != null).join(", ");
  const authors = ref.authors.length ? `${ref.authors.slice(0, 3).join(", ")}${ref.authors.length > 3 ? " et al." : ""}. ` : "";
  const links = [];
  if (ref.doi) links.push(safeLink(`https://doi.org/${ref.doi}`, "DOI"));
  if (ref.pmid) links.push(safeLink(`https://pubmed.ncbi.nlm.nih.gov/${encodeURIComponent(ref.pmid)}/`, "PubMed"));
  if (ref.url) links.push(safeLink(ref.url, "link"));
  const item = el("li", { id: `ref-${ref.n}`, value: String(ref.n) }, [
    authors,
    el("cite", { text: ref.title }),
    " ",
    el("span", { className: "meta", text: `(${meta})` }),
    " ",
  ]);
  for (const link of links.filter(Boolean)) item.append(link);
  const open = el("button", { type: "button", className: "citation", text: "show", "data-n": String(ref.n) });
  open.addEventListener("click", () => showPassage(ref.n, null, open));
  item.append(open);
  return item;
}

function safeLink(href, label) {
  let url;
  try {
    url = new URL(href);
  } catch (err) {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  return el("a", { href: url.href, text: label, target: "_blank", rel: "noopener noreferrer" });
}

// -- the source passage -----------------------------------------------------------------------

async function fetchDocument(docId) {
  if (!documentCache.has(docId)) {
    documentCache.set(docId, api(`/v1/documents/${encodeURIComponent(docId)}`).catch((err) => {
      documentCache.delete(docId);
      throw err;
    }));
  }
  return documentCache.get(docId);
}

async function showPassage(n, statement, button) {
  const ref = references.get(n);
  const docId = statement && statement.doc_id ? statement.doc_id : ref && ref.doc_id;
  if (!docId) return;
  document.querySelectorAll(".citation.active").forEach((node) => node.classList.remove("active"));
  button.classList.add("active");
  lastCitation = button;
  const panel = $("#passage-panel");
  const passage = $("#passage");
  panel.hidden = false;
  $("#layout").classList.add("with-passage");
  $("#passage-title").textContent = `[${n}] ${ref ? ref.title : docId}`;
  $("#passage-meta").textContent = "Loading the source\u2026";
  passage.replaceChildren();
  let doc;
  try {
    doc = await fetchDocument(docId);
  } catch (err) {
    $("#passage-meta").textContent = `Could not load the source: ${err.message}`;
    return;
  }
  $("#passage-meta").textContent = [[doc.publisher, doc.year].filter((part) => part != null).join(", "),
    doc.doc_type.replaceAll("_", " ")].filter(Boolean).join(" \u00b7 ");
  const hasSpan = statement && Number.isInteger(statement.char_start) && Number.isInteger(statement.char_end);
  if (hasSpan) {
    const [from, to] = contextWindow(doc.text, statement.char_start, statement.char_end);
    const mark = el("mark", { className: "highlight", text: doc.text.slice(statement.char_start, statement.char_end) });
    passage.append(
      from > 0 ? "\u2026" : "",
      doc.text.slice(from, statement.char_start),
      mark,
      doc.text.slice(statement.char_end, to),
      to < doc.text.length ? "\u2026" : "",
    );
    mark.scrollIntoView({ block: "nearest" });
  } else {
    const to = Math.min(doc.text.length, 900);
    passage.append(doc.text.slice(0, to), to < doc.text.length ? "\u2026" : "");
  }
  // on a phone the passage sits below the answer: go to it, and back again on close
  if (narrow.matches) panel.scrollIntoView({ behavior: "smooth", block: "start" });
}

// Up to `reach` characters either side of a sentence, cut at line starts or else at spaces.
function contextWindow(text, start, end, reach = 500) {
  let from = Math.max(0, start - reach);
  if (from > 0) {
    const line = text.indexOf("\n", from);
    from = line >= 0 && line < start ? line + 1 : Math.min(start, text.indexOf(" ", from) + 1 || start);
  }
  let to = Math.min(text.length, end + reach);
  if (to < text.length) {
    const line = text.lastIndexOf("\n", to);
    to = line > end ? line : Math.max(end, text.lastIndexOf(" ", to));
  }
  return [from, to];
}

function closePassage() {
  $("#passage-panel").hidden = true;
  $("#layout").classList.remove("with-passage");
  document.querySelectorAll(".citation.active").forEach((node) => node.classList.remove("active"));
}

// -- wiring -------------------------------------------------------------------------------------

function submit() {
  const question = $("#question").value.trim();
  if (!question) {
    setStatus("Type a question first.", true);
    return;
  }
  ask(question);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  $("#question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  $("#passage-close").addEventListener("click", () => {
    const from = lastCitation;
    closePassage();
    if (from && narrow.matches) from.scrollIntoView({ block: "center" });
  });
  loadIndexInfo();
  const preset = new URL(window.location.href).searchParams.get("q");
  if (preset) {
    $("#question").value = preset;
    ask(preset);
  }
});
