// Friends: who may read my friends-visible media (a one-way grant). List, add, remove.
import { api, el, initPage, showError, when } from "./app.js";

const $ = (id) => document.getElementById(id);

function friendRow(friend) {
  const remove = el("button", { type: "button", class: "danger", "data-testid": "friend-remove" }, "Remove");
  const row = el("li", { "data-subject": friend.subject, "data-testid": "friend" },
    el("span", { class: "friend-subject" }, friend.subject),
    el("span", { class: "friend-since" }, `since ${when(friend.created_at)}`),
    remove);
  remove.addEventListener("click", async () => {
    if (!confirm(`Stop sharing your friends-visible videos with ${friend.subject}?`)) return;
    remove.disabled = true;
    try {
      await api(`/api/friends/${encodeURIComponent(friend.subject)}`, { method: "DELETE" });
      $("friends-state").textContent = `${friend.subject} removed`;
      await load();
    } catch (error) {
      remove.disabled = false;
      showError($("friends-error"), error);
    }
  });
  return row;
}

async function load() {
  try {
    const friends = await api("/api/friends");
    $("friends").replaceChildren(...friends.map(friendRow));
    $("friends-empty").hidden = friends.length > 0;
    $("friends-error").hidden = true;
  } catch (error) {
    showError($("friends-error"), error);
  }
}

async function add(event) {
  event.preventDefault();
  const input = $("friend-subject");
  const subject = input.value.trim();
  if (!subject) {
    showError($("friends-error"), { code: "invalid_request", message: "Type the account name of the person to add." });
    input.focus();
    return;
  }
  const button = event.submitter || $("friend-form").querySelector("button");
  button.disabled = true;
  try {
    await api("/api/friends", { method: "POST", body: { subject } });
    input.value = "";
    $("friends-state").textContent = `${subject} can now read your friends-visible videos`;
    await load();
  } catch (error) {
    showError($("friends-error"), error);
  } finally {
    button.disabled = false;
  }
}

if (initPage()) {
  $("friend-form").addEventListener("submit", add);
  load();
} else {
  $("friend-form").hidden = true;
}
