// gradeflow pages: editor behaviour, submitting, and live updates over SSE.
"use strict";

const FINAL = new Set(["passed", "failed", "error"]);
const STATUS_TEXT = {
  queued: "Queued — waiting for a grader…",
  running: "Running your tests…",
  passed: "Passed!",
  failed: "Not yet — see the feedback below.",
  error: "Grading failed on our side.",
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

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

function renderFeedback(container, submission, nextLink, goToLine) {
  container.replaceChildren();
  if (!submission || !FINAL.has(submission.status)) return;
  const feedback = submission.feedback || {};
  const summary = el("p", { className: `summary status-${submission.status}`, "data-testid": "summary" },
    feedback.message || STATUS_TEXT[submission.status]);
  container.append(summary);
  if (feedback.line) container.append(lineLink(feedback.line, goToLine));
  if (ADVICE[feedback.outcome]) {
    container.append(el("p", { className: "advice", "data-testid": "advice" },
      el("strong", {}, "What to try: "), ADVICE[feedback.outcome]));
  }
  if (submission.status === "passed") {
    const score = submission.score === null ? "" : ` You earned ${submission.score} points.`;
    const success = el("p", { className: "success", "data-testid": "success" }, `Well done — all tests pass.${score}`);
    if (nextLink) success.append(" ", nextLink);
    container.append(success);
  }
  if (submission.reused) {
    container.append(el("p", { className: "note" }, "Identical code was graded before; this is that result."));
  }
  appendTestsAndOutput(container, feedback, "Your program's", { goToLine });
}

// What to try next when a run did not get as far as the tests' verdicts.
const ADVICE = {
  timeout: "look for a loop that never ends — a while loop whose condition never becomes false, "
    + "or a function that calls itself without a case that stops it — in the code the stopped test calls. "
    + "Try that call yourself on a small input, with a print() inside the loop to see what changes.",
  memory_limit: "look for a list, string or dictionary that keeps growing — something added to in a "
    + "loop that never ends, or built far larger than the task needs — or a function that calls itself without end.",
  crashed: "your program ended before the tests did: look for exit(), quit(), sys.exit() or os._exit() "
    + "in your code, and for code that waits for input the tests never give.",
  syntax_error: "Python could not read your code. Check the marked line and the one before it for a "
    + "missing colon, bracket or quote, or indentation that does not line up.",
  import_error: "the problem happened while your file was loading, before any test ran: check the code "
    + "outside your functions, and that every function the handout asks for is there with that exact name.",
};

// The line of the student's code a result points at: a syntax or import error's,
// else the first test error's.
function problemLine(feedback) {
  if (!feedback) return null;
  if (feedback.line) return feedback.line;
  const failing = (feedback.tests || []).find((test) => test.line);
  return failing ? failing.line : null;
}

function lineLink(line, goToLine) {
  if (!goToLine) return el("p", { className: "line-ref" }, `Line ${line} of your code`);
  const button = el("button", { type: "button", className: "link line-ref", "data-testid": "line-link" },
    `Go to line ${line} of your code`);
  button.addEventListener("click", () => goToLine(line));
  return el("p", {}, button);
}

// A test's id as words: `GreetTest.test_greets_a_person_by_name` is "greets a person
// by name" (the docstring's first line, when the test has one, says it better).
function testSentence(test) {
  if (test.description) return test.description;
  const method = test.id.split(".").pop();
  const words = method.replace(/^test_?/, "").replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/_+/g, " ").trim().toLowerCase();
  return words || method;
}

const OUTCOME_MARK = {
  passed: ["✓", "ok", "passed"],
  failed: ["✗", "bad", "failed"],
  error: ["✗", "bad", "error"],
  skipped: ["–", "skip", "skipped"],
  not_run: ["·", "skip", "not run"],
};

// Expected and actual (reprs) side by side, the part where they differ marked: what
// lies between their common start and their common end.
function comparison(expected, actual) {
  let start = 0;
  while (start < expected.length && start < actual.length && expected[start] === actual[start]) start++;
  let end = 0;
  while (end < expected.length - start && end < actual.length - start
    && expected[expected.length - 1 - end] === actual[actual.length - 1 - end]) end++;
  const marked = (text) => el("code", {},
    text.slice(0, start),
    el("mark", { className: start + end === text.length ? "gap" : "" }, text.slice(start, text.length - end)),
    text.slice(text.length - end));
  return el("dl", { className: "compare", "data-testid": "compare" },
    el("div", { className: "expected" }, el("dt", {}, "Expected"), el("dd", { "data-testid": "expected" }, marked(expected))),
    el("div", { className: "actual" }, el("dt", {}, "Your code gave"), el("dd", { "data-testid": "actual" }, marked(actual))));
}

// Per-test results and captured output of a run, for students and teachers alike
// (teachers also see each test's id).
function appendTestsAndOutput(container, feedback, whose, { goToLine = null, showIds = false } = {}) {
  const tests = feedback.tests || [];
  if (tests.length) {
    const list = el("ul", { className: "tests", "data-testid": "tests" });
    for (const test of tests) {
      const [icon, kind, label] = OUTCOME_MARK[test.outcome] || ["?", "bad", test.outcome];
      const item = el("li", { className: `test ${kind}`, "data-outcome": test.outcome, "data-test-id": test.id, title: test.id },
        el("span", { className: "icon", "aria-hidden": "true" }, icon),
        el("span", { className: "name" }, testSentence(test)), " ",
        el("span", { className: "outcome" }, label));
      if (showIds) item.append(" ", el("code", { className: "test-id" }, test.id));
      const compared = typeof test.expected === "string" && typeof test.actual === "string";
      if (test.note) item.append(el("p", { className: "test-note" }, test.note));
      if (compared) item.append(comparison(test.expected, test.actual));
      if (test.line) item.append(lineLink(test.line, goToLine));
      if (test.output) {
        item.append(el("details", { className: "test-output" }, el("summary", {}, `${whose} output during this test`),
          el("pre", { "data-testid": "test-output" }, test.output)));
      }
      if (test.message && compared) {
        item.append(el("details", {}, el("summary", {}, "Full message"), el("pre", { className: "message" }, test.message)));
      } else if (test.message) {
        item.append(el("pre", { className: "message" }, test.message));
      }
      list.append(item);
    }
    container.append(list);
  }
  for (const stream of ["stdout", "stderr"]) {
    if (feedback[stream]) {
      container.append(el("details", {}, el("summary", {}, `${whose} ${stream}`), el("pre", {}, feedback[stream])));
    }
  }
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

function markCompleted(assignmentId) {
  const link = document.querySelector(`.assignments a[href="/assignments/${assignmentId}"]`);
  if (!link) return;
  link.parentElement.classList.add("done");
  const mark = link.parentElement.querySelector(".mark");
  if (mark) { mark.textContent = "✓"; mark.setAttribute("aria-label", "completed"); }
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
  document.getElementById("assignment-list").replaceChildren(...state.assignments.map((item) => {
    const classes = [item.completed ? "done" : "", current && item.id === current.id ? "current" : ""];
    return el("li", { className: classes.filter(Boolean).join(" ") },
      el("a", { href: `/assignments/${item.id}` }, item.title), " ",
      el("span", { className: "mark", "aria-label": item.completed ? "completed" : "not completed" },
        item.completed ? "✓" : ""));
  }));
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
  const textarea = document.getElementById("code");
  const maxBytes = state.max_code_bytes;
  let pendingId = state.pending_id;
  let currentId = null;
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
    currentId = submission.id;
    showStatus(submission.status);
    if (FINAL.has(submission.status)) {
      if (pendingId === submission.id) pendingId = null;
      button.disabled = pendingId !== null;
      const link = submission.status === "passed" ? await nextAssignmentLink(courseId) : null;
      if (submission.status === "passed") markCompleted(submission.assignment_id);
      renderFeedback(feedback, submission, link, (line) => editor.goToLine(line));
      editor.markLine(problemLine(submission.feedback));
    } else {
      pendingId = submission.id;
      button.disabled = true;
      feedback.replaceChildren();
      editor.markLine(null);
    }
  }

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
      showStatus("error", (body.error && body.error.message) || `Submitting failed (${response.status}).`);
    }
  });

  events.addEventListener("submission", (event) => {
    const data = JSON.parse(event.data);
    setPoints(data.points);
    const submission = data.submission;
    if (submission.assignment_id === assignmentId && (currentId === null || submission.id >= currentId)) {
      show(submission);
    } else if (pendingId === submission.id && FINAL.has(submission.status)) {
      pendingId = null;
      button.disabled = false;
      showStatus(submission.status, "Your other submission has been graded.");
    }
  });
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

function setUpSubmissions(table, events) {
  events.addEventListener("submission", (event) => {
    const data = JSON.parse(event.data);
    setPoints(data.points);
    const submission = data.submission;
    let row = table.querySelector(`tr[data-submission-id="${submission.id}"]`);
    if (!row) {
      const empty = table.querySelector("tr.empty");
      if (empty) empty.remove();
      row = el("tr", { "data-submission-id": String(submission.id) },
        el("td", {}, String(submission.id)),
        el("td", {}, el("a", { href: `/assignments/${submission.assignment_id}` }, `Assignment ${submission.assignment_id}`)),
        el("td", { "data-field": "status" }), el("td", { "data-field": "score" }),
        el("td", {}, submission.created_at.slice(0, 19).replace("T", " ") + " UTC"));
      table.tBodies[0].prepend(row);
    }
    const statusCell = row.querySelector('[data-field="status"]');
    statusCell.textContent = submission.status;
    statusCell.className = `status-${submission.status}`;
    row.querySelector('[data-field="score"]').textContent = submission.score === null ? "" : String(submission.score);
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
  events.addEventListener("assignment_check", (event) => {
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
  events.addEventListener("regrade_preview", (event) => show(JSON.parse(event.data).preview));
  setInterval(async () => {
    const response = await fetch(`/api/regrade-previews/${previewId}`, { credentials: "same-origin" });
    if (response.ok) show(await response.json());
  }, 5000);
}

function openEvents() {
  const after = document.body.dataset.lastEventId || "0";
  // EventSource reconnects by itself and then sends Last-Event-ID, which the
  // server prefers over the query parameter, so nothing is missed.
  return new EventSource(`/api/events?last_event_id=${encodeURIComponent(after)}`);
}

document.addEventListener("DOMContentLoaded", async () => {
  const shell = document.getElementById("practice-shell");
  if (shell) {
    const state = await loadPractice(shell);
    // Events from the state's last_event_id on: nothing between the two is missed.
    if (state && state.assignment) setUpPractice(state, openEvents());
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
