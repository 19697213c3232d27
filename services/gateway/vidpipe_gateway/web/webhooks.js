// Webhooks page: add and remove endpoints, show a new endpoint's signing secret once, send a test event and
// read the delivery log (each attempt's answer, the next retry).
import { api, el, initPage, showError, when } from "./app.js";

const $ = (id) => document.getElementById(id);
const EVENT_NAMES = { "task.completed": "completed", "task.failed": "failed", "task.rejected": "rejected", "webhook.test": "test" };
const page = { endpoints: [], selected: null, refreshTimer: null };

async function loadEndpoints() {
  try {
    page.endpoints = await api("/api/webhooks");
    $("list-error").hidden = true;
  } catch (error) {
    showError($("list-error"), error);
    return;
  }
  renderEndpoints();
}

function renderEndpoints() {
  const list = $("endpoints");
  list.replaceChildren(...page.endpoints.map(endpointItem));
  $("endpoints-empty").hidden = page.endpoints.length > 0;
  if (page.selected && !page.endpoints.some((e) => e.id === page.selected)) closeDeliveries();
}

function endpointItem(endpoint) {
  const counts = [];
  if (endpoint.pending) counts.push(el("span", { class: "badge state-retrying" }, `${endpoint.pending} pending`));
  if (endpoint.failed) counts.push(el("span", { class: "badge status-failed" }, `${endpoint.failed} failed`));
  return el(
    "li",
    { class: "endpoint", "data-testid": "endpoint", dataset: { id: endpoint.id } },
    el("div", { class: "endpoint-main" },
      el("code", { class: "endpoint-url" }, endpoint.url),
      endpoint.description ? el("span", { class: "muted" }, endpoint.description) : null,
      el("ul", { class: "chips", "aria-label": "Events" }, endpoint.events.map((e) => el("li", { class: "chip" }, EVENT_NAMES[e] || e))),
      el("span", { class: "hint" }, `added ${when(endpoint.created_at)}`),
      ...counts,
    ),
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "send-test", onclick: (event) => sendTest(endpoint, event.target) }, "Send test"),
      el("button", { type: "button", "data-testid": "show-deliveries", onclick: () => openDeliveries(endpoint) }, "Deliveries"),
      el("button", { type: "button", class: "danger", "data-testid": "delete-webhook", onclick: () => remove(endpoint) }, "Delete"),
    ),
  );
}

async function create(event) {
  event.preventDefault();
  const form = $("webhook-form");
  const url = $("webhook-url").value.trim();
  const events = [...form.querySelectorAll('input[name="events"]:checked')].map((box) => box.value);
  const description = $("webhook-description").value.trim();
  const button = $("add-webhook");
  button.disabled = true;
  try {
    const created = await api("/api/webhooks", { method: "POST", body: { url, events, description: description || null } });
    $("form-error").hidden = true;
    form.reset();
    showSecret(created);
    await loadEndpoints();
    openDeliveries(created);
  } catch (error) {
    showError($("form-error"), error);
  } finally {
    button.disabled = false;
  }
}

// The secret exists in the browser only here: it is never stored and the API never returns it again.
function showSecret(endpoint) {
  $("secret-url").textContent = endpoint.url;
  $("secret").textContent = endpoint.secret;
  $("secret-box").hidden = false;
  $("copy-secret").textContent = "Copy";
}

function hideSecret() {
  $("secret").textContent = "";
  $("secret-box").hidden = true;
}

async function copySecret() {
  try {
    await navigator.clipboard.writeText($("secret").textContent);
    $("copy-secret").textContent = "Copied";
  } catch {
    // Clipboard access refused (an http page, a browser setting): select the text for a manual copy.
    const range = document.createRange();
    range.selectNodeContents($("secret"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
}

async function remove(endpoint) {
  if (!confirm(`Stop sending events to ${endpoint.url}? Its delivery log goes too.`)) return;
  try {
    await api(`/api/webhooks/${endpoint.id}`, { method: "DELETE" });
    await loadEndpoints();
  } catch (error) {
    showError($("list-error"), error);
  }
}

async function sendTest(endpoint, button) {
  button.disabled = true;
  try {
    await api(`/api/webhooks/${endpoint.id}/test`, { method: "POST" });
    openDeliveries(endpoint);
  } catch (error) {
    showError($("list-error"), error);
  } finally {
    button.disabled = false;
  }
}

function openDeliveries(endpoint) {
  page.selected = endpoint.id;
  $("deliveries-card").hidden = false;
  $("deliveries-for").textContent = `Sent to ${endpoint.url}, newest first.`;
  loadDeliveries();
}

function closeDeliveries() {
  page.selected = null;
  $("deliveries-card").hidden = true;
  clearTimeout(page.refreshTimer);
}

async function loadDeliveries() {
  clearTimeout(page.refreshTimer);
  const id = page.selected;
  if (!id) return;
  let deliveries;
  try {
    deliveries = await api(`/api/webhooks/${id}/deliveries?limit=50`);
    $("deliveries-error").hidden = true;
  } catch (error) {
    showError($("deliveries-error"), error);
    return;
  }
  if (id !== page.selected) return;
  $("delivery-rows").replaceChildren(...deliveries.map(deliveryRow));
  $("deliveries-empty").hidden = deliveries.length > 0;
  // While something is on its way, look again soon: the dispatcher posts within seconds.
  if (deliveries.some((d) => d.state === "pending")) page.refreshTimer = setTimeout(loadDeliveries, 1500);
}

function lastAnswer(delivery) {
  if (delivery.last_status_code) return `HTTP ${delivery.last_status_code}`;
  return delivery.last_error || (delivery.attempts ? "no answer" : "not tried yet");
}

function deliveryRow(delivery) {
  const stateClass = { succeeded: "status-completed", failed: "status-failed", pending: "state-retrying" }[delivery.state];
  const attempts = delivery.log.map((a) => `#${a.attempt} ${when(a.at)}: ${a.status_code ? `HTTP ${a.status_code}` : a.error} (${a.duration_ms} ms)`);
  const retry = delivery.state === "pending"
    ? null
    : el("button", { type: "button", class: "link-button", "data-testid": "retry-delivery", onclick: () => retryDelivery(delivery) }, "Send again");
  return el(
    "tr",
    { "data-testid": "delivery", dataset: { state: delivery.state } },
    el("td", {}, el("span", {}, EVENT_NAMES[delivery.event] || delivery.event), el("div", { class: "hint" }, when(delivery.created_at))),
    el("td", {}, el("span", { class: `badge ${stateClass}`, "data-testid": "delivery-state" }, delivery.state)),
    el("td", { class: "num hide-narrow", title: attempts.join("\n") }, String(delivery.attempts)),
    el("td", { "data-testid": "delivery-answer", title: delivery.last_error || "" }, lastAnswer(delivery)),
    el("td", { class: "hide-narrow" }, delivery.state === "pending" && delivery.next_attempt_at ? when(delivery.next_attempt_at) : "–"),
    el("td", {}, retry),
  );
}

async function retryDelivery(delivery) {
  try {
    await api(`/api/webhooks/${page.selected}/deliveries/${delivery.id}/retry`, { method: "POST" });
    loadDeliveries();
  } catch (error) {
    showError($("deliveries-error"), error);
  }
}

if (initPage()) {
  $("webhook-form").addEventListener("submit", create);
  $("copy-secret").addEventListener("click", copySecret);
  $("hide-secret").addEventListener("click", hideSecret);
  $("refresh-deliveries").addEventListener("click", () => {
    loadDeliveries();
    loadEndpoints();
  });
  loadEndpoints();
} else {
  $("add-webhook").disabled = true;
}
