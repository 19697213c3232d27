// Shared by every page: sign-in (token from the URL fragment or the header box), API calls, the status tracker.
// Plain ES modules served as they are: no build step, no dependencies.

const TOKEN_KEY = "vidpipe.token";
export const TERMINAL = new Set(["COMPLETED", "FAILED", "REJECTED"]);
export const STAGE_NAMES = { moderate: "Moderate", transcribe: "Transcribe", summarize: "Summarise" };
// The task's own status words, in the order a successful task passes them (the tracker shows where it is).
const STATUS_STEPS = ["UPLOAD_COMPLETE", "PROCESSING", "COMPLETED"];
const POLL_MS = 5000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A token in `#token=...` (how `vidpipe dev` signs the browser in) is moved to localStorage and removed from
// the address bar so it does not end up in bookmarks or screenshots. A link can carry anyone's token: if it
// would switch this browser to another account, the user is asked first (otherwise a stranger's link could
// quietly sign them in as the stranger, and their next upload would land in the stranger's account).
// Returns whether a token was adopted.
function adoptTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = (params.get("token") || "").trim();
  if (!token) return false;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  const current = getToken();
  if (current && tokenSubject(current) !== tokenSubject(token)) {
    const question = `This link signs you in as "${tokenSubject(token)}" instead of "${tokenSubject(current)}". Switch accounts?`;
    if (!window.confirm(question)) return false;
  }
  localStorage.setItem(TOKEN_KEY, token);
  return true;
}

// A sign-in link pasted into a tab that is already open changes only the fragment: no navigation happens,
// so the page listens for it and reloads signed in (the reload reads the new token like a first visit).
function watchTokenLinks() {
  window.addEventListener("hashchange", () => {
    if (!new URLSearchParams(location.hash.slice(1)).get("token")) return;
    if (adoptTokenFromFragment()) location.reload();
  });
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

function tokenSubject(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
    return claims.email || claims.name || claims.sub || "signed in";
  } catch {
    return "signed in";
  }
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "network_error", `The server could not be reached (${error.message}).`);
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || "The request failed.";
  try {
    const body = await response.json();
    code = body.code || code;
    message = body.message || body.detail || message;
  } catch {
    // not JSON (a proxy's error page, say): keep the HTTP status
  }
  if (response.status === 401) message = `${message} — sign in again: paste a fresh token at the top of the page.`;
  return new ApiError(response.status, code, message);
}

// ---------------------------------------------------------------- small DOM helpers

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function showError(container, error) {
  container.hidden = false;
  container.replaceChildren(
    el("strong", { class: "error-code" }, error.code ? `${error.code}: ` : ""),
    el("span", { class: "error-message" }, error.message || String(error)),
  );
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function when(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function statusBadge(status) {
  const label = (status || "NEW").replace(/_/g, " ").toLowerCase();
  return el("span", { class: `badge status-${(status || "new").toLowerCase()}`, "data-status": status || "" }, label);
}

// ---------------------------------------------------------------- header: sign-in box

function renderAuth() {
  const box = document.getElementById("auth");
  if (!box) return;
  const token = getToken();
  if (token) {
    box.replaceChildren(
      el("span", { class: "who", "data-testid": "signed-in-as" }, tokenSubject(token)),
      el("button", {
        type: "button",
        class: "link-button",
        id: "sign-out",
        onclick: () => {
          localStorage.removeItem(TOKEN_KEY);
          location.reload();
        },
      }, "Sign out"),
    );
    return;
  }
  const input = el("input", {
    id: "token-input",
    type: "password",
    autocomplete: "off",
    placeholder: "Paste your token",
    "aria-label": "Access token",
    required: true,
  });
  const form = el("form", { id: "token-form", class: "token-form" }, input, el("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim().replace(/^Bearer\s+/i, "");
    if (!value) return;
    localStorage.setItem(TOKEN_KEY, value);
    location.reload();
  });
  box.replaceChildren(form);
}

function markCurrentNav() {
  for (const link of document.querySelectorAll(".site-nav a")) {
    const here = link.getAttribute("href") === "/" ? location.pathname === "/" : location.pathname.startsWith(link.getAttribute("href"));
    if (here) link.setAttribute("aria-current", "page");
  }
}

// Every page calls this first. Returns whether a token is present (pages show a hint and stop if not).
export function initPage() {
  adoptTokenFromFragment();
  watchTokenLinks();
  renderAuth();
  markCurrentNav();
  const signedIn = Boolean(getToken());
  const hint = document.getElementById("signed-out");
  if (hint) hint.hidden = signedIn;
  return signedIn;
}

// ---------------------------------------------------------------- task status: tracker and follower

// Builds the tracker's markup inside `container` once; `update(status)` then fills it in place so that
// screen readers and focus are not disturbed by a full re-render every event.
export function createTracker(container) {
  const overallBar = el("progress", { id: "overall-progress", max: "100", value: "0", "aria-label": "Overall progress" });
  const overallText = el("span", { id: "overall-progress-text", class: "muted" }, "0%");
  const badge = el("span", { id: "task-status" }, statusBadge("PENDING"));
  const flagged = el("span", { id: "task-flagged", class: "badge status-flagged", hidden: true }, "flagged for review");
  const stages = el("ol", { class: "stages", id: "stages" });
  const error = el("div", { id: "task-error", class: "alert error", role: "alert", hidden: true });
  const done = el("p", { id: "task-done", hidden: true });
  const steps = el("ol", { class: "status-steps", id: "status-steps", "data-testid": "status-steps", "aria-label": "Task status" },
    ...STATUS_STEPS.map((word) => el("li", { "data-step": word }, word)));
  container.replaceChildren(
    el("div", { class: "tracker-head" }, el("span", { class: "label" }, "Status"), badge, flagged),
    steps,
    el("div", { class: "overall" }, overallBar, overallText),
    stages,
    error,
    done,
  );
  container.hidden = false;
  const rows = new Map();

  function stageRow(stage) {
    if (rows.has(stage)) return rows.get(stage);
    const row = {
      li: el("li", { class: "stage", "data-stage": stage, "data-state": "waiting" }),
      state: el("span", { class: "stage-state badge" }, "waiting"),
      bar: el("progress", { max: "1", value: "0", "aria-label": `${STAGE_NAMES[stage] || stage} progress` }),
      attempts: el("span", { class: "stage-attempts muted" }),
      detail: el("span", { class: "stage-detail muted" }),
      seconds: el("span", { class: "stage-seconds muted" }),
      eta: el("span", { class: "stage-eta muted", "data-testid": "stage-eta" }),
    };
    row.li.append(
      el("span", { class: "stage-name" }, STAGE_NAMES[stage] || stage),
      row.state,
      row.bar,
      el("span", { class: "stage-meta" }, row.attempts, row.seconds, row.eta),
      row.detail,
    );
    stages.append(row.li);
    rows.set(stage, row);
    return row;
  }

  function update(status) {
    container.dataset.status = status.status;
    badge.replaceChildren(statusBadge(status.status));
    flagged.hidden = !status.flagged;
    overallBar.value = status.progress_percent ?? 0;
    overallText.textContent = `${Math.round(status.progress_percent ?? 0)}%`;
    for (const stage of status.stages || []) {
      const row = stageRow(stage.stage);
      row.li.dataset.state = stage.state;
      row.li.classList.toggle("current", stage.stage === status.current_stage && !TERMINAL.has(status.status));
      row.state.textContent = stage.state;
      row.state.className = `stage-state badge state-${stage.state}`;
      row.bar.value = stage.progress ?? 0;
      row.attempts.textContent = stage.attempts > 1 ? `attempt ${stage.attempts}` : "";
      row.seconds.textContent = stage.seconds != null ? `${stage.seconds.toFixed(1)} s` : "";
      row.eta.textContent = stage.state === "running" && stage.eta_s != null ? etaText(stage.eta_s) : "";
      row.detail.textContent = stage.detail || "";
    }
    updateSteps(steps, status.status);
    if (status.error && (status.status === "FAILED" || status.status === "REJECTED")) {
      showFailure(error, status);
    } else {
      error.hidden = true;
    }
  }

  return { update, done };
}

export function etaText(seconds) {
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

// UPLOAD_COMPLETE → PROCESSING → COMPLETED: earlier words are done, the task's own word is current; a failed
// or rejected task shows its word in place of COMPLETED.
function updateSteps(steps, status) {
  const ended = status === "FAILED" || status === "REJECTED";
  const at = ended ? 2 : STATUS_STEPS.indexOf(status);
  steps.querySelectorAll("li").forEach((li, i) => {
    const word = i === 2 && ended ? status : STATUS_STEPS[i];
    li.textContent = word;
    li.dataset.step = word;
    li.className = i < at || (i === at && status === "COMPLETED") ? "done" : i === at ? (ended ? "failed" : "current") : "";
    if (i === at) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  });
}

// What went wrong in sentences (the server's `reason`), with the stable code small beside it for support.
export function showFailure(container, status) {
  container.hidden = false;
  container.replaceChildren(
    el("span", { class: "error-message", "data-testid": "failure-reason" }, status.reason || status.error?.message || "Processing failed."),
    status.error?.code ? el("span", { class: "error-code-hint" }, ` (${status.error.code})`) : null,
  );
}

// A small status line while the server cannot be reached; null removes it.
function connectionNotice(text) {
  let note = document.getElementById("connection-notice");
  if (!text) {
    if (note) note.remove();
    return;
  }
  if (!note) {
    note = el("div", { id: "connection-notice", role: "status", class: "connection-notice" });
    document.body.append(note);
  }
  note.textContent = text;
}

// Follows a task over Server-Sent Events, falling back to polling the status route if the stream fails.
// Calls onUpdate(status) for every change; resolves with the terminal status.
export function followTask(taskId, onUpdate) {
  return new Promise((resolve, reject) => {
    let finished = false;
    let timer = null;
    const deliver = (status) => {
      if (finished) return;
      onUpdate(status);
      if (TERMINAL.has(status.status)) {
        finished = true;
        if (timer) clearTimeout(timer);
        resolve(status);
      }
    };
    let failures = 0;
    const poll = async () => {
      if (finished) return;
      try {
        deliver(await api(`/api/video/status/${taskId}`));
        failures = 0;
        connectionNotice(null);
      } catch (error) {
        if (error.status && error.status < 500 && error.status !== 429) {
          finished = true;
          connectionNotice(null);
          reject(error);
          return;
        }
        // The gateway restarting (network error, 5xx): say so, and try again with back-off.
        failures += 1;
        connectionNotice(`Reconnecting to the server (attempt ${failures})…`);
      }
      const wait = failures ? Math.min(1000 * 2 ** (failures - 1), 15000) : POLL_MS;
      if (!finished) timer = setTimeout(poll, wait);
    };
    if (typeof EventSource === "undefined") {
      poll();
      return;
    }
    const url = `/api/video/status/${taskId}/events?access_token=${encodeURIComponent(getToken() || "")}`;
    const source = new EventSource(url);
    const onEvent = (event) => {
      let status;
      try {
        status = JSON.parse(event.data);
      } catch {
        return;
      }
      deliver(status);
      if (finished) source.close();
    };
    // The gateway names its events `status`; unnamed ones (type `message`) are accepted too.
    source.addEventListener("status", onEvent);
    source.addEventListener("message", onEvent);
    source.onerror = () => {
      // Also fires when the server ends the stream after the terminal event; by then `finished` is set.
      source.close();
      if (!finished) poll();
    };
  });
}
