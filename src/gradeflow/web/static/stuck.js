// The stuck-submission page: "Re-run" posts to the API and says what happened; the
// list is read again every 15 s (teachers get no events of their students' runs), and
// after a re-run, so rows that recovered leave it and new ones appear.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("stuck");
  if (!root) return;
  const body = root.querySelector("tbody");
  const note = document.getElementById("stuck-note");
  const perCourse = root.querySelectorAll("thead th").length === 7;
  const REFRESH_MS = 15000;

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function row(s) {
    const tr = document.createElement("tr");
    tr.dataset.submissionId = String(s.id);
    tr.append(cell(String(s.id)), cell(s.student));
    if (!perCourse) tr.append(cell(s.course_title));
    tr.append(cell(s.assignment_title));
    const status = cell("");
    const badge = document.createElement("span");
    badge.className = `badge badge-${s.status}`;
    badge.textContent = s.status;
    status.append(badge);
    if (s.regrading) status.append(" (regrade)");
    tr.append(status, cell(s.message), cell(s.since.slice(0, 16).replace("T", " ")));
    const action = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary rerun";
    button.dataset.submissionId = String(s.id);
    button.setAttribute("aria-label", `Re-run submission ${s.id}`);
    button.textContent = "Re-run";
    action.append(button);
    tr.append(action);
    return tr;
  }

  function show(list) {
    // Keep the focused button's place: a refresh must not throw keyboard users out.
    const focused = document.activeElement?.dataset?.submissionId;
    const rows = list.submissions.map(row);
    if (!rows.length) {
      const empty = document.createElement("tr");
      empty.className = "empty";
      const td = cell("Nothing is stuck.");
      td.colSpan = perCourse ? 7 : 8;
      empty.append(td);
      rows.push(empty);
    }
    body.replaceChildren(...rows);
    if (focused) body.querySelector(`button[data-submission-id="${focused}"]`)?.focus();
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.api, { headers: { Accept: "application/json" } });
      if (response.ok) show(await response.json());
    } catch {
      // The next refresh tries again; the rows shown stay as they were.
    }
  }

  async function rerun(button) {
    const id = button.dataset.submissionId;
    button.disabled = true;
    try {
      const response = await fetch(`/api/submissions/${id}/rerun`, { method: "POST" });
      const answer = await response.json();
      if (response.ok) {
        note.textContent = answer.reused
          ? `Submission ${id} has the result of identical code: ${answer.status}.`
          : `Submission ${id} is queued to be graded again.`;
      } else {
        note.textContent = answer.error?.message || `Submission ${id} could not be re-run.`;
      }
    } catch {
      note.textContent = `Submission ${id} could not be re-run: the server did not answer.`;
    }
    button.disabled = false;
    await refresh();
  }

  body.addEventListener("click", (event) => {
    const button = event.target.closest("button.rerun");
    if (button) rerun(button);
  });
  setInterval(refresh, REFRESH_MS);
});
