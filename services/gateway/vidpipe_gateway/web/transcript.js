// Transcript page: the video with a word-timed transcript; owners rename speakers, correct text, share,
// re-summarise and delete. The media id comes from the path: /videos/{media_id}.
import {
  api, ApiError, bytes, clock, createTracker, el, followTask, initPage, showError, TERMINAL, when,
} from "./app.js";
import { mountNotes } from "./annotations.js";
import { mountFind } from "./search.js";
import { isAudioOnly, useAudioPlayer } from "./audioplayer.js";
import { decorateSpeaker, mountVoiceMatch } from "./voices.js";

const $ = (id) => document.getElementById(id);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EXPORTS = ["srt", "vtt", "txt", "docx", "json"];
const PALETTE = ["#2458d6", "#c2410c", "#15803d", "#9333ea", "#be123c", "#0e7490", "#a16207", "#4d7c0f"];

const mediaId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
const page = {
  media: null,
  names: new Map(), // speaker label -> display name (or the label itself)
  colours: new Map(),
  segments: [], // sorted by start
  segmentNodes: new Map(), // idx -> element
  words: [], // [{start, end, node}] sorted by start, for the playback highlight
  currentSegment: null,
  currentWord: null,
};

// ---------------------------------------------------------------- loading

async function load() {
  $("loading").hidden = false;
  try {
    if (!UUID.test(mediaId)) throw new ApiError(404, "not_found", "no such media");
    const media = await api(`/api/media/${mediaId}`);
    render(media);
    $("media").hidden = false;
  } catch (error) {
    if (error.status === 404 || error.status === 401) {
      $("not-found").hidden = false;
      $("signed-out").hidden = signedIn;
      document.title = "Not found · vidpipe";
    } else {
      showError($("page-error"), error);
    }
  } finally {
    $("loading").hidden = true;
  }
}

function render(media) {
  page.media = media;
  page.speakerList = (media.transcript?.speakers || []).map((s) => s.label);
  document.body.dataset.owner = String(Boolean(media.is_owner));
  for (const node of document.querySelectorAll(".owner-only")) node.hidden = !media.is_owner;
  renderHead(media);
  renderPlayer(media);
  renderModeration(media);
  renderTask(media);
  renderSummary(media.summary);
  renderSpeakers(media.transcript);
  renderTranscript(media.transcript);
  mountNotes(media, { seek }); // notes and images inline (annotations.js)
  mountFind({ seek }); // find in transcript, #t= jumps (search.js)
  renderShare(media);
  if (media.is_owner) loadHistory();
}

function renderHead(media) {
  const title = media.summary?.title || media.filename;
  $("title").textContent = title;
  document.title = `${title} · vidpipe`;
  const transcript = media.transcript;
  const facts = [
    media.summary?.title ? media.filename : null,
    media.duration_s != null ? clock(media.duration_s) : null,
    media.size_bytes != null ? bytes(media.size_bytes) : null,
    `uploaded ${when(media.created_at)}`,
    transcript?.language ? `language: ${transcript.language}` : null,
    transcript ? `${transcript.engine} ${transcript.model}` : null,
  ];
  $("meta").replaceChildren(...facts.filter(Boolean).map((fact) => el("span", {}, fact)));
  $("visibility").value = media.visibility;
  for (const format of EXPORTS) $(`download-${format}`).disabled = !transcript;
}

function renderPlayer(media) {
  if (isAudioOnly(media) && $("player").tagName === "VIDEO") {
    useAudioPlayer($("player"));
    wirePlayer(); // the listeners went with the replaced <video>
  }
  const player = $("player");
  if (media.video_url) {
    if (player.getAttribute("src") !== media.video_url && !player.currentSrc) player.src = media.video_url;
    player.hidden = false;
    $("no-video").hidden = true;
  } else {
    player.hidden = true;
    // The gateway plays a video moderation has not allowed for its owner only: say so to everyone else.
    const withheld = !media.is_owner && media.moderation?.verdict !== "allowed";
    $("no-video").textContent = withheld
      ? "Only the owner can play this video: moderation has not allowed it (yet)."
      : "The video is not available for playback.";
    $("no-video").hidden = false;
  }
}

function renderModeration(media) {
  const box = $("moderation");
  const parts = [];
  if (media.moderation) {
    const verdict = media.moderation.verdict;
    parts.push(
      el("span", { class: "hint" }, "Moderation"),
      el("span", { class: `badge verdict-${verdict.toLowerCase()}`, id: "moderation-verdict", title: media.moderation.reason || "" }, verdict),
    );
  }
  if (media.task?.flagged) {
    parts.push(el("span", { class: "badge status-flagged", id: "flagged", "data-testid": "flagged" }, "flagged for review"));
  }
  if (media.moderation?.reason) parts.push(el("span", { class: "hint" }, media.moderation.reason));
  box.replaceChildren(...parts);
}

let following = null;

function renderTask(media) {
  const task = media.task;
  const card = $("task-card");
  if (!task || task.status === "COMPLETED") {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  const tracker = createTracker($("tracker"));
  tracker.update(task);
  // Only the owner may follow the task live (the status routes are owner-only); readers see a snapshot.
  if (media.is_owner && !TERMINAL.has(task.status) && following !== task.task_id) {
    following = task.task_id;
    followTask(task.task_id, tracker.update)
      .then(() => load())
      .catch((error) => showError($("task-error"), error));
  }
}

// ---------------------------------------------------------------- summary

function renderSummary(summary) {
  const text = $("summary-text");
  text.textContent = summary ? summary.summary : "No summary yet.";
  text.classList.toggle("muted", !summary);
  $("keywords").replaceChildren(...(summary?.keywords || []).map((word) => el("li", { class: "chip" }, word)));
  const chapters = summary?.chapters || [];
  $("chapters-heading").hidden = chapters.length === 0;
  $("chapters").replaceChildren(
    ...chapters.map((chapter) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "chapter", "data-start": chapter.start_s, onclick: () => seek(chapter.start_s, true) },
          el("span", { class: "time" }, clock(chapter.start_s)),
          el("span", {}, chapter.title),
        ),
      ),
    ),
  );
}

async function resummarize() {
  const button = $("resummarize");
  button.disabled = true;
  const box = $("summary-tracker");
  try {
    const started = await api(`/api/media/${mediaId}/summarize`, { method: "POST" });
    const tracker = createTracker(box);
    tracker.update({ status: started.status, progress_percent: 0, stages: [], flagged: false, error: null });
    const final = await followTask(started.task_id, tracker.update);
    if (final.status === "COMPLETED") {
      const media = await api(`/api/media/${mediaId}`);
      page.media = media;
      renderHead(media);
      renderSummary(media.summary);
      box.hidden = true;
    }
  } catch (error) {
    box.hidden = false;
    showError(box, error);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- speakers

function speakerName(label) {
  if (!label) return "Unknown speaker";
  return page.names.get(label) || label;
}

function speakerColour(label) {
  if (!page.colours.has(label)) page.colours.set(label, PALETTE[page.colours.size % PALETTE.length]);
  return page.colours.get(label);
}

function renderSpeakers(transcript) {
  page.names = new Map((transcript?.speakers || []).map((s) => [s.label, s.name || s.label]));
  const list = $("speakers");
  const speakers = transcript?.speakers || [];
  if (!speakers.length) {
    list.replaceChildren(el("li", { class: "muted" }, transcript ? "No speakers detected." : "No transcript yet."));
    return;
  }
  list.replaceChildren(...speakers.map(speakerRow));
  mountVoiceMatch(list, voiceContext());
}

// Voice profiles (voices.js): automatic names show their match and can be undone.
function voiceContext() {
  const onSpeakers = (speakers) => {
    page.media.transcript.speakers = speakers;
    renderSpeakers(page.media.transcript);
    refreshSpeakerNames();
  };
  return { mediaId, isOwner: Boolean(page.media?.is_owner), onSpeakers };
}

function speakerRow(speaker) {
  const label = speaker.label;
  const name = el("span", { class: "speaker-name", "data-testid": "speaker-name" }, speakerName(label));
  const tag = el("span", { class: "label" }, page.names.get(label) !== label ? label : "");
  const rename = el("button", { type: "button", class: "link-button owner-only", "data-testid": "speaker-rename", hidden: !page.media.is_owner }, "Rename");
  const row = el("li", { class: "speaker-row", "data-speaker": label },
    el("span", { class: "swatch", style: `background:${speakerColour(label)}` }), name, tag, rename);
  rename.addEventListener("click", () => {
    const input = el("input", { type: "text", value: speakerName(label) === label ? "" : speakerName(label), placeholder: label,
      "aria-label": `Name for ${label}`, "data-testid": "speaker-name-input", maxlength: "80" });
    const state = el("span", { class: "save-state", role: "status" });
    const form = el("form", { "data-testid": "speaker-form" }, input,
      el("button", { type: "submit", class: "primary", "data-testid": "speaker-save" }, "Save"),
      el("button", { type: "button", onclick: () => row.replaceWith(speakerRow(speaker)) }, "Cancel"), state);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      state.textContent = "Saving…";
      state.classList.remove("error");
      try {
        const value = input.value.trim();
        const result = await api(`/api/media/${mediaId}/speakers`, { method: "PATCH", body: { names: { [label]: value || null } } });
        page.media.transcript.speakers = result.speakers;
        renderSpeakers(page.media.transcript);
        refreshSpeakerNames();
      } catch (error) {
        state.textContent = error.message;
        state.classList.add("error");
      }
    });
    row.replaceChildren(el("span", { class: "swatch", style: `background:${speakerColour(label)}` }), form);
    input.focus();
    input.select();
  });
  return decorateSpeaker(row, speaker, voiceContext());
}

function refreshSpeakerNames() {
  for (const node of document.querySelectorAll("span.segment-speaker")) node.textContent = speakerName(node.dataset.speaker);
  for (const option of document.querySelectorAll(".segment-speaker-select option")) option.textContent = speakerName(option.value);
  if (page.media.is_owner) loadHistory();
}

// ---------------------------------------------------------------- transcript

function renderTranscript(transcript) {
  const container = $("transcript");
  page.segments = [...(transcript?.segments || [])].sort((a, b) => a.start - b.start);
  page.segmentNodes.clear();
  container.replaceChildren(...page.segments.map(segmentNode));
  $("no-transcript").hidden = page.segments.length > 0;
  $("editor-toolbar").hidden = page.segments.length === 0;
  markMerged();
  indexWords();
}

function segmentNode(segment) {
  const owner = page.media.is_owner;
  const node = el("div", {
    class: "segment",
    "data-idx": segment.idx,
    "data-start": segment.start,
    "data-end": segment.end,
    "data-speaker": segment.speaker || "",
    "data-edited": String(segment.edited),
    "data-testid": "segment",
  });
  const time = el("button", { type: "button", class: "segment-time", title: "Play from here", onclick: () => seek(segment.start, true) }, clock(segment.start));
  const head = el("div", { class: "segment-head" },
    el("span", { class: "swatch", style: `background:${speakerColour(segment.speaker)}` }),
    el("span", { class: "segment-speaker", "data-speaker": segment.speaker || "" }, speakerName(segment.speaker)),
    owner && page.speakerList.length > 1 ? speakerSelect(segment) : null,
    segment.edited ? el("span", { class: "edited-badge", "data-testid": "edited", title: "Corrected by hand" }, "edited") : null,
    owner ? el("button", { type: "button", class: "segment-edit", "data-testid": "segment-edit", "aria-label": `Edit the passage at ${clock(segment.start)}`, onclick: () => startEdit(segment.idx) }, "Edit") : null,
  );
  const text = el("p", { class: "segment-text", "data-testid": "segment-text" });
  // Word timings describe what the model heard; after a correction they no longer match the text, so an
  // edited segment is shown (and highlighted) as a whole.
  if (segment.words?.length && !segment.edited) {
    segment.words.forEach((word, i) => {
      if (i > 0) text.append(" ");
      text.append(el("span", { class: "word", "data-start": word.start, "data-end": word.end, "data-testid": "word" }, word.word.trim()));
    });
  } else {
    text.textContent = segment.text;
  }
  text.addEventListener("click", (event) => {
    const word = event.target.closest(".word");
    if (word) seek(Number(word.dataset.start), false);
    else if (!node.classList.contains("editing")) seek(segment.start, false);
  });
  if (owner) text.addEventListener("dblclick", () => startEdit(segment.idx));
  node.append(time, head, text);
  page.segmentNodes.set(segment.idx, node);
  return node;
}

function indexWords() {
  page.words = [...document.querySelectorAll("#transcript .word")]
    .map((node) => ({ start: Number(node.dataset.start), end: Number(node.dataset.end), node }))
    .sort((a, b) => a.start - b.start);
  page.currentSegment = null;
  page.currentWord = null;
}

function startEdit(idx) {
  const node = page.segmentNodes.get(idx);
  if (!node || node.classList.contains("editing")) return;
  const segment = page.segments.find((s) => s.idx === idx);
  const text = node.querySelector(".segment-text");
  const area = el("textarea", { "aria-label": `Text of the passage at ${clock(segment.start)}`, "data-testid": "segment-input", rows: "3" });
  area.value = segment.text;
  const state = el("span", { class: "save-state muted", role: "status" }, "Enter saves · Shift+Enter new line · Esc cancels");
  const editor = el("div", { class: "segment-editor" }, area, state);
  node.classList.add("editing");
  text.replaceWith(editor);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);

  let done = false;
  const finish = (updated) => {
    done = true;
    const index = page.segments.findIndex((s) => s.idx === idx);
    page.segments[index] = updated;
    const transcriptSegments = page.media.transcript.segments;
    transcriptSegments[transcriptSegments.findIndex((s) => s.idx === idx)] = updated;
    node.replaceWith(segmentNode(updated));
    markMerged();
    indexWords();
    if (updated !== segment) loadHistory();
  };
  const save = async () => {
    if (done) return;
    const value = area.value.trim();
    if (!value || value === segment.text) {
      finish(segment);
      return;
    }
    done = true; // a blur while the request runs must not send it twice
    area.readOnly = true;
    state.textContent = "Saving…";
    state.className = "save-state muted";
    try {
      const updated = await api(`/api/media/${mediaId}/segments/${idx}`, { method: "PATCH", body: { text: value } });
      finish(updated);
    } catch (error) {
      done = false;
      area.readOnly = false;
      state.textContent = `Not saved: ${error.message}`;
      state.className = "save-state error";
      area.focus();
    }
  };
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      save();
    } else if (event.key === "Escape") {
      event.preventDefault();
      finish(segment);
    }
  });
  area.addEventListener("blur", () => {
    // Leave a failed save on screen (with its message) instead of retrying on every focus change.
    if (!state.classList.contains("error")) save();
  });
}

// ---------------------------------------------------------------- playback sync

function seek(seconds, play) {
  const player = $("player");
  if (player.hidden) return;
  player.currentTime = Math.max(0, seconds);
  highlight(seconds);
  if (play) player.play().catch(() => {}); // autoplay rules may refuse; the seek still happened
}

// Last item whose start <= t (items sorted by start), or -1.
function lastStartingBefore(items, t) {
  let low = 0;
  let high = items.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (items[mid].start <= t) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

function highlight(t) {
  const s = lastStartingBefore(page.segments, t);
  const segment = s >= 0 && t < page.segments[s].end + 0.25 ? page.segmentNodes.get(page.segments[s].idx) : null;
  if (segment !== page.currentSegment) {
    page.currentSegment?.classList.remove("current");
    page.currentSegment?.removeAttribute("aria-current");
    segment?.classList.add("current");
    segment?.setAttribute("aria-current", "true");
    page.currentSegment = segment;
    const player = $("player");
    if (segment && $("follow").checked && !player.paused && !document.querySelector(".segment.editing")) {
      segment.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }
  const w = lastStartingBefore(page.words, t);
  const word = w >= 0 && t < page.words[w].end + 0.15 ? page.words[w].node : null;
  if (word !== page.currentWord) {
    page.currentWord?.classList.remove("current");
    word?.classList.add("current");
    page.currentWord = word;
  }
}

function wirePlayer() {
  const player = $("player");
  let frame = null;
  // timeupdate fires only ~4 times a second; while playing, follow every animation frame so words light up
  // as they are spoken.
  const tick = () => {
    highlight(player.currentTime);
    frame = player.paused ? null : requestAnimationFrame(tick);
  };
  player.addEventListener("timeupdate", () => highlight(player.currentTime));
  player.addEventListener("seeked", () => highlight(player.currentTime));
  player.addEventListener("play", () => {
    if (frame === null) frame = requestAnimationFrame(tick);
  });
}

// ---------------------------------------------------------------- header actions

async function download(format) {
  const button = $(`download-${format}`);
  button.disabled = true;
  try {
    const response = await api(`/api/media/${mediaId}/transcript.${format}`, { raw: true });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const fallback = `${page.media.filename.replace(/\.[^.]+$/, "") || "transcript"}.${format}`;
    const link = el("a", { href: URL.createObjectURL(blob), download: match ? decodeURIComponent(match[1]) : fallback });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    showError($("action-error"), error);
  } finally {
    button.disabled = false;
  }
}

async function changeVisibility() {
  const select = $("visibility");
  const previous = page.media.visibility;
  const state = $("action-state");
  state.textContent = "Saving…";
  select.disabled = true;
  try {
    const media = await api(`/api/media/${mediaId}`, { method: "PATCH", body: { visibility: select.value } });
    page.media.visibility = media.visibility;
    select.value = media.visibility;
    renderShare(media);
    loadHistory();
    state.textContent = `Visibility: ${media.visibility}`;
    $("action-error").hidden = true;
  } catch (error) {
    select.value = previous;
    state.textContent = "";
    showError($("action-error"), error);
  } finally {
    select.disabled = false;
  }
}

async function deleteMedia() {
  if (!confirm(`Delete “${page.media.filename}” with its transcript, its summary and the voices you named in it? This cannot be undone.`)) return;
  try {
    await api(`/api/media/${mediaId}`, { method: "DELETE" });
    location.assign("/videos");
  } catch (error) {
    showError($("action-error"), error);
  }
}

// Public videos can be read without signing in, so the page loads either way; the sign-in hint is shown
// only when a signed-out visitor hits a video that is not public.
const signedIn = initPage();
$("signed-out").hidden = true;
{
  wirePlayer();
  for (const format of EXPORTS) $(`download-${format}`).addEventListener("click", () => download(format));
  $("visibility").addEventListener("change", changeVisibility);
  $("delete-media").addEventListener("click", deleteMedia);
  $("resummarize").addEventListener("click", resummarize);
  wireEditor();
  load();
}

// ---------------------------------------------------------------- editor: speakers per passage, merged view

// A small "move to" menu beside the name (the name itself stays plain text, as readers see it).
function speakerSelect(segment) {
  const select = el("select", {
    class: "segment-speaker-select",
    "data-testid": "segment-speaker-select",
    "aria-label": `Move the passage at ${clock(segment.start)} to another speaker`,
    title: "Move this passage to another speaker",
  });
  select.append(el("option", { value: "" }, "Move to…"));
  for (const label of page.speakerList) {
    if (label !== segment.speaker) select.append(el("option", { value: label }, speakerName(label)));
  }
  select.value = "";
  select.addEventListener("change", () => {
    if (select.value) reassign(segment, select);
  });
  return select;
}

async function reassign(segment, select) {
  const speaker = select.value;
  select.disabled = true;
  try {
    const updated = await api(`/api/media/${mediaId}/segments/${segment.idx}/speaker`, { method: "PATCH", body: { speaker } });
    replaceSegment(updated);
    $("action-state").textContent = `Passage at ${clock(updated.start)} moved to ${speakerName(updated.speaker)}`;
    loadHistory();
  } catch (error) {
    select.value = "";
    select.disabled = false;
    showError($("action-error"), error);
  }
}

function replaceSegment(updated) {
  const index = page.segments.findIndex((s) => s.idx === updated.idx);
  page.segments[index] = updated;
  const all = page.media.transcript.segments;
  all[all.findIndex((s) => s.idx === updated.idx)] = updated;
  page.segmentNodes.get(updated.idx)?.replaceWith(segmentNode(updated));
  markMerged();
  indexWords();
}

// Display only: a passage that continues the previous speaker hides its name and time, so one speaker's turn
// reads as one block. Every passage stays its own row in the data (and stays editable on its own).
function markMerged() {
  const merge = $("merge-speakers").checked;
  $("transcript").classList.toggle("merge", merge);
  let previous;
  for (const segment of page.segments) {
    const node = page.segmentNodes.get(segment.idx);
    node?.classList.toggle("merged", merge && previous !== undefined && segment.speaker === previous);
    previous = segment.speaker;
  }
}

// ---------------------------------------------------------------- editor: copy, share, speed

function stamp(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, "0");
  const ss = String(total % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// "Name [mm:ss]: text" per passage; with the merged view on, one line per speaker turn, as shown.
export function transcriptLines() {
  const merge = $("merge-speakers").checked;
  const lines = [];
  let last = null;
  for (const segment of page.segments) {
    if (merge && last && last.speaker === segment.speaker) {
      last.text += ` ${segment.text}`;
      continue;
    }
    last = { speaker: segment.speaker, start: segment.start, text: segment.text };
    lines.push(last);
  }
  return lines.map((line) => `${speakerName(line.speaker)} [${stamp(line.start)}]: ${line.text}`).join("\n");
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission, insecure origin): the old way still works from a click.
    const area = el("textarea", { class: "visually-hidden", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

async function copyAll() {
  const text = transcriptLines();
  const ok = await copyText(text);
  $("action-state").textContent = ok ? `Copied ${text.split("\n").length} lines` : "Copying was refused by the browser";
}

function shareUrl() {
  return `${location.origin}/videos/${mediaId}`;
}

function renderShare(media) {
  const isPublic = media.visibility === "public";
  $("share-link").hidden = !isPublic;
  $("share-url").hidden = true;
  $("friends-hint").hidden = !(media.is_owner && media.visibility === "friends");
}

async function share() {
  const url = shareUrl();
  const ok = await copyText(url);
  const shown = $("share-url");
  shown.hidden = false;
  shown.textContent = ok ? `Link copied: ${url}` : url;
}

// ---------------------------------------------------------------- editor: history with undo

const TARGETS = { segment_text: "Text", segment_speaker: "Speaker of passage", speaker_name: "Name of", visibility: "Visibility" };

function describeEdit(edit) {
  const quote = (value) => (value === null || value === undefined || value === "" ? "(none)" : `“${value}”`);
  let subject;
  if (edit.target === "segment_text" || edit.target === "segment_speaker") {
    const segment = page.segments.find((s) => String(s.idx) === edit.target_key);
    subject = `${TARGETS[edit.target]} at ${segment ? clock(segment.start) : `#${edit.target_key}`}`;
  } else if (edit.target === "speaker_name") {
    subject = `Name of ${edit.target_key}`;
  } else {
    subject = TARGETS[edit.target] || edit.target;
  }
  const value = (v) => (edit.target === "segment_speaker" && v ? speakerName(v) : v);
  return `${edit.undo_of ? "Undo: " : ""}${subject}: ${quote(value(edit.old_value))} → ${quote(value(edit.new_value))}`;
}

let historyLoads = 0; // several changes in a row each reload the history: only the latest answer is drawn

async function loadHistory() {
  if (!page.media?.is_owner) return;
  const list = $("history");
  const mine = ++historyLoads;
  try {
    const edits = await api(`/api/media/${mediaId}/edits`);
    if (mine !== historyLoads) return;
    const undone = new Set(edits.filter((e) => e.undo_of !== null && e.undo_of !== undefined).map((e) => e.undo_of));
    $("history-empty").hidden = edits.length > 0;
    list.replaceChildren(...edits.slice().reverse().map((edit) => {
      const isUndone = undone.has(edit.id);
      return el("li", { "data-edit-id": edit.id, "data-target": edit.target, "data-undone": String(isUndone), "data-testid": "history-item" },
        el("span", { class: "history-what" }, describeEdit(edit)),
        el("button", {
          type: "button",
          "data-testid": "history-undo",
          disabled: isUndone,
          title: isUndone ? "Already undone" : "Restore the value before this edit",
          onclick: () => undo(edit.id),
        }, isUndone ? "Undone" : "Undo"),
        el("span", { class: "history-when" }, `${edit.editor || "someone"} · ${when(edit.created_at)}`),
      );
    }));
  } catch (error) {
    showError($("action-error"), error);
  }
}

async function undo(editId) {
  try {
    await api(`/api/media/${mediaId}/edits/${editId}/undo`, { method: "POST" });
    const media = await api(`/api/media/${mediaId}`);
    render(media); // text, speakers, names and visibility may all have changed
    $("action-state").textContent = "Undone";
  } catch (error) {
    showError($("action-error"), error);
  }
}

// ---------------------------------------------------------------- editor: keyboard

function typingIn(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}

function skip(seconds) {
  const player = $("player");
  if (player.hidden) return;
  const end = Number.isFinite(player.duration) ? player.duration : Infinity;
  player.currentTime = Math.min(end, Math.max(0, player.currentTime + seconds));
  highlight(player.currentTime);
}

function togglePlay() {
  const player = $("player");
  if (player.hidden) return;
  if (player.paused) player.play().catch(() => {});
  else player.pause();
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (typingIn(event.target)) return;
  const help = $("help-dialog");
  if (help.open && event.key !== "?") return;
  const onVideo = event.target === $("player"); // the player's own controls already answer space
  let handled = true;
  if ((event.key === " " || event.key === "k") && !onVideo) togglePlay();
  else if (event.key === "j" || (event.key === "ArrowLeft" && event.shiftKey)) skip(-5);
  else if (event.key === "l" || (event.key === "ArrowRight" && event.shiftKey)) skip(5);
  else if (event.key === "?") (help.open ? help.close() : help.showModal());
  else handled = false;
  if (handled) event.preventDefault();
}

// Runs from the start-up block above, before this module's later top-level constants exist: keep its own.
function wireEditor() {
  const SPEED_KEY = "vidpipe.speed";
  const MERGE_KEY = "vidpipe.merge";
  const player = $("player");
  const speed = $("speed");
  speed.value = localStorage.getItem(SPEED_KEY) || "1";
  player.playbackRate = Number(speed.value);
  // A new source resets the rate to 1: set it again once the video is loaded.
  player.addEventListener("loadedmetadata", () => { player.playbackRate = Number(speed.value); });
  speed.addEventListener("change", () => {
    player.playbackRate = Number(speed.value);
    localStorage.setItem(SPEED_KEY, speed.value);
  });
  const merge = $("merge-speakers");
  merge.checked = localStorage.getItem(MERGE_KEY) === "1";
  merge.addEventListener("change", () => {
    localStorage.setItem(MERGE_KEY, merge.checked ? "1" : "0");
    markMerged();
  });
  $("copy-all").addEventListener("click", copyAll);
  $("share-link").addEventListener("click", share);
  $("shortcuts-help").addEventListener("click", () => $("help-dialog").showModal());
  $("help-close").addEventListener("click", () => $("help-dialog").close());
  document.addEventListener("keydown", onKey);
}
