// Upload page: pick a video (or an audio-only recording), preview it, send it straight to storage (one PUT, or multipart for big files),
// start processing and follow the task until it ends.
import { api, ApiError, bytes, createTracker, el, followTask, initPage, showError } from "./app.js";

const PART_CONCURRENCY = 3;
const TYPES_BY_EXTENSION = {
  mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", webm: "video/webm", mkv: "video/x-matroska",
  avi: "video/x-msvideo", mpg: "video/mpeg", mpeg: "video/mpeg",
  // Audio-only recordings: the moderator skips the visual checks, the transcript page plays them in <audio>.
  m4a: "audio/mp4", mp3: "audio/mpeg", wav: "audio/wav", ogg: "audio/ogg", oga: "audio/ogg", opus: "audio/ogg",
  flac: "audio/flac", weba: "audio/webm", aac: "audio/aac",
};

const $ = (id) => document.getElementById(id);
let chosen = null;
let previewUrl = null;
const inFlight = new Set(); // XHRs of the current upload, so "Cancel" can stop them all

function contentTypeOf(file) {
  if (file.type && (file.type.startsWith("video/") || file.type.startsWith("audio/"))) return file.type;
  const extension = file.name.split(".").pop().toLowerCase();
  return TYPES_BY_EXTENSION[extension] || file.type || "application/octet-stream";
}

function choose(file) {
  const formError = $("form-error");
  formError.hidden = true;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  chosen = file;
  if (!file) {
    $("preview-wrap").hidden = true;
    $("upload-button").disabled = true;
    return;
  }
  previewUrl = URL.createObjectURL(file);
  const preview = $("preview");
  preview.src = previewUrl;
  const facts = $("file-facts");
  const duration = el("dd", { id: "preview-duration" }, "…");
  facts.replaceChildren(
    el("dt", {}, "File"), el("dd", { id: "chosen-name" }, file.name),
    el("dt", {}, "Size"), el("dd", {}, bytes(file.size)),
    el("dt", {}, "Type"), el("dd", {}, contentTypeOf(file)),
    el("dt", {}, "Length"), duration,
  );
  preview.onloadedmetadata = () => {
    duration.textContent = Number.isFinite(preview.duration) ? `${preview.duration.toFixed(1)} s` : "unknown";
  };
  preview.onerror = () => {
    duration.textContent = "this browser cannot preview it (the server may still process it)";
  };
  $("preview-wrap").hidden = false;
  const media = file.type.startsWith("video/") || file.type.startsWith("audio/");
  $("upload-button").disabled = !media && !TYPES_BY_EXTENSION[file.name.split(".").pop().toLowerCase()];
  if ($("upload-button").disabled) {
    showError(formError, { code: "unsupported_content_type", message: `${file.name} does not look like a video or an audio recording.` });
  }
}

// One PUT of `body` to a presigned URL with progress; resolves with the XHR (for its ETag header).
function put(url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    inFlight.add(xhr);
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      inFlight.delete(xhr);
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(body.size);
        resolve(xhr);
      } else {
        reject(new ApiError(xhr.status, "storage_rejected", `Storage refused the upload (HTTP ${xhr.status}).`));
      }
    };
    xhr.onerror = () => {
      inFlight.delete(xhr);
      reject(new ApiError(0, "storage_unreachable", "The upload to storage failed (network or CORS error)."));
    };
    xhr.onabort = () => {
      inFlight.delete(xhr);
      reject(new ApiError(0, "upload_cancelled", "The upload was cancelled."));
    };
    xhr.send(body);
  });
}

function showUploadProgress(sent, total) {
  const percent = total ? (100 * sent) / total : 0;
  $("upload-progress").value = percent;
  $("upload-progress-text").textContent = `${bytes(sent)} of ${bytes(total)} (${Math.floor(percent)}%)`;
}

async function uploadMultipart(target, file) {
  const loaded = new Map(); // part number -> bytes sent so far
  const report = () => showUploadProgress([...loaded.values()].reduce((a, b) => a + b, 0), file.size);
  const etags = [];
  const queue = [...target.parts];
  async function worker() {
    while (queue.length) {
      const part = queue.shift();
      const start = (part.part_number - 1) * target.part_size;
      const slice = file.slice(start, Math.min(start + target.part_size, file.size));
      const xhr = await put(part.url, slice, {}, (n) => {
        loaded.set(part.part_number, n);
        report();
      });
      const etag = xhr.getResponseHeader("ETag");
      if (!etag) {
        throw new ApiError(0, "etag_missing", "Storage did not expose the part's ETag (check the bucket's CORS rules).");
      }
      etags.push({ part_number: part.part_number, etag });
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, queue.length) }, worker));
    etags.sort((a, b) => a.part_number - b.part_number);
    await api("/api/video/complete-upload", {
      method: "POST",
      body: { object_key: target.object_key, upload_id: target.upload_id, parts: etags },
    });
  } catch (error) {
    for (const xhr of inFlight) xhr.abort();
    // Best effort: free the half-finished upload in storage; the error the user sees is the original one.
    api("/api/video/abort-upload", {
      method: "POST",
      body: { object_key: target.object_key, upload_id: target.upload_id },
    }).catch(() => {});
    throw error;
  }
}

function hints() {
  const body = {};
  const language = $("language").value.trim();
  if (language) body.language = language;
  const min = parseInt($("min-speakers").value, 10);
  const max = parseInt($("max-speakers").value, 10);
  if (min > 0) body.min_speakers = min;
  if (max > 0) body.max_speakers = max;
  return body;
}

function validateHints() {
  for (const id of ["language", "min-speakers", "max-speakers"]) {
    const input = $(id);
    if (!input.checkValidity()) {
      input.focus();
      return `${input.labels[0].firstChild.textContent.trim()}: ${input.validationMessage || "invalid value"}`;
    }
  }
  const { min_speakers: min, max_speakers: max } = hints();
  if (min && max && min > max) return "Min speakers is greater than max speakers.";
  return null;
}

function setBusy(busy) {
  for (const id of ["file-input", "upload-button", "language", "min-speakers", "max-speakers"]) $(id).disabled = busy;
  $("cancel-upload").hidden = !busy;
  $("dropzone").classList.toggle("disabled", busy);
}

async function submit(event) {
  event.preventDefault();
  const formError = $("form-error");
  formError.hidden = true;
  if (!chosen) return;
  const problem = validateHints();
  if (problem) {
    showError(formError, { code: "invalid_request", message: problem });
    return;
  }
  const file = chosen;
  const options = hints();
  setBusy(true);
  $("tracker-card").hidden = true;
  $("upload-progress-wrap").hidden = false;
  showUploadProgress(0, file.size);
  let started;
  try {
    const target = await api("/api/video/upload-url", {
      method: "POST",
      body: { filename: file.name, content_type: contentTypeOf(file), size: file.size },
    });
    $("upload-progress-wrap").dataset.method = target.method;
    if (target.method === "PUT") {
      await put(target.url, file, target.headers, (n) => showUploadProgress(n, file.size));
    } else {
      await uploadMultipart(target, file);
    }
    showUploadProgress(file.size, file.size);
    $("upload-progress-text").textContent += " — uploaded";
    started = await api("/api/video/start-processing", {
      method: "POST",
      body: { object_key: target.object_key, ...options },
    });
  } catch (error) {
    showError(formError, error);
    setBusy(false);
    $("upload-button").disabled = !chosen;
    return;
  }
  $("cancel-upload").hidden = true;
  await track(started);
}

async function track(started) {
  const card = $("tracker-card");
  card.hidden = false;
  card.dataset.taskId = started.task_id;
  const tracker = createTracker($("tracker"));
  tracker.update({ status: started.status, progress_percent: 0, stages: [], flagged: false, error: null });
  const link = $("transcript-link");
  link.href = `/videos/${started.media_id}`;
  try {
    const final = await followTask(started.task_id, tracker.update);
    if (final.status === "COMPLETED") {
      $("result-link-wrap").hidden = false;
      link.hidden = false;
      link.focus();
    } else {
      $("result-link-wrap").hidden = false;
      link.hidden = true;
    }
  } catch (error) {
    showError($("task-error"), error);
  }
  $("upload-another").hidden = false;
}

function reset() {
  $("upload-form").reset();
  choose(null);
  setBusy(false);
  $("upload-button").disabled = true;
  $("upload-progress-wrap").hidden = true;
  $("tracker-card").hidden = true;
  $("result-link-wrap").hidden = true;
  $("file-input").focus();
}

function wireDropzone() {
  const zone = $("dropzone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if ($("file-input").disabled) return;
    const file = event.dataTransfer.files[0];
    if (file) choose(file);
  });
}

if (initPage()) {
  $("file-input").addEventListener("change", (event) => choose(event.target.files[0] || null));
  $("upload-form").addEventListener("submit", submit);
  $("cancel-upload").addEventListener("click", () => {
    for (const xhr of inFlight) xhr.abort();
  });
  $("upload-another").addEventListener("click", reset);
  wireDropzone();
} else {
  $("file-input").disabled = true;
}
