// The gradebook page: sort by any column header, and show an imported cell's history.
"use strict";

function cellValue(row, index, type) {
  const cell = row.cells[index];
  if (type === "number") {
    const raw = cell.dataset.value;
    return raw === undefined || raw === "" ? null : Number(raw);
  }
  return cell.textContent.trim().toLowerCase();
}

// Empty cells sort last in both directions: "no grade" is not a low grade.
function sortBy(table, index, type, descending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).filter((row) => !row.classList.contains("empty"));
  rows.sort((a, b) => {
    const x = cellValue(a, index, type);
    const y = cellValue(b, index, type);
    if (x === null || x === "") return y === null || y === "" ? 0 : 1;
    if (y === null || y === "") return -1;
    const order = x < y ? -1 : x > y ? 1 : 0;
    return descending ? -order : order;
  });
  body.append(...rows);
}

function setUpSorting(table) {
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((header, index) => {
    header.querySelector("button").addEventListener("click", () => {
      const descending = header.getAttribute("aria-sort") === "ascending";
      headers.forEach((other) => other.removeAttribute("aria-sort"));
      header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      sortBy(table, index, header.dataset.type, descending);
    });
  });
}

function describeValue(value, letter) {
  if (value === null) return "—";
  return letter ? `${letter} (${value})` : String(value);
}

function historyItem(change) {
  const item = document.createElement("li");
  const what = document.createElement("strong");
  what.textContent = `${describeValue(change.old_value, change.old_letter)} → ${describeValue(change.new_value, change.new_letter)}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  const who = change.changed_by ? change.changed_by.name || change.changed_by.email : "unknown";
  const how = change.upload_id ? `upload #${change.upload_id}` : change.reason;
  meta.textContent = `${change.changed_at.slice(0, 16).replace("T", " ")} UTC · ${who} · ${how}`;
  item.append(what, meta);
  if (change.new_comment) {
    const comment = document.createElement("div");
    comment.className = "comment";
    comment.textContent = change.new_comment;
    item.append(comment);
  }
  return item;
}

async function showHistory(courseId, studentId, email, assessment) {
  const panel = document.getElementById("history");
  const list = document.getElementById("history-list");
  document.getElementById("history-title").textContent = `${assessment} · ${email}`;
  list.replaceChildren();
  panel.hidden = false;
  const query = new URLSearchParams({ student: studentId, assessment });
  const response = await fetch(`/api/courses/${courseId}/grades/history?${query}`, {
    headers: { Accept: "application/json" },
  });
  const body = await response.json();
  if (!response.ok) {
    const item = document.createElement("li");
    item.className = "form-error";
    item.textContent = body.error.message;
    list.append(item);
    return;
  }
  if (body.changes.length === 0) {
    const item = document.createElement("li");
    item.className = "note";
    item.textContent = "No recorded changes.";
    list.append(item);
  }
  list.append(...body.changes.map(historyItem));
}

function setUpHistory(section, table) {
  const courseId = section.dataset.courseId;
  table.tBodies[0].addEventListener("click", (event) => {
    const button = event.target.closest("button.cell");
    if (!button) return;
    const cell = button.closest("td");
    const row = cell.closest("tr");
    showHistory(courseId, row.dataset.studentId, row.cells[0].textContent, cell.dataset.assessment);
  });
  document.getElementById("history-close").addEventListener("click", () => {
    document.getElementById("history").hidden = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.querySelector("section.gradebook");
  const table = document.getElementById("gradebook");
  if (!section || !table) return;
  setUpSorting(table);
  setUpHistory(section, table);
});
