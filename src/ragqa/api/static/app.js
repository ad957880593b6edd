// ragqa web page: ask a question, show the answer, open the quoted source sentence of a citation.
// Document text is only ever put into the page with textContent, never parsed as HTML.
"use strict";

const $ = (selector) => document.querySelector(selector);
const documentCache = new Map();
const narrow = window.matchMedia("(max-width: 899px)");
let references = new Map();
let current = null; // the answer on screen
let lastCitation = null;
let asking = 0; // the number of the latest request; older responses are dropped

const DESIGN = {
  guideline: "guideline", consensus: "consensus statement", systematic_review: "systematic review",
  meta_analysis: "meta-analysis", rct: "RCT", label: "drug label", review: "review",
  secondary_summary: "secondary summary", other: "other",
};

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
  try {
    const corpus = await api("/v1/corpus");
    const forms = [];
    if (corpus.by_form.publication) forms.push(`${corpus.by_form.publication} in the publication's own words`);
    if (corpus.by_form.project_summary) forms.push(`${corpus.by_form.project_summary} summaries written for ragqa`);
    if (corpus.by_form.unrecorded) forms.push(`${corpus.by_form.unrecorded} without recorded provenance`);
    $("#corpus-size").textContent = `${corpus.documents} documents (${forms.join(", ")})` +
      (corpus.newest_year ? `, evidence current to ${corpus.newest_year}` : "");
    $("#corpus-covers").textContent = corpus.covers;
    $("#examples").replaceChildren(...corpus.examples.map((q) => el("li", {}, [questionButton(q)])));
  } catch (err) {
    $("#corpus-size").textContent = "not loaded";
  }
}

function showIndex(version, builtAt) {
  $("#index-version").textContent = version || "unknown";
  $("#index-built").textContent = builtAt ? builtAt.replace("T", " ").replace("Z", " UTC") : "unknown";
}

function questionButton(question) {
  const button = el("button", { type: "button", className: "choice", text: question });
  button.addEventListener("click", () => {
    $("#question").value = question;
    ask(question, { push: true });
  });
  return button;
}

// -- asking ----------------------------------------------------------------------------------

async function ask(question, { push = false } = {}) {
  const mine = ++asking;
  const button = $("#ask");
  button.disabled = true;
  clearAnswer();
  $("#start").hidden = true;
  $("#ask-form").classList.add("asked");
  document.body.classList.add("asked");
  setStatus(`Searching the evidence for \u201c${question}\u201d\u2026`);
  if (push) {
    const url = new URL(window.location.href);
    url.searchParams.set("q", question);
    if (url.href !== window.location.href) window.history.pushState({ q: question }, "", url);
  }
  try {
    const answer = await api("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, followups: true }),
    });
    if (mine !== asking) return;
    render(answer);
    setStatus(`Answered in ${Math.round(answer.timings_ms.total || 0)} ms.`);
  } catch (err) {
    if (mine !== asking) return;
    clearAnswer();
    setStatus(`No answer: ${err.message}`, true);
  } finally {
    if (mine === asking) button.disabled = false;
  }
}

function clearAnswer() {
  current = null;
  closePassage(false);
  $("#answer").hidden = true;
  for (const id of ["#verdict", "#sections", "#references", "#followups", "#regimen-table tbody"]) {
    $(id).replaceChildren();
  }
  $("#answered-question").textContent = "";
  $("#abstention-message").textContent = "";
  $("#nearest").replaceChildren();
  $("#nearest-section").hidden = true;
  $("#disclaimer").hidden = true;
  $("#feedback-status").textContent = "";
}

// -- rendering the answer -------------------------------------------------------------------

function render(answer) {
  current = answer;
  references = new Map(answer.references.map((ref) => [ref.n, ref]));
  closePassage(false);
  $("#answer").hidden = false;
  $("#answered-question").textContent = answer.question;
  showIndex(answer.index_version, answer.index_built_at);

  const abstention = $("#abstention");
  abstention.hidden = !answer.abstained;
  $("#abstention-message").replaceChildren(...(answer.abstained ? abstentionParts(answer) : []));
  const nearest = (answer.abstained && answer.abstention && answer.abstention.nearest) || [];
  $("#nearest").replaceChildren(...nearest.map(renderNearest));
  $("#nearest-section").hidden = nearest.length === 0;

  $("#verdict").replaceChildren(...answer.bottom_line.map(renderStatement));
  $("#verdict-section").hidden = answer.bottom_line.length === 0;

  renderRegimen(answer.regimen_check);

  // on a phone only the first section is open: the headings are the answer's table of contents
  $("#sections").replaceChildren(...answer.sections.map((section, i) => {
    const details = el("details", {}, [
      el("summary", {}, [el("h3", { id: `section-${i}`, text: `${section.heading} (${section.statements.length})` })]),
      el("ul", { className: "statements" }, section.statements.map(renderStatement)),
    ]);
    details.open = !narrow.matches || i === 0;
    return el("section", { className: "answer-section", "data-topic": section.topic, "aria-labelledby": `section-${i}` }, [details]);
  }));

  $("#followups-title").textContent = answer.abstained ? "Questions the corpus can answer nearby" : "Follow-up questions";
  $("#followups").replaceChildren(...answer.followups.map((q) => el("li", {}, [questionButton(q)])));
  $("#followups-section").hidden = answer.followups.length === 0;

  $("#references").replaceChildren(...answer.references.map(renderReference));
  $("#references-title").textContent = `References (${answer.references.length})`;
  $("#references-details").open = !narrow.matches; // a phone shows the list on request
  $("#references-section").hidden = answer.references.length === 0;
  document.querySelectorAll(".rating").forEach((b) => b.setAttribute("aria-pressed", "false"));
  $("#feedback-comment").value = "";

  const disclaimer = $("#disclaimer");
  disclaimer.textContent = answer.disclaimer;
  disclaimer.hidden = false;
}

// The abstention's one message, laid out: why, where the nearest passages are, what the corpus covers.
function abstentionParts(answer) {
  const record = answer.abstention;
  if (!record || !record.corpus_covers) return [answer.message || ""];
  const parts = [];
  if (!record.english) parts.push(el("span", { className: "line", text: answer.message.split(". ")[0] + "." }));
  parts.push(el("strong", { className: "line", text: "The corpus does not answer this question, so ragqa gives no clinical answer." }));
  if (record.found_in.length) {
    parts.push(el("span", { className: "line", text: "The nearest passages are in:" }),
      el("span", { className: "titles" }, record.found_in.map((t) => el("cite", { className: "line", text: t }))));
  }
  parts.push(el("span", { className: "line", text: record.corpus_covers }));
  return parts;
}

// A sentence found nearest a question the corpus does not answer: quoted, with its document and
// where it stands, and whose words it is.
function renderNearest(nearest) {
  const item = el("li", { className: "statement extract nearest" });
  item.append(el("span", { className: "text", text: `\u201c${nearest.text}\u201d` }), " ");
  const section = nearest.section[0] === nearest.title ? nearest.section.slice(1) : nearest.section;
  const where = whereText({ section, page: nearest.page });
  const notes = [nearest.title, where, nearest.provenance && nearest.provenance.short].filter(Boolean);
  item.append(el("span", { className: "section-path", text: `(${notes.join("; ")})` }));
  return item;
}

function whereText(statement) {
  const section = (statement.section || []).join(" > ");
  const page = Number.isInteger(statement.page) ? `${section ? ", " : ""}p. ${statement.page}` : "";
  return section + page;
}

function renderStatement(statement) {
  const item = el("li", { className: `statement ${statement.kind}` });
  if (statement.kind === "extract") {
    item.append(el("span", { className: "text", text: statement.text }));
    for (const n of statement.citations) item.append(" ", citationButton(n, statement), " ", citeMeta(n, statement));
    const where = whereText(statement);
    if (where) item.append(" ", el("span", { className: "section-path", text: `(${where})` }));
    return item;
  }
  // ragqa's own sentences: labelled, and their inline "[1, 2]" citations made clickable
  item.append(el("span", { className: "who", text: "Written by ragqa" }), " ");
  const text = el("span", { className: "text" });
  const pattern = /\[(\d+(?:,\s*\d+)*)\]/g;
  let last = 0;
  for (const match of statement.text.matchAll(pattern)) {
    text.append(statement.text.slice(last, match.index));
    match[1].split(",").forEach((n, i) => {
      if (i > 0) text.append(" ");
      text.append(citationButton(Number(n.trim()), null));
    });
    last = match.index + match[0].length;
  }
  text.append(statement.text.slice(last));
  item.append(text);
  return item;
}

function refLabel(ref) {
  const design = DESIGN[ref.doc_type] || ref.doc_type.replaceAll("_", " ");
  return [design, ref.year].filter((part) => part != null).join(", ");
}

function citeMeta(n, statement) {
  const ref = references.get(n);
  if (!ref) return "";
  const provenance = (statement && statement.provenance) || ref.provenance;
  const form = provenance && provenance.short ? ` \u00b7 ${provenance.short}` : "";
  return el("span", { className: "cite-meta", text: `(${refLabel(ref)}${form})` });
}

function citationButton(n, statement) {
  const ref = references.get(n);
  const name = ref ? `Source ${n}: ${ref.title} (${refLabel(ref)})` : `Source ${n}`;
  const button = el("button", {
    type: "button", className: "citation", text: `[${n}]`, "data-n": String(n), "aria-label": name, title: name,
  });
  button.addEventListener("click", () => showPassage(n, statement, button));
  return button;
}

function renderRegimen(check) {
  // only when the question names a regimen, and after the bottom line
  const section = $("#regimen-section");
  section.hidden = !check.asked;
  if (!check.asked) return;
  const banner = $("#regimen-banner");
  banner.classList.toggle("ok", check.supported === true);
  banner.hidden = check.supported === null;
  if (check.supported === false) {
    banner.textContent = `Not studied: the retrieved evidence does not cover ${check.asked_label || "the regimen asked about"}.`;
  } else if (check.supported === true) {
    banner.textContent = `The retrieved evidence covers ${check.asked_label}.`;
  }
  const rows = check.evidence.map((entry) => el("tr", {}, [
    el("td", { text: entry.label, "data-label": "Regimen" }),
    el("td", { text: entry.doses.join("; ") || "\u2013", "data-label": "Doses" }),
    el("td", { text: entry.routes.join(", ") || "\u2013", "data-label": "Routes" }),
    el("td", { "data-label": "Sources" },
      entry.citations.flatMap((n, i) => {
        const button = citationButton(n, null);
        button.dataset.find = JSON.stringify(entry.doses);
        return i ? [" ", button] : [button];
      })),
  ]));
  $("#regimen-table tbody").replaceChildren(...rows);
  $("#regimen-table").hidden = rows.length === 0;
}

function renderReference(ref) {
  const names = ref.authors.filter((a) => a !== "and others"); // a list may end with "and others"
  const more = names.length > 3 || names.length < ref.authors.length;
  const authors = names.length ? `${names.slice(0, 3).join(", ").replace(/\.$/, "")}${more ? " et al" : ""}. ` : "";
  const meta = [ref.publisher, refLabel(ref)].filter(Boolean).join(", ");
  const links = [];
  if (ref.doi) links.push(safeLink(`https://doi.org/${ref.doi}`, "DOI", ref));
  if (ref.pmid) links.push(safeLink(`https://pubmed.ncbi.nlm.nih.gov/${encodeURIComponent(ref.pmid)}/`, "PubMed", ref));
  if (ref.url) links.push(safeLink(ref.url, "Link", ref));
  const item = el("li", { id: `ref-${ref.n}`, value: String(ref.n) }, [
    authors, el("cite", { text: ref.title.replace(/\.$/, "") }), /[?!]$/.test(ref.title) ? " " : ". ",
    el("span", { className: "meta", text: `${meta}.` }),
  ]);
  const p = ref.provenance;
  if (p) item.append(el("p", { className: "provenance", text: `Text: ${provenanceShort(p)}.` }));
  const row = el("div", { className: "ref-actions" });
  for (const link of links.filter(Boolean)) row.append(link);
  const open = el("button", {
    type: "button", className: "show-source", text: "Show quoted sentence", "data-n": String(ref.n),
    "aria-label": `Show the quoted sentence of source ${ref.n}: ${ref.title}`,
  });
  open.addEventListener("click", () => showPassage(ref.n, null, open));
  row.append(open);
  item.append(row);
  return item;
}

const CHECKED = {
  full_text: "the full text", abstract: "the abstract", label: "the label",
  secondary_source: "a secondary source", reviewer_recall: "a reviewer's recollection only",
  not_rechecked: "nothing (not re-checked)",
};

function provenanceShort(p) {
  const checked = p.checked_against.map((c) => CHECKED[c] || c).join(" and ");
  return `${p.label}${checked ? `; checked against ${checked}${p.checked_on ? ` (${p.checked_on})` : ""}` : ""}`;
}

function safeLink(href, label, ref) {
  let url;
  try {
    url = new URL(href);
  } catch (err) {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  return el("a", {
    href: url.href, text: label, target: "_blank", rel: "noopener noreferrer",
    "aria-label": `${label} of source ${ref.n} (opens a new tab)`,
  });
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

// The span a citation points at: its statement's, else the first quote citing the same source,
// else the first mention of the regimen's dose in the document (regimen table rows).
function spanFor(n, statement, button, doc) {
  if (statement && Number.isInteger(statement.char_start)) return [statement.char_start, statement.char_end];
  if (current) {
    const quoted = [...current.bottom_line, ...current.sections.flatMap((s) => s.statements)]
      .find((s) => s.kind === "extract" && s.citations.includes(n) && Number.isInteger(s.char_start));
    if (quoted && !(button.dataset.find)) return [quoted.char_start, quoted.char_end];
    for (const dose of JSON.parse(button.dataset.find || "[]")) {
      const at = doc.text.indexOf(dose);
      if (at >= 0) return sentenceAround(doc.text, at, at + dose.length);
    }
    if (quoted) return [quoted.char_start, quoted.char_end];
  }
  return null;
}

function sentenceAround(text, start, end) {
  let from = start;
  while (from > 0 && !/[.!?\n]/.test(text[from - 1])) from -= 1;
  while (from < start && /\s/.test(text[from])) from += 1;
  let to = end;
  while (to < text.length && !/[.!?\n]/.test(text[to])) to += 1;
  return [from, Math.min(text.length, to + 1)];
}

async function showPassage(n, statement, button) {
  const ref = references.get(n);
  const docId = statement && statement.doc_id ? statement.doc_id : ref && ref.doc_id;
  if (!docId) return;
  document.querySelectorAll(".active").forEach((node) => node.classList.remove("active"));
  button.classList.add("active");
  lastCitation = button;
  const panel = $("#passage-panel");
  const passage = $("#passage");
  panel.hidden = false;
  $("#layout").classList.add("with-passage");
  $("#passage-title").textContent = `Source ${n}: ${ref ? ref.title : docId}`;
  $("#passage-meta").textContent = "Loading the source\u2026";
  $("#passage-provenance").textContent = "";
  passage.replaceChildren();
  panel.focus({ preventScroll: true });
  let doc;
  try {
    doc = await fetchDocument(docId);
  } catch (err) {
    $("#passage-meta").textContent = `Could not load the source: ${err.message}`;
    return;
  }
  $("#passage-meta").textContent = [doc.publisher, refLabel(doc)].filter(Boolean).join(", ");
  const p = doc.provenance;
  if (p) {
    const checked = p.checked_words ? `, checked against ${p.checked_words} on ${p.checked_on}` : "";
    $("#passage-provenance").textContent = `This text is ${p.label}${checked}.`;
  }
  const span = spanFor(n, statement, button, doc);
  if (span) {
    const [start, end] = span;
    const [from, to] = contextWindow(doc.text, start, end);
    if (from > 0) passage.append("\u2026 ");
    appendText(passage, doc.text.slice(from, start));
    const mark = el("mark", { className: "highlight", text: stripHeadings(doc.text.slice(start, end)) });
    passage.append(mark);
    appendText(passage, doc.text.slice(end, to));
    if (to < doc.text.length) passage.append(" \u2026");
    mark.scrollIntoView({ block: narrow.matches ? "center" : "nearest" });
  } else {
    const to = Math.min(doc.text.length, 900);
    appendText(passage, doc.text.slice(0, to));
    if (to < doc.text.length) passage.append(" \u2026");
    if (narrow.matches) panel.scrollIntoView({ block: "start" });
  }
}

function stripHeadings(text) {
  return text.replace(/^#{1,6}\s+/gm, "");
}

// Plain text with its Markdown headings ("# Title") shown as headings, never as raw Markdown.
function appendText(node, text) {
  let afterHeading = false;
  text.split(/(\n)/).forEach((part) => {
    const heading = /^#{1,6}\s+(.*)$/.exec(part);
    if (heading) node.append(el("strong", { className: "passage-heading", text: heading[1] }));
    else if (!(afterHeading && part === "\n")) node.append(part); // the heading is a block already
    afterHeading = Boolean(heading);
  });
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

function closePassage(returnFocus = true) {
  const wasOpen = !$("#passage-panel").hidden;
  $("#passage-panel").hidden = true;
  $("#layout").classList.remove("with-passage");
  document.querySelectorAll(".active").forEach((node) => node.classList.remove("active"));
  if (wasOpen && returnFocus && lastCitation && document.contains(lastCitation)) {
    lastCitation.focus({ preventScroll: true });
    if (narrow.matches) lastCitation.scrollIntoView({ block: "center" });
  }
}

// -- copy, share, feedback --------------------------------------------------------------------

function toMarkdown(answer) {
  const out = [`# ${answer.question}`, ""];
  const line = (s) => (s.kind === "system" ? `- *ragqa:* ${s.text}` :
    `- ${s.text} ${s.citations.map((n) => `[${n}]`).join("")}`);
  if (answer.abstained) out.push(answer.message || "", "");
  if (answer.bottom_line.length) out.push("## Bottom line", "", ...answer.bottom_line.map(line), "");
  for (const section of answer.sections) out.push(`## ${section.heading}`, "", ...section.statements.map(line), "");
  if (answer.references.length) {
    out.push("## References", "");
    for (const ref of answer.references) {
      const p = ref.provenance;
      const text = p ? ` Text: ${p.label}${p.checked_words ? `; checked against ${p.checked_words}` : ""}.` : "";
      const title = /[.?!]$/.test(ref.title) ? ref.title : `${ref.title}.`;
      out.push(`${ref.n}. ${title} ${[ref.publisher, refLabel(ref)].filter(Boolean).join(", ")}.${text}`);
    }
    out.push("");
  }
  out.push(`*${answer.disclaimer}*`, "", `Asked at ${shareLink(answer.question)}`);
  return out.join("\n");
}

function shareLink(question) {
  const url = new URL(window.location.href);
  url.search = "";
  url.hash = "";
  url.searchParams.set("q", question);
  return url.href;
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    setStatus(`${what} copied.`);
  } catch (err) {
    window.prompt(`Copy the ${what.toLowerCase()}:`, text);
  }
}

async function sendFeedback(event) {
  event.preventDefault();
  if (!current) return;
  const pressed = document.querySelector(".rating[aria-pressed='true']");
  const status = $("#feedback-status");
  if (!pressed) {
    status.textContent = "Choose Helpful or Not helpful first.";
    return;
  }
  try {
    await api("/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        question: current.question, rating: pressed.dataset.rating,
        comment: $("#feedback-comment").value.trim(), index_version: current.index_version,
      }),
    });
    status.textContent = "Thank you: your feedback was recorded.";
  } catch (err) {
    status.textContent = `Feedback not recorded: ${err.message}`;
  }
}

// -- wiring -------------------------------------------------------------------------------------

function submit() {
  const question = $("#question").value.trim();
  if (!question) {
    setStatus("Type a question first.", true);
    return;
  }
  ask(question, { push: true });
}

function fromLocation() {
  const preset = new URL(window.location.href).searchParams.get("q");
  if (preset) {
    $("#question").value = preset;
    ask(preset);
  } else {
    asking += 1;
    clearAnswer();
    $("#question").value = "";
    $("#ask-form").classList.remove("asked");
    document.body.classList.remove("asked");
    $("#start").hidden = false;
    setStatus("");
  }
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
  $("#passage-close").addEventListener("click", () => closePassage(true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("#passage-panel").hidden) {
      event.preventDefault();
      closePassage(true);
    }
  });
  $("#copy-markdown").addEventListener("click", () => current && copyText(toMarkdown(current), "Answer as Markdown"));
  $("#share-link").addEventListener("click", () => current && copyText(shareLink(current.question), "Share link"));
  document.querySelectorAll(".rating").forEach((button) => button.addEventListener("click", () => {
    document.querySelectorAll(".rating").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  }));
  $("#feedback-form").addEventListener("submit", sendFeedback);
  window.addEventListener("popstate", fromLocation);
  loadIndexInfo();
  fromLocation();
});
