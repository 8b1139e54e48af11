// The explorer page: the query form, calls to the JSON API, one panel per model.
import { el, fixedView, heatmap, thumbnail } from "./heatmap.js";

const $ = (id) => document.getElementById(id);
let models = [];

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

function status(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

async function loadModels() {
  models = await api("/api/models");
  for (const m of models) {
    const label = `${m.id} — ${m.architecture}`;
    $("model-a").append(el("option", { value: m.id, text: label }));
    $("model-b").append(el("option", { value: m.id, text: label }));
  }
  if (models.length > 1) $("model-b").value = models[1].id;
}

// The heatmap area of a panel: a caption, the table, the hover readout, and for the
// Transformer the layer x head grid whose thumbnails choose what the table shows.
function attentionView(result, targetTokens, what) {
  const box = el("div");
  const caption = el("p", { class: "caption" });
  const wrap = el("div", { class: "heatmap-wrap" });
  const readout = el("p", { class: "readout", "aria-live": "polite",
    text: "Hover a cell to read its weight." });
  const gold = result.gold || null;
  function draw(weights, label) {
    caption.textContent = `Attention ${what}: ${label}. Rows: target, columns: source.`;
    wrap.replaceChildren(heatmap(weights, result.source_tokens, targetTokens, gold, readout));
  }
  const average = result.layers ? "last layer, mean of its heads" : "weights alpha_ij";
  draw(result.attention, average);
  box.append(caption, wrap, readout);
  if (result.aer !== undefined) {
    const text = result.aer === null ? "AER: none (no attention)"
      : `AER of this sentence: ${result.aer.toFixed(3)} (gold links outlined)`;
    box.append(el("p", { class: "aer", text }));
  }
  if (!result.layers) return box;
  const heads = result.layers[0].length;
  const grid = el("div", { class: "grid", role: "group", "aria-label": "layers and heads" });
  grid.style.gridTemplateColumns = `auto repeat(${heads}, auto)`;
  const buttons = [];
  const mean = el("button", { type: "button", class: "active", text: "mean" });
  mean.addEventListener("click", () => { activate(mean); draw(result.attention, average); });
  buttons.push(mean);
  grid.append(el("span", { class: "label", text: "layer × head" }), mean);
  for (let h = 1; h < heads; h++) grid.append(el("span"));
  result.layers.forEach((layer, l) => {
    grid.append(el("span", { class: "label", text: `layer ${l + 1}` }));
    layer.forEach((weights, h) => {
      const name = `layer ${l + 1}, head ${h + 1}`;
      const button = el("button", { type: "button", title: name, "aria-label": name },
        thumbnail(weights, 8));
      button.addEventListener("click", () => { activate(button); draw(weights, name); });
      buttons.push(button);
      grid.append(button);
    });
  });
  function activate(button) { for (const b of buttons) b.classList.toggle("active", b === button); }
  box.append(el("p", { class: "caption", text: "Every layer and head (click one to show it):" }), grid);
  return box;
}

function panel(model, translated, aligned) {
  const best = translated.translations[0];
  const node = el("article", { class: "panel", "data-model": model.id },
    el("h2", { text: model.id }, el("small", { text: model.architecture })),
    el("p", { class: "translation", text: best.text || "(empty)" }),
    el("ol", { class: "nbest", "aria-label": "n-best translations" },
      ...translated.translations.map((t) => el("li", {}, el("span", { text: t.text || "(empty)" }),
        el("span", { class: "score", text: t.score.toFixed(3) })))));
  const source = aligned || translated;
  const targetTokens = aligned ? aligned.target_tokens : best.tokens;
  const what = aligned ? "reading the reference" : "reading the best translation";
  if (source.context === "fixed") {
    node.append(fixedView(source.source_tokens, targetTokens));
    if (aligned && aligned.aer !== undefined) node.append(el("p", { class: "aer", text: "AER: none (no attention)" }));
  } else {
    node.append(attentionView(source, targetTokens, what));
  }
  return node;
}

async function run(event) {
  event.preventDefault();
  const text = $("text").value;
  const reference = $("reference").value.trim();
  const gold = $("gold").value.trim();
  const chosen = [$("model-a").value, $("model-b").value].filter((id) => id);
  const beam = Number($("beam").value);
  const nBest = Math.min(Number($("n-best").value), beam);
  status("translating…");
  $("go").disabled = true;
  try {
    const panels = await Promise.all(chosen.map(async (id) => {
      const translated = await api("/api/translate", { text, model: id, beam, n_best: nBest });
      const request = { text, reference, model: id };
      if (gold) request.gold = gold;
      const aligned = reference ? await api("/api/align", request) : null;
      return panel(models.find((m) => m.id === id), translated, aligned);
    }));
    $("panels").replaceChildren(...panels);
    $("panels").classList.toggle("two", panels.length === 2);
    status("");
  } catch (error) {
    status(error.message, true);
  } finally {
    $("go").disabled = false;
  }
}

$("query").addEventListener("submit", run);
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("query").requestSubmit();
});
loadModels().catch((error) => status(`could not load the models: ${error.message}`, true));
