// Drawing attention: the heatmap table (rows target tokens, columns source tokens), the small
// canvases of the layer x head grid, and the plain view of a fixed-context model.

const ACCENT = "37, 99, 235";

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export { el };

// weights: T rows of S numbers; gold: [[t, s, "sure" | "possible"], ...] or null.
// readout: the element that shows the weight under the pointer or the keyboard cursor.
export function heatmap(weights, srcTokens, trgTokens, gold, readout) {
  const table = el("table", { class: "heatmap", tabindex: "0",
    "aria-label": "attention weights: rows are target words, columns source words" });
  const head = el("tr", {}, el("th"));
  const columns = srcTokens.map((token) => el("th", { scope: "col", text: token }));
  head.append(...columns);
  table.append(el("thead", {}, head));
  const body = el("tbody");
  const cells = [];
  const goldOf = new Map((gold || []).map(([t, s, kind]) => [`${t},${s}`, kind]));
  let cursor = null;

  function show(t, s) {
    const w = weights[t][s];
    readout.textContent = `${trgTokens[t]} ← ${srcTokens[s]}: ${w.toFixed(3)}`;
    readout.dataset.weight = String(w);
  }

  function moveCursor(t, s) {
    if (cursor) cells[cursor[0]][cursor[1]].classList.remove("cursor");
    cursor = [t, s];
    cells[t][s].classList.add("cursor");
    show(t, s);
  }

  function select(t) {
    const row = body.children[t];
    const on = !row.classList.contains("selected");
    for (const r of body.children) r.classList.remove("selected");
    columns.forEach((th, s) => {
      th.classList.toggle("reads", on && weights[t][s] >= 0.1);
      th.style.background = on ? `rgba(${ACCENT}, ${weights[t][s].toFixed(3)})` : "";
    });
    row.classList.toggle("selected", on);
    row.querySelector("button").setAttribute("aria-pressed", String(on));
  }

  trgTokens.forEach((token, t) => {
    const button = el("button", { type: "button", "aria-pressed": "false", text: token,
      title: "highlight the source words this word reads" });
    button.addEventListener("click", () => select(t));
    const row = el("tr", {}, el("th", { scope: "row" }, button));
    cells.push(srcTokens.map((_, s) => {
      const w = weights[t][s];
      const cell = el("td", { class: "cell", "data-weight": String(w),
        title: `${token} ← ${srcTokens[s]}: ${w.toFixed(3)}` });
      cell.style.background = `rgba(${ACCENT}, ${w.toFixed(3)})`;
      const kind = goldOf.get(`${t},${s}`);
      if (kind) cell.classList.add(`gold-${kind}`);
      cell.addEventListener("mouseenter", () => show(t, s));
      cell.addEventListener("click", () => moveCursor(t, s));
      row.append(cell);
      return cell;
    }));
    body.append(row);
  });
  table.append(body);

  const steps = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  table.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && cursor) { select(cursor[0]); event.preventDefault(); return; }
    const step = steps[event.key];
    if (!step || trgTokens.length === 0 || srcTokens.length === 0) return;
    event.preventDefault();
    const [t, s] = cursor || [0, 0];
    const clamp = (x, n) => Math.max(0, Math.min(n - 1, x));
    moveCursor(cursor ? clamp(t + step[0], trgTokens.length) : 0,
               cursor ? clamp(s + step[1], srcTokens.length) : 0);
  });
  return table;
}

// A small picture of one attention matrix, `size` pixels per cell.
export function thumbnail(weights, size = 5) {
  const rows = weights.length;
  const columns = rows ? weights[0].length : 0;
  const canvas = el("canvas", { width: String(Math.max(1, columns * size)),
    height: String(Math.max(1, rows * size)) });
  const context = canvas.getContext("2d");
  weights.forEach((row, t) => row.forEach((w, s) => {
    context.fillStyle = `rgba(${ACCENT}, ${w.toFixed(3)})`;
    context.fillRect(s * size, t * size, size, size);
  }));
  return canvas;
}

// A fixed-context model: the decoder reads one vector c, the same for every target word.
export function fixedView(srcTokens, trgTokens) {
  const tokens = (list) => el("div", { class: "tokens" }, ...list.map((t) => el("span", { text: t })));
  return el("div", {},
    el("div", { class: "fixed-view", "aria-label": "source words into one vector c into target words" },
      tokens(srcTokens), el("span", { text: "→" }), el("div", { class: "c", text: "c" }),
      el("span", { text: "→" }), tokens(trgTokens)),
    el("p", { class: "caption", text: "No attention here: the encoder's final state c is all the " +
      "decoder ever sees of the source, the same vector for every target word." }));
}
