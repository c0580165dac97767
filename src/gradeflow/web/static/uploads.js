// The grade-upload page: progress, status and message follow the upload live over SSE;
// once it ends the page reloads to show its errors, changes and buttons.
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

  function show(upload) {
    status.textContent = upload.status;
    status.className = `upload-status upload-${upload.status}`;
    progress.max = upload.rows_total || Math.max(upload.rows_done, 1);
    progress.value = upload.rows_done;
    phase.textContent = `${upload.phase} · ${upload.rows_done} of ${upload.rows_total || "?"} rows`;
    message.textContent = upload.message;
  }

  if (!live.has(initial.status)) return;
  const events = window.GradeflowLive.connect(document.body.dataset.lastEventId || "0");
  events.on("grade_upload", (event) => {
    const upload = JSON.parse(event.data).upload;
    if (upload.id !== uploadId) return;
    show(upload);
    if (!live.has(upload.status)) {
      events.close();
      window.location.reload();
    }
  });
});
