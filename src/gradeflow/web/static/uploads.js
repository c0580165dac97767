// The grade-upload page: progress, status and message follow the upload live over SSE,
// and so does a requested revert (the upload stays "applied" while its revert_status
// moves); once the import or the revert ends the page reloads to show its errors,
// changes and buttons.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("grade-upload");
  if (!root) return;
  const uploadId = Number(root.dataset.uploadId);
  const initial = JSON.parse(document.getElementById("upload-data").textContent);
  const status = document.getElementById("upload-status");
  const progress = document.getElementById("upload-progress");
  const phase = document.getElementById("upload-phase");
  const message = document.getElementById("upload-message");
  const live = new Set(["queued", "running"]);
  const pending = (upload) => live.has(upload.status) || live.has(upload.revert_status);

  function rowCount(upload) {
    if (!upload.rows_total) return `${upload.rows_done} of ? rows`;
    // While the file is read the total is the reader's estimate; the end makes it exact.
    const about = upload.rows_total_estimated ? "about " : "";
    return `${upload.rows_done} of ${about}${upload.rows_total} rows`;
  }

  function show(upload) {
    const reverting = live.has(upload.revert_status);
    status.textContent = reverting
      ? `${upload.status} · revert ${upload.revert_status}`
      : upload.status;
    status.className = `upload-status upload-${upload.status}`;
    progress.max = upload.rows_total || Math.max(upload.rows_done, 1);
    progress.value = upload.rows_done;
    phase.textContent = `${upload.phase} · ${rowCount(upload)}`;
    message.textContent = upload.message;
  }

  if (!pending(initial)) return;
  const events = window.GradeflowLive.connect(document.body.dataset.lastEventId || "0");
  events.on("grade_upload", (event) => {
    const upload = JSON.parse(event.data).upload;
    if (upload.id !== uploadId) return;
    show(upload);
    if (!pending(upload)) {
      events.close();
      window.location.reload();
    }
  });
});
