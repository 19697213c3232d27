// Notes and images pinned to a moment of the transcript (/api/media/{id}/annotations).
// Shown inline among the segments: after the segment they name, else before the first segment that starts
// after their time (the exports use the same rule). The owner adds them at the player's current time, edits
// and deletes them; readers only see them. Everything a user typed goes into the page as text, never HTML.
import { api, clock, el, showError } from "./app.js";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif"];
const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

const state = {
  media: null,
  seek: null,
  notes: [], // sorted by time, as the API returns them
  nodes: new Map(), // annotation id -> element
  observer: null,
  loading: null,
};

const player = () => document.getElementById("player");
const container = () => document.getElementById("transcript");

// Called by the transcript page after every render of a media (transcript.js). Safe to call again.
export async function mountNotes(media, { seek }) {
  state.media = media;
  state.seek = seek;
  mountComposer();
  watchTranscript();
  const loading = (state.loading = api(`/api/media/${media.id}/annotations`));
  try {
    const notes = await loading;
    if (state.loading !== loading) return; // a newer render asked again
    state.notes = notes;
    state.nodes = new Map(notes.map((note) => [note.id, noteNode(note)]));
    place();
  } catch (error) {
    showError(composerError(), error);
  }
}

// ---------------------------------------------------------------- placement

function place() {
  const box = container();
  if (!box) return;
  for (const node of box.querySelectorAll(":scope .annotation")) {
    if (![...state.nodes.values()].includes(node)) node.remove();
  }
  const segments = [...box.querySelectorAll("[data-testid=segment][data-start]")];
  const byIdx = new Map(segments.map((node) => [Number(node.dataset.idx), node]));
  // Notes come in time order; several at one place keep it (each goes after the one placed before it).
  const anchorAfter = new Map(); // segment element -> the last note placed after it
  for (const note of state.notes) {
    const node = state.nodes.get(note.id);
    const after = note.after_segment != null ? byIdx.get(note.after_segment) : null;
    const reference = after ? null : segments.find((segment) => Number(segment.dataset.start) > note.time_s);
    if (after) {
      (anchorAfter.get(after) || after).after(node);
      anchorAfter.set(after, node);
    } else if (reference) {
      reference.before(node);
    } else {
      box.append(node);
    }
  }
}

// The transcript page re-renders its segments (a reload, an edit, a display change): put the notes back.
function watchTranscript() {
  const box = container();
  if (!box || state.observer) return;
  state.observer = new MutationObserver(() => {
    const missing = [...state.nodes.values()].some((node) => !node.isConnected);
    if (missing) place();
  });
  state.observer.observe(box, { childList: true });
}

// ---------------------------------------------------------------- one note

function noteNode(note) {
  const owner = state.media.is_owner;
  const node = el("aside", {
    class: `annotation annotation-${note.kind}`,
    "data-testid": "annotation",
    "data-kind": note.kind,
    "data-id": note.id,
    "data-time": note.time_s,
    "aria-label": `${note.kind === "image" ? "Image" : "Note"} at ${clock(note.time_s)}`,
  });
  const time = el("button", { type: "button", class: "segment-time", title: "Play from here", onclick: () => state.seek(note.time_s, true) }, clock(note.time_s));
  const label = el("span", { class: "annotation-label" }, note.kind === "image" ? "Image" : "Note");
  const head = el("div", { class: "annotation-head" }, label,
    owner ? el("button", { type: "button", class: "link-button", "data-testid": "annotation-edit", onclick: () => edit(note) }, "Edit") : null,
    owner ? el("button", { type: "button", class: "link-button danger", "data-testid": "annotation-delete", onclick: () => remove(note) }, "Delete") : null,
  );
  const body = el("div", { class: "annotation-body" });
  if (note.kind === "image" && note.image_url) {
    body.append(el("img", { src: note.image_url, alt: note.text || "Image", loading: "lazy", "data-testid": "annotation-image" }));
  }
  if (note.text) body.append(el("p", { class: "annotation-text", "data-testid": "annotation-text" }, note.text));
  node.append(time, head, body);
  return node;
}

function replaceNote(updated) {
  state.notes = state.notes.map((note) => (note.id === updated.id ? updated : note)).sort((a, b) => a.time_s - b.time_s);
  const node = noteNode(updated);
  state.nodes.get(updated.id)?.replaceWith(node);
  state.nodes.set(updated.id, node);
  place();
}

function edit(note) {
  const node = state.nodes.get(note.id);
  const area = el("textarea", { rows: "3", maxlength: note.kind === "image" ? "500" : "5000", "data-testid": "annotation-input",
    "aria-label": note.kind === "image" ? "Caption" : "Note" });
  area.value = note.text;
  const status = el("span", { class: "save-state muted", role: "status" });
  const form = el("form", { class: "annotation-editor" }, area,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", "data-testid": "annotation-save" }, "Save"),
      el("button", { type: "button", onclick: () => replaceNote(note) }, "Cancel"), status));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Saving…";
    status.className = "save-state muted";
    try {
      replaceNote(await api(`/api/media/${state.media.id}/annotations/${note.id}`, { method: "PATCH", body: { text: area.value } }));
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
      status.className = "save-state error";
    }
  });
  node.querySelector(".annotation-body").replaceChildren(form);
  area.focus();
}

async function remove(note) {
  const what = note.kind === "image" ? "this image" : "this note";
  if (!confirm(`Delete ${what} at ${clock(note.time_s)}?`)) return;
  try {
    await api(`/api/media/${state.media.id}/annotations/${note.id}`, { method: "DELETE" });
    state.notes = state.notes.filter((n) => n.id !== note.id);
    state.nodes.get(note.id)?.remove();
    state.nodes.delete(note.id);
  } catch (error) {
    showError(composerError(), error);
  }
}

// ---------------------------------------------------------------- adding (owner)

function composerError() {
  return document.getElementById("notes-error") || document.getElementById("action-error");
}

function mountComposer() {
  const mount = document.getElementById("notes-composer");
  if (!mount) return;
  mount.hidden = !state.media.is_owner;
  if (!state.media.is_owner || mount.dataset.ready) return;
  mount.dataset.ready = "true";
  const text = el("textarea", { id: "note-text", rows: "2", maxlength: "5000", placeholder: "Write a note, or a caption for an image…",
    "aria-label": "Note text", "data-testid": "note-text" });
  const at = el("span", { class: "hint", id: "note-time", "data-testid": "note-time" });
  const file = el("input", { type: "file", accept: IMAGE_TYPES.join(","), id: "note-image", class: "visually-hidden", "data-testid": "note-image" });
  const status = el("span", { class: "save-state muted", role: "status", id: "note-status" });
  const addNote = el("button", { type: "submit", class: "primary", "data-testid": "note-add" }, "Add note");
  const form = el("form", { class: "notes-composer", "aria-label": "Add a note or an image" },
    text,
    el("div", { class: "actions" }, addNote,
      el("label", { for: "note-image", class: "button", "data-testid": "note-image-button" }, "Add image…"),
      file, at, status),
    el("div", { id: "notes-error", class: "alert error", role: "alert", hidden: true }));
  mount.replaceChildren(form);

  const now = () => Math.max(0, player()?.currentTime || 0);
  const showTime = () => { at.textContent = `at ${clock(now())} (the player's position)`; };
  showTime();
  player()?.addEventListener("timeupdate", showTime);
  player()?.addEventListener("seeked", showTime);

  const busy = (on, message = "") => {
    addNote.disabled = file.disabled = on;
    status.textContent = message;
    status.className = "save-state muted";
  };
  const failed = (error) => {
    busy(false);
    showError(document.getElementById("notes-error"), error);
  };
  const added = (note) => {
    document.getElementById("notes-error").hidden = true;
    state.notes = [...state.notes, note].sort((a, b) => a.time_s - b.time_s);
    state.nodes.set(note.id, noteNode(note));
    place();
    text.value = "";
    busy(false, note.kind === "image" ? "Image added." : "Note added.");
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(true, "Saving…");
    try {
      added(await api(`/api/media/${state.media.id}/annotations`, { method: "POST", body: { time_s: now(), text: text.value } }));
    } catch (error) {
      failed(error);
    }
  });

  file.addEventListener("change", async () => {
    const picked = file.files[0];
    file.value = "";
    if (!picked) return;
    // The server refuses these too; saying so here saves an upload that could never count.
    if (!IMAGE_TYPES.includes(picked.type)) return failed(new Error(`${picked.name} is not a PNG, JPEG, WebP or GIF image.`));
    if (picked.size > MAX_IMAGE_BYTES) return failed(new Error(`${picked.name} is larger than 10 MiB.`));
    busy(true, `Uploading ${picked.name}…`);
    try {
      const upload = await api(`/api/media/${state.media.id}/annotations/images`, {
        method: "POST",
        body: { time_s: now(), content_type: picked.type, size: picked.size, caption: text.value },
      });
      const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: picked });
      if (!put.ok) throw new Error(`storage refused the image (HTTP ${put.status})`);
      added(await api(`/api/media/${state.media.id}/annotations/${upload.annotation.id}/confirm`, { method: "POST" }));
    } catch (error) {
      failed(error);
    }
  });
}
