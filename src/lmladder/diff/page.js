// lmladder diff: colour every character by NLL_A - NLL_B and show both models' view of it on hover.
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const N = D.colours.length, half = (N - 1) / 2;
const shown = (c) => (c === "\n" ? "\u23ce" : c === " " ? "\u2423" : c);

function tokenOf(side, i) { // the index of the side's predicted token covering character i (-1: none)
  const s = D.sides[side];
  return s.tok_of === null ? i - 1 : s.tok_of[i];
}

function nllShare(side, i) { // the character's share of its token's NLL
  const s = D.sides[side], t = tokenOf(side, i);
  if (t < 0) return NaN;
  if (s.tok_of === null) return s.nll[t];
  let n = 0;
  for (let j = i; j >= 0 && s.tok_of[j] === t; j--) n++;
  for (let j = i + 1; j < s.tok_of.length && s.tok_of[j] === t; j++) n++;
  return s.nll[t] / n;
}

function sideText(side, i) {
  const s = D.sides[side], t = tokenOf(side, i);
  if (t < 0) return side + " (" + s.rung + "): context only, not predicted";
  const tops = [];
  for (let r = 0; r < s.k; r++) tops.push(JSON.stringify(s.vocab[s.top[t * s.k + r]]) + " " + s.top_pct[t * s.k + r] + "%");
  const p = Math.exp(-s.nll[t]);
  return side + " (" + s.rung + "): token " + JSON.stringify(s.vocab[s.target[t]]) + "  p=" + p.toPrecision(3) +
    "  NLL=" + s.nll[t].toFixed(3) + "\n   top: " + tops.join(", ");
}

function build() {
  const box = document.getElementById("text"), frag = document.createDocumentFragment();
  for (let i = 0; i < D.text.length; i++) {
    const el = document.createElement("span"), c = D.text[i];
    el.textContent = c === "\n" ? "\u23ce\n" : c;
    if (D.scored[i]) {
      const g = nllShare("A", i) - nllShare("B", i);
      const b = Math.round(half + half * Math.max(-1, Math.min(1, g / D.clamp)));
      el.style.background = D.colours[b];
    }
    el.id = "c" + i;
    frag.appendChild(el);
  }
  box.appendChild(frag);
  const tip = document.getElementById("tip");
  box.addEventListener("mouseover", (ev) => {
    const el = ev.target;
    if (el.tagName !== "SPAN") return;
    const i = +el.id.slice(1), g = nllShare("A", i) - nllShare("B", i);
    tip.textContent = "char " + i + " " + JSON.stringify(shown(D.text[i])) +
      (D.scored[i] ? "  NLL_A - NLL_B = " + g.toFixed(3) + " nats" : "") + "\n" + sideText("A", i) + "\n" + sideText("B", i);
    tip.style.display = "block";
  });
  box.addEventListener("mousemove", (ev) => { tip.style.left = ev.clientX + 14 + "px"; tip.style.top = ev.clientY + 14 + "px"; });
  box.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  const legend = document.getElementById("legend");
  D.colours.forEach((col, b) => {
    const cell = document.createElement("div");
    cell.style.cssText = "flex:1;background:" + col;
    cell.title = ((b - half) / half * D.clamp).toFixed(2) + " nats";
    legend.appendChild(cell);
  });
  legend.insertAdjacentHTML("afterend", "<small>\u2212" + D.clamp + " nats (A better) \u2026 0 \u2026 +" + D.clamp + " nats (B better)</small>");
  document.querySelectorAll("table.spans tbody tr").forEach((row) => {
    row.style.cursor = "pointer";
    row.addEventListener("click", () => {
      const start = +row.cells[1].textContent, end = +row.cells[2].textContent;
      document.getElementById("c" + start).scrollIntoView({ block: "center" });
      for (let i = start; i < end; i++) document.getElementById("c" + i).classList.add("flash");
      setTimeout(() => { for (let i = start; i < end; i++) document.getElementById("c" + i).classList.remove("flash"); }, 1500);
    });
  });
}
build();
