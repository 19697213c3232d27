// Voice profiles in the web UI.
// On the transcript page: an automatically named speaker shows "voice match NN%" and an Undo button, and the
// owner can match the speakers against their voices now. On /voices: the profiles, to rename or delete.
import { api, el, initPage, showError, when } from "./app.js";

const $ = (id) => document.getElementById(id);

export function voicePercent(confidence) {
  return `${Math.round(Math.max(0, Math.min(1, confidence)) * 100)}%`;
}

// Adds the voice-match note and, for the owner, the Undo button to a speaker row of the transcript page.
// `onSpeakers(speakers)` gets the transcript's speakers after a change, to re-render with.
export function decorateSpeaker(row, speaker, { mediaId, isOwner, onSpeakers }) {
  if (speaker.name_source !== "voice") return row;
  const note = el("span", {
    class: "voice-match",
    "data-testid": "voice-match",
    title: "Named automatically: this voice matches one of your voice profiles",
  }, `voice match ${voicePercent(speaker.voice_confidence ?? 0)}`);
  row.querySelector(".speaker-name")?.after(" · ", note);
  if (!isOwner) return row;
  const state = el("span", { class: "save-state", role: "status" });
  const undo = el("button", {
    type: "button",
    class: "link-button",
    "data-testid": "voice-undo",
    "aria-label": `Undo the automatic name of ${speaker.label}`,
  }, "Undo");
  undo.addEventListener("click", async () => {
    undo.disabled = true;
    state.classList.remove("error");
    state.textContent = "Undoing…";
    try {
      const result = await api(`/api/media/${mediaId}/speakers/${encodeURIComponent(speaker.label)}/voice`, { method: "DELETE" });
      onSpeakers(result.speakers);
    } catch (error) {
      undo.disabled = false;
      state.textContent = error.message;
      state.classList.add("error");
    }
  });
  row.append(undo, state);
  return row;
}

// The owner's "Match my voices" button under the speakers list (for videos processed before a voice was named).
export function mountVoiceMatch(list, { mediaId, isOwner, onSpeakers }) {
  const previous = list.parentElement?.querySelector(".voice-tools");
  previous?.remove();
  if (!isOwner) return;
  const state = el("span", { class: "save-state", role: "status" });
  const button = el("button", { type: "button", "data-testid": "voice-match-now" }, "Match my voices");
  button.addEventListener("click", async () => {
    button.disabled = true;
    state.classList.remove("error");
    state.textContent = "Matching…";
    try {
      const result = await api(`/api/media/${mediaId}/speakers/voices`, { method: "POST" });
      const named = result.speakers.filter((s) => s.name_source === "voice").length;
      onSpeakers(result.speakers);
      const after = list.parentElement?.querySelector(".voice-tools .save-state");
      if (after) after.textContent = named ? `${named} recognised` : "No known voice found";
    } catch (error) {
      button.disabled = false;
      state.textContent = error.message;
      state.classList.add("error");
    }
  });
  list.after(el("p", { class: "voice-tools actions" }, button, el("a", { href: "/voices" }, "My voices"), state));
}

// ---------------------------------------------------------------- the /voices page

function profileRow(profile) {
  const name = el("span", { class: "voice-name", "data-testid": "voice-name" }, profile.name);
  const state = el("span", { class: "save-state", role: "status" });
  const rename = el("button", { type: "button", class: "link-button", "data-testid": "voice-rename" }, "Rename");
  const remove = el("button", { type: "button", class: "link-button danger-link", "data-testid": "voice-delete" }, "Delete");
  const learnt = profile.samples === 1 ? "learnt from 1 speaker" : `learnt from ${profile.samples} speakers`;
  const row = el("tr", { "data-voice-id": profile.id },
    el("td", {}, name),
    el("td", { class: "hide-narrow" }, learnt),
    el("td", { class: "num" }, String(profile.speakers)),
    el("td", { class: "hide-narrow" }, when(profile.updated_at)),
    el("td", {}, el("span", { class: "actions" }, rename, remove, state)));

  const fail = (error) => {
    state.textContent = error.message;
    state.classList.add("error");
  };
  rename.addEventListener("click", () => {
    const input = el("input", { type: "text", value: profile.name, maxlength: "80", "aria-label": `New name for ${profile.name}`, "data-testid": "voice-name-input" });
    const form = el("form", { class: "voice-form" }, input,
      el("button", { type: "submit", class: "primary", "data-testid": "voice-save" }, "Save"),
      el("button", { type: "button", onclick: () => row.replaceWith(profileRow(profile)) }, "Cancel"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      state.classList.remove("error");
      try {
        const updated = await api(`/api/voices/${profile.id}`, { method: "PATCH", body: { name: input.value.trim() } });
        row.replaceWith(profileRow(updated));
      } catch (error) {
        fail(error);
      }
    });
    name.replaceWith(form);
    input.focus();
    input.select();
  });
  remove.addEventListener("click", async () => {
    // Two steps instead of a blocking confirm(): the second click says what will happen.
    if (remove.dataset.armed !== "true") {
      remove.dataset.armed = "true";
      remove.textContent = "Really forget this voice?";
      return;
    }
    remove.disabled = true;
    try {
      await api(`/api/voices/${profile.id}`, { method: "DELETE" });
      row.remove();
      $("voices-empty").hidden = $("voice-list").children.length > 0;
      $("voice-table").hidden = $("voice-list").children.length === 0;
    } catch (error) {
      remove.disabled = false;
      fail(error);
    }
  });
  return row;
}

async function loadVoices() {
  try {
    const profiles = await api("/api/voices");
    $("voice-list").replaceChildren(...profiles.map(profileRow));
    $("voices-empty").hidden = profiles.length > 0;
    $("voice-table").hidden = profiles.length === 0;
  } catch (error) {
    showError($("voices-error"), error);
  } finally {
    $("voices-loading").textContent = "";
  }
}

if (document.body.dataset.page === "voices") {
  if (initPage()) loadVoices();
  else {
    $("voice-table").hidden = true;
    $("voices-loading").textContent = "";
  }
}
