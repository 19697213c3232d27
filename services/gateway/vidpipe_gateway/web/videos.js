// "My videos": the caller's media, newest first, a page at a time (cursor pagination).
import { api, clock, el, initPage, showError, statusBadge, when } from "./app.js";

const PAGE_SIZE = 20;
const $ = (id) => document.getElementById(id);
let cursor = null;

function row(item) {
  return el(
    "tr",
    { "data-media-id": item.id },
    el("td", {}, el("a", { href: `/videos/${item.id}`, class: "media-link" }, item.filename)),
    el("td", {}, when(item.created_at)),
    el("td", { class: "num hide-narrow" }, item.duration_s != null ? clock(item.duration_s) : "–"),
    el("td", { class: "hide-narrow" }, item.visibility),
    el("td", {}, statusBadge(item.status)),
  );
}

async function loadPage() {
  const more = $("load-more");
  more.disabled = true;
  $("list-loading").textContent = "Loading…";
  try {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/api/media?${query}`);
    $("media-list").append(...page.items.map(row));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    $("list-empty").hidden = $("media-list").children.length > 0;
    $("media-table").hidden = $("media-list").children.length === 0;
  } catch (error) {
    showError($("list-error"), error);
  } finally {
    more.disabled = false;
    $("list-loading").textContent = "";
  }
}

if (initPage()) {
  $("load-more").addEventListener("click", loadPage);
  loadPage();
} else {
  $("media-table").hidden = true;
}
