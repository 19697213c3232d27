// Search: the /search page (GET /api/search across the library), find-in-transcript with next/previous on
// the transcript page, and the `#t=SECONDS` jump that search results link to.
// Snippets arrive as {text, mark} parts and become text nodes and <mark> elements: no user text is ever
// parsed as HTML.
import { api, clock, el, initPage, showError } from "./app.js";

const PAGE_SIZE = 20;
const KINDS = { segment: "transcript", note: "note", summary: "title · summary · keywords" };

// ---------------------------------------------------------------- #t= jumps (transcript page)

function hashTime() {
  const value = new URLSearchParams(location.hash.slice(1)).get("t");
  const seconds = value === null ? NaN : Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

function nodeAt(seconds) {
  // The passage (or note) being spoken at that time: the last one starting at or before it.
  let found = null;
  for (const node of document.querySelectorAll("#transcript [data-testid=segment][data-start], #transcript .annotation[data-time]")) {
    const start = Number(node.dataset.start ?? node.dataset.time);
    if (start <= seconds + 0.01 && (!found || start >= Number(found.dataset.start ?? found.dataset.time))) found = node;
  }
  return found;
}

function flash(node) {
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  node.classList.remove("jump-target");
  void node.offsetWidth; // restart the animation
  node.classList.add("jump-target");
}

function jumpToHash(seek) {
  const seconds = hashTime();
  if (seconds === null) return;
  const player = document.getElementById("player");
  const go = () => {
    seek(seconds, false);
    flash(nodeAt(seconds));
  };
  // Before the metadata is in, a seek may be dropped: wait for it.
  if (player && !player.hidden && player.readyState < 1) player.addEventListener("loadedmetadata", go, { once: true });
  else go();
}

// ---------------------------------------------------------------- find in this transcript

const find = { seek: null, query: "", matches: [], current: -1, mounted: false };

// Called by the transcript page after every render (transcript.js); mounts once, re-runs the #t= jump.
export function mountFind({ seek }) {
  find.seek = seek;
  if (!find.mounted) {
    find.mounted = true;
    mountFindBar();
    window.addEventListener("hashchange", () => jumpToHash(find.seek));
    jumpToHash(seek);
  }
  find.matches = []; // the transcript was re-rendered: search it again on the next key
}

function mountFindBar() {
  const mount = document.getElementById("find-in-transcript");
  if (!mount) return;
  const input = el("input", { type: "search", id: "find-input", placeholder: "Find in transcript", "aria-label": "Find in transcript",
    "data-testid": "find-input", autocomplete: "off" });
  const count = el("span", { class: "hint", id: "find-count", "data-testid": "find-count", "aria-live": "polite" });
  const previous = el("button", { type: "button", "data-testid": "find-previous", "aria-label": "Previous match", title: "Previous (Shift+Enter)" }, "↑");
  const next = el("button", { type: "button", "data-testid": "find-next", "aria-label": "Next match", title: "Next (Enter)" }, "↓");
  mount.replaceChildren(el("div", { class: "find-bar", role: "search" }, input, previous, next, count));
  const show = () => {
    count.textContent = !find.query ? "" : find.matches.length ? `${find.current + 1} of ${find.matches.length}` : "no matches";
  };
  const step = (delta) => {
    refresh(input.value);
    if (!find.matches.length) return show();
    find.current = (find.current + delta + find.matches.length) % find.matches.length;
    focusMatch();
    show();
  };
  input.addEventListener("input", () => {
    find.matches = [];
    refresh(input.value);
    find.current = find.matches.length ? 0 : -1;
    paint();
    show();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      step(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape") {
      input.value = "";
      input.dispatchEvent(new Event("input"));
    }
  });
  next.addEventListener("click", () => step(1));
  previous.addEventListener("click", () => step(-1));
}

// Every case-insensitive occurrence of the query in the transcript's text and notes, as DOM ranges (a match
// may run across word spans).
function refresh(query) {
  query = query.trim().toLowerCase();
  const stale = find.matches.some((range) => !range.startContainer.isConnected);
  if (query === find.query && find.matches.length && !stale) return;
  find.query = query;
  find.matches = [];
  if (!query) return paint();
  for (const block of document.querySelectorAll("#transcript .segment-text, #transcript .annotation-text")) {
    const pieces = [];
    let text = "";
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      pieces.push({ node: walker.currentNode, start: text.length });
      text += walker.currentNode.data;
    }
    const lower = text.toLowerCase();
    const locate = (offset) => {
      let piece = pieces[0];
      for (const candidate of pieces) if (candidate.start <= offset) piece = candidate;
      return [piece.node, offset - piece.start];
    };
    for (let at = lower.indexOf(query); at !== -1; at = lower.indexOf(query, at + query.length)) {
      const range = document.createRange();
      range.setStart(...locate(at));
      const [endNode, endOffset] = locate(at + query.length - 1);
      range.setEnd(endNode, endOffset + 1);
      find.matches.push(range);
    }
  }
  if (find.current >= find.matches.length) find.current = find.matches.length - 1;
}

// Highlights without touching the transcript's markup (CSS Custom Highlight API); browsers without it
// still get the count, the scrolling and the jump.
function paint() {
  if (!globalThis.CSS?.highlights) return;
  CSS.highlights.set("find-match", new Highlight(...find.matches));
  const current = find.matches[find.current];
  CSS.highlights.set("find-current", current ? new Highlight(current) : new Highlight());
}

function focusMatch() {
  paint();
  const range = find.matches[find.current];
  const holder = range.startContainer.parentElement.closest("[data-start], [data-time]");
  holder?.scrollIntoView({ block: "center", behavior: "smooth" });
  const start = Number(holder?.dataset.start ?? holder?.dataset.time);
  if (Number.isFinite(start)) find.seek(start, false);
}

// ---------------------------------------------------------------- the /search page

function snippetNode(parts) {
  return el("p", { class: "search-snippet", "data-testid": "search-snippet" },
    ...parts.map((part) => (part.mark ? el("mark", {}, part.text) : part.text)));
}

function hitNode(hit) {
  const where = hit.time_s != null ? clock(hit.time_s) : null;
  return el("li", { class: "search-hit", "data-testid": "search-hit", "data-kind": hit.kind, "data-media": hit.media_id },
    el("a", { href: hit.url, class: "search-hit-link", "data-testid": "search-hit-link" },
      el("span", { class: "search-hit-title" }, hit.title),
      where ? el("span", { class: "search-hit-time" }, where) : null),
    el("div", { class: "search-hit-meta hint" },
      el("span", { class: "badge" }, KINDS[hit.kind] || hit.kind),
      hit.speaker ? el("span", {}, hit.speaker) : null,
      hit.is_owner ? null : el("span", {}, "shared with you")),
    snippetNode(hit.snippet));
}

function runSearchPage() {
  const signedIn = initPage();
  const form = document.getElementById("search-form");
  const input = document.getElementById("search-q");
  const scope = document.getElementById("search-scope");
  const list = document.getElementById("search-results");
  const summary = document.getElementById("search-summary");
  const more = document.getElementById("search-more");
  const error = document.getElementById("search-error");
  let offset = null;

  const load = async (append) => {
    const q = input.value.trim();
    if (!q) return;
    error.hidden = true;
    more.disabled = true;
    summary.textContent = "Searching…";
    try {
      const params = new URLSearchParams({ q, scope: scope.value, limit: String(PAGE_SIZE), offset: String(append ? offset : 0) });
      const page = await api(`/api/search?${params}`);
      if (!append) list.replaceChildren();
      list.append(...page.items.map(hitNode));
      offset = page.next_offset;
      more.hidden = offset === null;
      const shown = list.children.length;
      summary.textContent = shown ? `${shown}${offset === null ? "" : "+"} result${shown === 1 ? "" : "s"} for “${page.query}”` : `Nothing found for “${page.query}”.`;
    } catch (failure) {
      summary.textContent = "";
      showError(error, failure);
    } finally {
      more.disabled = false;
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ q: input.value.trim() });
    if (scope.value !== "all") params.set("scope", scope.value);
    history.replaceState(null, "", `/search?${params}`);
    load(false);
  });
  scope.addEventListener("change", () => form.requestSubmit());
  more.addEventListener("click", () => load(true));

  const initial = new URLSearchParams(location.search);
  input.value = initial.get("q") || "";
  scope.value = initial.get("scope") === "mine" ? "mine" : "all";
  if (signedIn && input.value) load(false);
  input.focus();
}

if (document.body?.dataset.page === "search") runSearchPage();
