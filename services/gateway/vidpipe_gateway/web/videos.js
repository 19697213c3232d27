// "My videos": the caller's media, newest first, a page at a time (cursor pagination), filtered by status.
// Each row shows the thumbnail, the generated title (the file name beneath it), the length and the status,
// with the reason in sentences when processing failed.
import { api, clock, el, initPage, showError, statusBadge, when } from "./app.js";

const PAGE_SIZE = 20;
const $ = (id) => document.getElementById(id);
let cursor = null;
let generation = 0; // a filter change while a page loads must not append the old filter's rows

function thumbnail(item) {
  const placeholder = () => el("span", { class: "thumb placeholder", "aria-hidden": "true" }, "no preview");
  if (!item.thumbnail_url) return placeholder();
  const img = el("img", { class: "thumb", src: item.thumbnail_url, alt: "", loading: "lazy", width: "96", height: "54", "data-testid": "thumbnail" });
  img.addEventListener("error", () => img.replaceWith(placeholder())); // an expired link: no broken image
  return img;
}

function row(item) {
  const failed = item.status === "FAILED" || item.status === "REJECTED";
  return el(
    "tr",
    { "data-media-id": item.id, "data-status": item.status || "NEW", "data-testid": "media-row" },
    el("td", {}, el("div", { class: "media-cell" },
      el("a", { href: `/videos/${item.id}`, tabindex: "-1", "aria-hidden": "true" }, thumbnail(item)),
      el("div", { class: "media-text" },
        el("a", { href: `/videos/${item.id}`, class: "media-link", "data-testid": "media-title" }, item.title || item.filename),
        item.title ? el("span", { class: "media-file", title: item.filename, "data-testid": "media-filename" }, item.filename) : null,
      ),
    )),
    el("td", {}, when(item.created_at)),
    el("td", { class: "num", "data-testid": "media-duration" }, item.duration_s != null ? clock(item.duration_s) : "–"),
    el("td", { class: "hide-narrow" }, item.visibility),
    el("td", { class: "status-cell" }, statusBadge(item.status),
      failed && item.reason ? el("div", { class: "failure-reason", "data-testid": "failure-reason" }, item.reason) : null),
  );
}

function query() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set("cursor", cursor);
  for (const status of $("status-filter").value.split(",").filter(Boolean)) params.append("status", status);
  return params;
}

async function loadPage() {
  const mine = generation;
  const more = $("load-more");
  more.disabled = true;
  $("list-loading").textContent = "Loading…";
  try {
    const page = await api(`/api/media?${query()}`);
    if (mine !== generation) return;
    $("media-list").append(...page.items.map(row));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const empty = $("media-list").children.length === 0;
    const filtered = Boolean($("status-filter").value);
    $("list-empty").hidden = !(empty && !filtered);
    $("filter-empty").hidden = !(empty && filtered);
    $("media-table").hidden = empty;
  } catch (error) {
    showError($("list-error"), error);
  } finally {
    if (mine === generation) {
      more.disabled = false;
      $("list-loading").textContent = "";
    }
  }
}

function restart() {
  generation += 1;
  cursor = null;
  $("media-list").replaceChildren();
  const url = new URL(location.href);
  if ($("status-filter").value) url.searchParams.set("status", $("status-filter").value);
  else url.searchParams.delete("status");
  history.replaceState(null, "", url);
  loadPage();
}

if (initPage()) {
  const wanted = new URLSearchParams(location.search).get("status") || "";
  const filter = $("status-filter");
  if ([...filter.options].some((o) => o.value === wanted)) filter.value = wanted;
  filter.addEventListener("change", restart);
  $("load-more").addEventListener("click", loadPage);
  loadPage();
} else {
  $("media-table").hidden = true;
}
