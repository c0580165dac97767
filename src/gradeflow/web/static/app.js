// gradeflow pages: editor behaviour, submitting, and live updates over SSE.
"use strict";

const { FINAL, STATUS_TEXT, el, renderFeedback, renderProgress, problemLine, appendTestsAndOutput } = window.GradeflowFeedback;

// Tab inserts four spaces (Shift+Tab removes up to four); Esc lets the next Tab
// move focus out, so keyboard users are never trapped in the editor.
function setUpEditor(textarea) {
  let escaped = false;
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { escaped = true; return; }
    if (event.key !== "Tab" || escaped) { escaped = false; return; }
    event.preventDefault();
    const { selectionStart: start, selectionEnd: end, value } = textarea;
    const lineStart = value.lastIndexOf("\n", start - 1) + 1;
    if (event.shiftKey) {
      const removable = value.slice(lineStart, lineStart + 4).match(/^ */)[0].length;
      textarea.setRangeText("", lineStart, lineStart + removable, "preserve");
      textarea.selectionStart = textarea.selectionEnd = Math.max(lineStart, start - removable);
    } else {
      textarea.setRangeText("    ", start, end, "end");
    }
  });
}

// The practice page's editor: CodeMirror from the bundle (static/build/editor.js,
// built by `make install`) when it loaded, else the plain textarea with the keys
// above. Both answer the same few calls.
function createCodeEditor(textarea, { onSubmit, onChange }) {
  if (window.GradeflowEditor) {
    try {
      const editor = window.GradeflowEditor.create(textarea, {
        onSubmit, onChange, labelledBy: "code-label", describedBy: "editor-hint",
      });
      document.body.dataset.editor = "codemirror";
      // The label names the hidden textarea: a click on it goes to the editor.
      document.getElementById("code-label").addEventListener("click", (event) => {
        event.preventDefault();
        editor.focus();
      });
      return editor;
    } catch (error) {
      console.error("The code editor failed to start; using the plain text box.", error);
    }
  }
  document.body.dataset.editor = "textarea";
  setUpEditor(textarea);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); onSubmit(); }
  });
  textarea.addEventListener("input", () => onChange(textarea.value));
  return {
    getValue: () => textarea.value,
    setValue(text) { textarea.value = text; onChange(text); },
    focus: () => textarea.focus(),
    markLine() {},  // a textarea cannot highlight a line: the feedback names it
    goToLine(line) {
      const lines = textarea.value.split("\n");
      const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
      textarea.focus();
      textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
    },
  };
}

// Drafts live in this browser only, per visitor and assignment, until replaced.
const drafts = {
  key: (userId, assignmentId) => `gradeflow.draft.${userId}.${assignmentId}`,
  read(key) {
    try { return JSON.parse(window.localStorage.getItem(key)); } catch (error) { return null; }
  },
  write(key, code) {
    try {
      window.localStorage.setItem(key, JSON.stringify({ code, saved_at: new Date().toISOString() }));
    } catch (error) { /* storage full or disabled: the draft is simply not kept */ }
  },
};

function setPoints(points) {
  const node = document.getElementById("points");
  if (node && typeof points === "number") node.textContent = String(points);
}

async function nextAssignmentLink(courseId) {
  const response = await fetch(`/api/assignments/next?course=${courseId}`, { credentials: "same-origin" });
  if (response.ok) {
    const next = await response.json();
    return el("a", { href: `/assignments/${next.id}`, "data-testid": "next-link" }, `Next: ${next.title} →`);
  }
  if (response.status === 404) return el("span", { "data-testid": "all-done" }, "You have completed every assignment of this course!");
  return null;
}

// The assignment list: each with its completion and best score, the first not yet
// completed marked "next", and the course's progress above it. Kept in step with
// the student's results as they arrive.
const practiceList = { items: [], currentId: null };

function renderAssignmentList() {
  const { items, currentId } = practiceList;
  const next = items.find((item) => !item.completed);
  document.getElementById("assignment-list").replaceChildren(...items.map((item) => {
    const classes = [item.completed ? "done" : "", item.id === currentId ? "current" : "", item === next ? "next" : ""];
    const score = item.score === null || item.score === undefined ? "–" : String(item.score);
    const link = el("a", { href: `/assignments/${item.id}` }, item.title);
    if (item.id === currentId) link.setAttribute("aria-current", "page");
    return el("li", { className: classes.filter(Boolean).join(" "), "data-assignment-id": String(item.id) },
      link,
      item === next ? el("span", { className: "next-badge" }, "next") : null,
      el("span", { className: "item-points", "data-testid": "item-points" },
        el("span", { className: "visually-hidden" }, "points: "), `${score}/${item.points}`),
      el("span", { className: "mark", role: "img", "aria-label": item.completed ? "completed" : "not completed" },
        item.completed ? "✓" : ""));
  }));
  // Where the list scrolls (narrow screens), the current assignment is in view in it.
  const list = document.getElementById("assignment-list");
  const current = list.querySelector("li.current");
  if (current && list.scrollHeight > list.clientHeight) {
    list.scrollTop = current.offsetTop - list.offsetTop - list.clientHeight / 3;
  }
  const done = items.filter((item) => item.completed).length;
  const earned = items.reduce((sum, item) => sum + (item.score || 0), 0);
  const possible = items.reduce((sum, item) => sum + item.points, 0);
  const bar = document.getElementById("progress-bar");
  bar.max = Math.max(items.length, 1);
  bar.value = done;
  document.getElementById("progress-text").textContent =
    `${done} of ${items.length} completed · ${Math.round(earned * 100) / 100} of ${possible} points`;
  document.getElementById("course-progress").hidden = items.length === 0;
}

function recordResult(submission) {
  if (!FINAL.has(submission.status)) return;
  const item = practiceList.items.find((candidate) => candidate.id === submission.assignment_id);
  if (!item) return;
  if (submission.status === "passed") item.completed = true;
  if (submission.score !== null && (item.score === null || item.score === undefined || submission.score > item.score)) {
    item.score = submission.score;
  }
  renderAssignmentList();
}

// The practice page arrives as a shell, the same for everyone; its state (who is
// asking, their list, the assignment and their latest code) comes from one call.
function practiceStateUrl() {
  const path = window.location.pathname;
  const assignment = path.match(/^\/assignments\/(\d+)$/);
  if (assignment) return `/api/practice?assignment=${assignment[1]}`;
  const course = path.match(/^\/courses\/(\d+)\/practice$/);
  if (course) return `/api/practice?course=${course[1]}`;
  return "/api/practice";
}

async function loadPractice(shell) {
  let response;
  try {
    response = await fetch(practiceStateUrl(), { credentials: "same-origin" });
  } catch (error) {
    showPracticeError(shell, "Could not reach the server", "Check your connection and reload the page.");
    return null;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body.error && body.error.message) || `Loading failed (${response.status}).`;
    showPracticeError(shell, response.status === 404 ? "Not found" : `Error ${response.status}`, message);
    return null;
  }
  renderPractice(shell, body);
  return body;
}

function showPracticeError(shell, title, message) {
  document.getElementById("practice-loading").hidden = true;
  document.getElementById("practice-error-title").textContent = title;
  document.getElementById("practice-error-message").textContent = message;
  document.getElementById("practice-error").hidden = false;
  shell.querySelector("aside").hidden = true;
  document.title = `${title} · gradeflow`;
  shell.setAttribute("aria-busy", "false");
}

function renderIdentity(user) {
  const identity = document.getElementById("identity");
  const points = el("span", { className: "points", "data-testid": "points" },
    el("span", { id: "points" }, String(user.points)), " points");
  if (user.anonymous) {
    identity.replaceChildren(points, " ",
      el("span", { "data-testid": "user-id" }, "Guest #", el("span", { id: "user-id" }, String(user.id))), " ",
      el("a", { href: "/sign-in" }, "Sign in"), " ", el("a", { href: "/register" }, "Register"));
  } else {
    identity.replaceChildren(points, " ", el("a", { href: "/account", "data-testid": "account-link" }, user.email));
    document.getElementById("nav").append(" ", el("a", { href: "/grades", "data-testid": "grades-link" }, "Grades"));
  }
}

function renderPractice(shell, state) {
  renderIdentity(state.user);
  document.body.dataset.lastEventId = String(state.last_event_id);
  const courseTitle = document.getElementById("course-title");
  if (state.course) {
    const link = courseTitle.querySelector("a");
    link.href = `/courses/${state.course.id}`;
    link.textContent = state.course.title;
    courseTitle.hidden = false;
  }
  const current = state.assignment;
  practiceList.items = state.assignments;
  practiceList.currentId = current ? current.id : null;
  renderAssignmentList();
  document.getElementById("practice-loading").hidden = true;
  shell.setAttribute("aria-busy", "false");
  if (!current) {
    const done = state.assignments.length > 0;
    document.getElementById(done ? "practice-all-done" : "practice-nothing").hidden = false;
    document.getElementById("all-done-course").hidden = !state.course;
    document.title = `${done ? "All done" : "Nothing to practise yet"} · gradeflow`;
    return;
  }
  document.title = `${current.title} · gradeflow`;
  document.getElementById("assignment-title").textContent = current.title;
  document.getElementById("assignment-meta").textContent =
    `${current.points} points · ${current.scoring} · ${current.course.title}`;
  // Rendered by the server with raw HTML escaped and unsafe links dropped.
  const handout = document.getElementById("handout");
  handout.innerHTML = current.handout_html;
  dropRepeatedTitle(handout, current.title);
  document.getElementById("module-file").textContent = `${current.module}.py`;
  document.getElementById("code").value = state.code;
  if (/Mac|iPhone|iPad/.test(navigator.platform)) document.getElementById("submit-keys").textContent = "⌘+Enter";
  document.getElementById("practice").hidden = false;
}

// Handouts usually open with their title as a heading, which the page shows
// already: the same words are dropped, other words become a subheading (the page
// keeps one h1).
function dropRepeatedTitle(handout, title) {
  const first = handout.firstElementChild;
  if (!first || first.tagName !== "H1") return;
  const words = (text) => text.trim().replace(/\s+/g, " ").toLowerCase();
  if (words(first.textContent) === words(title)) { first.remove(); return; }
  const heading = el("h2", {}, ...first.childNodes);
  first.replaceWith(heading);
}

function setUpPractice(state, events) {
  const assignmentId = state.assignment.id;
  const courseId = state.assignment.course.id;
  const form = document.getElementById("submit-form");
  const button = document.getElementById("submit");
  const status = document.getElementById("status");
  const feedback = document.getElementById("feedback");
  const progress = document.getElementById("progress");
  const textarea = document.getElementById("code");
  const maxBytes = state.max_code_bytes;
  let pendingId = state.pending_id;
  let currentId = null;
  let shownResult = null;
  const finished = new Map();  // id -> final status of submissions heard to be graded
  const editor = setUpDraftedEditor(state, textarea, () => form.requestSubmit());

  function showStatus(value, text) {
    status.className = `status status-${value}`;
    status.dataset.status = value;
    status.textContent = text || STATUS_TEXT[value] || value;
  }

  async function show(submission) {
    // The stream may bring a result before the submit's own (older) answer is read:
    // a submission shown as graded never goes back to waiting.
    const shownFinal = currentId === submission.id && FINAL.has(status.dataset.status);
    if (shownFinal && !FINAL.has(submission.status)) return;
    if (FINAL.has(submission.status)) {
      // The same result again (the submit's answer and the stream both bring it) is
      // on the page already; drawing it again would take the focus from its links.
      const result = `${submission.id} ${submission.status} ${submission.finished_at}`;
      if (result === shownResult) return;
      shownResult = result;
    }
    currentId = submission.id;
    showStatus(submission.status);
    if (submission.status !== "running") hideProgress();
    if (FINAL.has(submission.status)) {
      if (pendingId === submission.id) pendingId = null;
      button.disabled = pendingId !== null;
      const link = submission.status === "passed" ? await nextAssignmentLink(courseId) : null;
      recordResult(submission);
      renderFeedback(feedback, submission, link, (line) => editor.goToLine(line));
      editor.markLine(problemLine(submission.feedback));
    } else {
      pendingId = submission.id;
      button.disabled = true;
      feedback.replaceChildren();
      editor.markLine(null);
    }
  }

  function hideProgress() {
    progress.hidden = true;
    progress.replaceChildren();
  }

  // Live, transient news of the submission being graded: its place in the queue, then
  // how far its run has got. Each is a whole picture, so a missed one does not matter;
  // none may change a submission already shown as graded (its event is the last word).
  function isWaiting(submissionId) {
    return submissionId === currentId && submissionId === pendingId && !FINAL.has(status.dataset.status);
  }

  events.on("queue", (event) => {
    const place = JSON.parse(event.data);
    if (!isWaiting(place.submission_id) || status.dataset.status !== "queued") return;
    const wait = typeof place.eta_s === "number" ? `, about ${waitText(place.eta_s)} to wait` : "";
    showStatus("queued", `Queued — position ${place.position} in the queue${wait}.`);
  });

  events.on("progress", (event) => {
    const run = JSON.parse(event.data);
    if (!isWaiting(run.submission_id)) return;
    if (run.phase === "waiting") {
      // Claimed by a grader that holds other runs too (up to sixteen a slot in embedded
      // mode): its place in that grader's line for a slot, as of the event.
      const place = typeof run.position === "number" ? ` — position ${run.position}` : "";
      showStatus("running", `Taken by a grader — waiting for a free slot${place}…`);
      return;
    }
    showStatus("running", `Running your tests — ${run.passed} of ${run.total} tests passed so far.`);
    renderProgress(progress, run);
    progress.hidden = false;
  });

  const latest = state.latest;
  if (latest) show(latest);
  button.disabled = pendingId !== null;
  if (pendingId !== null && (!latest || latest.id !== pendingId)) {
    showStatus("queued", "You have a submission being graded for another assignment.");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    const code = editor.getValue();
    if (!code.trim()) { showStatus("error", "Write some code first."); return; }
    if (new TextEncoder().encode(code).length > maxBytes) {
      showStatus("error", `Your code is larger than ${maxBytes} bytes.`); return;
    }
    button.disabled = true;
    showStatus("queued", "Submitting…");
    let response;
    try {
      response = await fetch(`/api/assignments/${assignmentId}/submissions`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code }),
      });
    } catch (error) {
      button.disabled = false;
      showStatus("error", "Could not reach the server; try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 202) {
      await show(body);
    } else {
      button.disabled = response.status === 409;
      // Another submission is being graded: its final event (see "submission" below)
      // lets this one be submitted, also when it is another assignment's.
      const details = (body.error && body.error.details) || {};
      if (response.status === 409 && Number.isInteger(details.submission_id)) {
        pendingId = details.submission_id;
      }
      showStatus("error", (body.error && body.error.message) || `Submitting failed (${response.status}).`);
      if (pendingId !== null && finished.has(pendingId)) {
        // Graded while this answer was on its way: its final event has been and gone.
        const graded = finished.get(pendingId);
        pendingId = null;
        button.disabled = false;
        showStatus(graded, "Your other submission has been graded.");
      }
    }
  });

  events.on("submission_deleted", (event) => setPoints(JSON.parse(event.data).points));
  events.on("submission", (event) => {
    const data = JSON.parse(event.data);
    setPoints(data.points);
    const submission = data.submission;
    if (FINAL.has(submission.status)) {
      if (finished.size >= 100) finished.clear();  // only the latest matter
      finished.set(submission.id, submission.status);
    }
    recordResult(submission);  // this assignment or another, from this tab or another
    if (submission.assignment_id === assignmentId && (currentId === null || submission.id >= currentId)) {
      show(submission);
    } else if (pendingId === submission.id && FINAL.has(submission.status)) {
      pendingId = null;
      button.disabled = false;
      showStatus(submission.status, "Your other submission has been graded.");
    }
  });
}

// "45 s", "3 min": an estimate, said as one.
function waitText(seconds) {
  if (seconds < 60) return `${Math.max(1, seconds)} s`;
  return `${Math.round(seconds / 60)} min`;
}

// The editor, opened with this browser's draft of the assignment if there is one
// (else the latest submission's code or the starter), saving each change as the
// draft, with "Reset to starter" that can be undone.
function setUpDraftedEditor(state, textarea, onSubmit) {
  const key = drafts.key(state.user.id, state.assignment.id);
  const note = document.getElementById("draft-note");
  const draft = drafts.read(key);
  if (draft && typeof draft.code === "string" && draft.code !== textarea.value) {
    textarea.value = draft.code;
    showNote(note, "Restored your draft from this browser.");
  }
  let timer = null;
  const editor = createCodeEditor(textarea, {
    onSubmit,
    onChange(code) {
      clearTimeout(timer);
      timer = setTimeout(() => drafts.write(key, code), 300);
    },
  });
  // A reload within the 300 ms still keeps the last keystrokes.
  window.addEventListener("pagehide", () => { if (timer) drafts.write(key, editor.getValue()); });

  document.getElementById("reset-starter").addEventListener("click", () => {
    const previous = editor.getValue();
    if (previous === state.assignment.starter) { showNote(note, "This is already the starter code."); return; }
    editor.setValue(state.assignment.starter);
    drafts.write(key, state.assignment.starter);
    const undo = el("button", { type: "button", className: "link", "data-testid": "undo-reset" }, "Undo");
    undo.addEventListener("click", () => {
      editor.setValue(previous);
      drafts.write(key, previous);
      showNote(note, "Your code is back.");
      editor.focus();
    });
    showNote(note, "The editor now holds the starter code. ", undo);
    editor.focus();
  });
  return editor;
}

function showNote(note, ...content) {
  note.replaceChildren(...content);
  note.hidden = false;
}

// The submissions page: rows follow the student's submissions live (made or graded
// in another tab, or deleted there); a row opens its code and feedback below the
// table; a graded one can be deleted after a confirmation.
function setUpSubmissions(table, events) {
  const titles = JSON.parse(document.getElementById("assignment-titles").textContent);
  const detail = document.getElementById("submission-detail");
  const note = document.getElementById("submissions-note");
  const dialog = document.getElementById("delete-dialog");
  let openId = null;
  // The stream replays events from before the rows were read, so an event may be older
  // than the row it names: a deleted submission (ids are never reused) stays deleted.
  const deleted = new Set();

  function rowOf(id) { return table.querySelector(`tr[data-submission-id="${id}"]`); }

  function actionsFor(row) {
    const id = Number(row.dataset.submissionId);
    const view = el("button", { type: "button", className: "secondary small", "aria-label": `View submission ${id}` }, "View");
    view.addEventListener("click", () => openDetail(id));
    const cell = row.querySelector('[data-field="actions"]');
    cell.replaceChildren(view);
    // Only a graded submission can go: a pending one is still the grader's.
    if (FINAL.has(row.dataset.status)) {
      const remove = el("button", { type: "button", className: "danger small", "aria-label": `Delete submission ${id}` }, "Delete");
      remove.addEventListener("click", () => confirmDelete(id));
      cell.append(" ", remove);
    }
  }

  function update(submission) {
    if (deleted.has(submission.id)) return;
    let row = rowOf(submission.id);
    if (!row) {
      const empty = table.querySelector("tr.empty");
      if (empty) empty.remove();
      const title = titles[submission.assignment_id] || `Assignment ${submission.assignment_id}`;
      const created = submission.created_at;
      row = el("tr", { "data-submission-id": String(submission.id) },
        el("td", {}, String(submission.id)),
        el("td", {}, el("a", { href: `/assignments/${submission.assignment_id}` }, title)),
        el("td", { "data-field": "status" }), el("td", { "data-field": "score" }),
        el("td", {}, el("time", { datetime: created }, `${created.slice(0, 19).replace("T", " ")} UTC`)),
        el("td", { className: "row-actions", "data-field": "actions" }));
      table.tBodies[0].prepend(row);
    }
    row.dataset.status = submission.status;
    const statusCell = row.querySelector('[data-field="status"]');
    statusCell.textContent = submission.status;
    statusCell.className = `status-${submission.status}`;
    row.querySelector('[data-field="score"]').textContent = submission.score === null ? "" : String(submission.score);
    actionsFor(row);
    if (openId === submission.id) openDetail(submission.id, { focus: false });
  }

  function removeRow(id) {
    deleted.add(id);
    const row = rowOf(id);
    if (row) row.remove();
    if (!table.tBodies[0].rows.length) {
      table.tBodies[0].append(el("tr", { className: "empty" },
        el("td", { colspan: "6" }, "No submissions yet. ", el("a", { href: "/" }, "Start practising."))));
    }
    if (openId === id) closeDetail();
  }

  async function openDetail(id, { focus = true } = {}) {
    const response = await fetch(`/api/submissions/${id}`, { credentials: "same-origin" }).catch(() => null);
    if (!response || !response.ok) {
      note.textContent = response && response.status === 404
        ? `Submission ${id} no longer exists.` : "Could not load that submission; try again.";
      return;
    }
    const submission = await response.json();
    openId = id;
    const title = titles[submission.assignment_id] || `Assignment ${submission.assignment_id}`;
    document.getElementById("detail-title").textContent = `Submission ${id} · ${title}`;
    const score = submission.score === null ? "" : ` · ${submission.score} points`;
    document.getElementById("detail-meta").textContent =
      `${submission.status}${score} · submitted ${submission.created_at.slice(0, 19).replace("T", " ")} UTC`;
    showCode(document.getElementById("detail-code"), submission);
    const feedback = document.getElementById("detail-feedback");
    renderFeedback(feedback, submission, null, null);
    if (!FINAL.has(submission.status)) feedback.append(el("p", { className: "note" }, STATUS_TEXT[submission.status]));
    detail.hidden = false;
    for (const row of table.tBodies[0].rows) row.classList.toggle("open", Number(row.dataset.submissionId) === id);
    if (focus) detail.focus();
  }

  function closeDetail() {
    const id = openId;
    openId = null;
    detail.hidden = true;
    const row = rowOf(id);
    if (row) { row.classList.remove("open"); row.querySelector("button").focus(); }
  }

  // Read-only CodeMirror (highlighted, line numbers) when the editor bundle loaded,
  // else the code as preformatted text.
  function showCode(container, submission) {
    container.replaceChildren();
    if (window.GradeflowEditor) {
      try {
        const textarea = el("textarea", { "aria-hidden": "true", tabindex: "-1" });
        textarea.value = submission.code;
        container.append(textarea);
        const viewer = window.GradeflowEditor.create(textarea, { readOnly: true, labelledBy: "detail-code-label" });
        viewer.markLine(problemLine(submission.feedback));
        return;
      } catch (error) {
        console.error("The code viewer failed to start; showing plain text.", error);
        container.replaceChildren();
      }
    }
    container.append(el("pre", { tabindex: "0", "aria-labelledby": "detail-code-label" }, el("code", {}, submission.code)));
  }

  let openings = 0;
  function confirmDelete(id) {
    document.getElementById("delete-which").textContent = String(id);
    dialog.returnValue = "";
    dialog.showModal();
    const opening = ++openings;
    // A dialog's close event is queued: one from an earlier opening can arrive after this
    // opening began (cancel, then Delete again at once). It must not be taken for this one.
    const onClose = async () => {
      if (opening !== openings) { dialog.removeEventListener("close", onClose); return; }
      if (dialog.open) return;
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue !== "delete") { rowOf(id)?.querySelector(`[aria-label="Delete submission ${id}"]`)?.focus(); return; }
      const response = await fetch(`/api/submissions/${id}`, { method: "DELETE", credentials: "same-origin" }).catch(() => null);
      if (response && (response.status === 204 || response.status === 404)) {
        removeRow(id);
        note.textContent = `Submission ${id} deleted.`;
        note.focus();
        return;
      }
      const body = response ? await response.json().catch(() => ({})) : {};
      note.textContent = (body.error && body.error.message) || "Could not delete that submission; try again.";
    };
    dialog.addEventListener("close", onClose);
  }

  for (const row of table.tBodies[0].rows) if (row.dataset.submissionId) actionsFor(row);
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  events.on("submission", (event) => {
    const data = JSON.parse(event.data);
    setPoints(data.points);
    update(data.submission);
  });
  events.on("submission_deleted", (event) => {
    const data = JSON.parse(event.data);
    setPoints(data.points);
    removeRow(data.submission_id);
  });
}

const CHECK_TEXT = {
  none: "imported from the command line (checked there)",
  queued: "Queued — waiting for a grader slot…",
  running: "Running the reference solution against the tests…",
  passed: "Passed: the reference solution passes every test.",
  failed: "Failed: the reference solution does not pass its tests.",
  error: "The check failed on our side; save again to retry.",
};

// The authoring form: live handout preview, support file rows, editor keys, and
// (when editing) the solution check followed live over SSE.
function setUpAuthoring(root, events) {
  for (const textarea of root.querySelectorAll("textarea.code")) setUpEditor(textarea);
  const handout = document.getElementById("handout_md");
  const preview = document.getElementById("handout-preview");
  let timer = null;
  let asked = 0;
  handout.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++asked;
      const response = await fetch("/api/handout-preview", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ markdown: handout.value }),
      }).catch(() => null);
      if (!response || !response.ok || mine !== asked) return;
      // Rendered by the server with raw HTML escaped and unsafe links dropped.
      preview.innerHTML = (await response.json()).html;
    }, 250);
  });

  const rows = document.getElementById("support-files");
  const template = document.getElementById("support-template");
  document.getElementById("add-support").addEventListener("click", () => {
    const row = template.content.firstElementChild.cloneNode(true);
    setUpEditor(row.querySelector("textarea"));
    rows.append(row);
    row.querySelector("input").focus();
  });
  rows.addEventListener("click", (event) => {
    if (event.target.classList.contains("remove-support")) event.target.closest(".support-file").remove();
  });

  const assignmentId = Number(root.dataset.assignmentId);
  if (!assignmentId || !events) return;
  const state = document.getElementById("state");
  const pending = document.getElementById("pending");
  const status = document.getElementById("check-status");
  const feedback = document.getElementById("check-feedback");

  function show(view) {
    state.dataset.state = view.state;
    state.className = `state state-${view.state}`;
    state.textContent = view.state === "published" ? "Published: students see it" : "Draft: students do not see it";
    pending.hidden = !view.pending_changes;
    const check = view.check;
    const value = check ? check.status : "none";
    status.dataset.status = value;
    status.className = `status status-${value}`;
    status.textContent = CHECK_TEXT[value] || value;
    feedback.replaceChildren();
    if (check && check.result) {
      if (check.result.message) feedback.append(el("p", { className: "summary" }, check.result.message));
      appendTestsAndOutput(feedback, check.result, "The solution's", { showIds: true });
    }
  }

  show(JSON.parse(document.getElementById("check-data").textContent));
  events.on("assignment_check", (event) => {
    const view = JSON.parse(event.data).assignment;
    if (view.id === assignmentId) show(view);
  });
}

// A regrade preview's page: progress from `regrade_preview` events, and a slow poll
// for a co-teacher who did not start it (events go to the one who did). Any change
// of status reloads the page, which the server renders with the deltas.
function setUpRegradePreview(root, events) {
  const previewId = Number(root.dataset.previewId);
  const status = root.dataset.status;
  const progress = document.getElementById("preview-progress");

  function show(preview) {
    if (preview.id !== previewId) return;
    if (preview.status !== status) { window.location.reload(); return; }
    progress.max = Math.max(preview.total, 1);
    progress.value = preview.done;
    document.getElementById("preview-done").textContent = String(preview.done);
    document.getElementById("preview-running").textContent = String(preview.running);
    document.getElementById("preview-queued").textContent = String(preview.queued);
  }

  if (status !== "running") return;
  events.on("regrade_preview", (event) => show(JSON.parse(event.data).preview));
  setInterval(async () => {
    const response = await fetch(`/api/regrade-previews/${previewId}`, { credentials: "same-origin" });
    if (response.ok) show(await response.json());
  }, 5000);
}

// The page's live stream, from the event id the page (or its state) was made at:
// nothing between the two is missed.
function openEvents(options = {}) {
  return window.GradeflowLive.connect(document.body.dataset.lastEventId || "0", options);
}

document.addEventListener("DOMContentLoaded", async () => {
  const shell = document.getElementById("practice-shell");
  if (shell) {
    const state = await loadPractice(shell);
    // Events from the state's last_event_id on: nothing between the two is missed.
    // Only this page asks for the transient events: a queued submission's place, a run's progress.
    if (state && state.assignment) setUpPractice(state, openEvents({ progress: true }));
    return;
  }
  const table = document.getElementById("submissions");
  const authoring = document.getElementById("authoring");
  if (authoring) setUpAuthoring(authoring, authoring.dataset.assignmentId ? openEvents() : null);
  const preview = document.getElementById("regrade-preview");
  if (!table && !preview) return;
  const events = openEvents();
  if (table) setUpSubmissions(table, events);
  if (preview) setUpRegradePreview(preview, events);
});
