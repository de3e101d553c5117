/* Palate arena: chat with two anonymous models side by side, then vote.
 *
 * Answers stream as server-sent events over a POST (fetch + ReadableStream,
 * so the request carries the CSRF token). While a model streams, its text is
 * shown as plain text (textContent: inert); when it ends, the server's
 * sanitized Markdown HTML replaces it. Keys: N new battle, Esc stop,
 * R regenerate, / focus the message, 1–5 the scale, X both bad, U unsafe,
 * Enter vote — the vote keys are the labeling page's.
 */

const app = document.getElementById("arena-app");
const $ = (id) => document.getElementById(id);
const el = {
  error: $("arena-error"), prompt: $("prompt"), ask: $("ask"), send: $("send"), stop: $("stop"),
  regenerate: $("regenerate"), newBattle: $("new-battle"), turnsLeft: $("turns-left"),
  vote: $("vote"), scale: $("scale"), bothBad: $("both-bad"), unsafe: $("unsafe"),
  rationale: $("rationale"), revealed: $("revealed"),
  sides: Object.fromEntries([...document.querySelectorAll(".arena-side")].map((n) => [n.dataset.side, n])),
};
const scaleInputs = [...document.querySelectorAll(".scale-input")];
const maxTurns = Number(app.dataset.maxTurns);
const state = { battle: null, turns: 0, streaming: null, voted: false, failed: false };

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body || {}),
  });
  return response;
}

async function json(response) {
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}

function setState(name) {
  app.dataset.state = name;
  const streaming = name === "streaming";
  const canAsk = !streaming && !state.voted && !state.failed && state.turns < maxTurns;
  el.send.disabled = !canAsk;
  el.prompt.disabled = !canAsk;
  el.stop.disabled = !streaming;
  el.regenerate.disabled = streaming || state.voted || state.failed || state.turns === 0;
  el.scale.disabled = streaming || state.voted || state.failed || state.turns === 0;
  el.turnsLeft.textContent = state.battle && !state.voted && !state.failed
    ? `${maxTurns - state.turns} turn(s) left` : "";
}

function resetView() {
  for (const side of Object.values(el.sides)) {
    side.querySelector("[data-turns]").replaceChildren();
    const name = side.querySelector("[data-name]");
    name.textContent = "";
    name.hidden = true;
  }
  scaleInputs.forEach((input) => { input.checked = false; });
  el.bothBad.checked = false;
  el.unsafe.checked = false;
  el.rationale.value = "";
  el.revealed.hidden = true;
  showError("");
}

function addTurn(prompt) {
  const bodies = {};
  for (const [key, side] of Object.entries(el.sides)) {
    const li = document.createElement("li");
    li.className = "arena-turn";
    const asked = document.createElement("p");
    asked.className = "arena-prompt";
    asked.textContent = prompt;
    const answer = document.createElement("div");
    answer.className = "md arena-answer streaming";
    answer.dataset.answer = "";
    li.append(asked, answer);
    side.querySelector("[data-turns]").append(li);
    bodies[key] = answer;
  }
  return bodies;
}

function lastBodies() {
  return Object.fromEntries(Object.entries(el.sides).map(([key, side]) => {
    const answers = side.querySelectorAll("[data-answer]");
    return [key, answers[answers.length - 1]];
  }));
}

async function newBattle() {
  if (state.streaming) await stop();
  const previous = state.battle && !state.voted ? state.battle.id : undefined;
  resetView();
  state.battle = null;
  state.turns = 0;
  state.voted = false;
  state.failed = false;
  try {
    state.battle = await json(await post(app.dataset.urlStart, { previous }));
  } catch (error) {
    showError(error.message);
  }
  setState("idle");
  el.prompt.focus();
}

/* Reads "data: {...}\n\n" events from the streamed body. */
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const line = chunk.split("\n").find((l) => l.startsWith("data:"));
      if (line) yield JSON.parse(line.slice(5));
    }
  }
}

/* One turn's stream: "done", "failed" (the battle is not counted), "refused"
 * (a limit or a check answered before anything streamed) or "dropped". */
async function runTurn(body, bodies) {
  const controller = new AbortController();
  state.streaming = controller;
  setState("streaming");
  showError("");
  const texts = { a: "", b: "" };
  try {
    const response = await fetch(state.battle.urls.turn, {
      method: "POST", credentials: "same-origin", cache: "no-store", signal: controller.signal,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      showError(data.detail || `HTTP ${response.status}`);
      return "refused";
    }
    for await (const event of events(response)) {
      if (event.type === "delta") {
        texts[event.side] += event.text;
        bodies[event.side].textContent = texts[event.side];
      } else if (event.type === "end") {
        bodies[event.side].innerHTML = event.html; // sanitized on the server
        bodies[event.side].classList.remove("streaming");
        bodies[event.side].dataset.finish = event.finish;
      } else if (event.type === "failed") {
        state.failed = true;
        showError(`Model ${event.side.toUpperCase()} failed: ${event.error}. ` +
                  "This battle is not counted; start a new one (N).");
        return "failed";
      } else if (event.type === "done") {
        return "done";
      }
    }
    return "dropped";
  } catch (error) {
    showError(error.name === "AbortError" ? "Stopped." : error.message);
    return "dropped";
  } finally {
    state.streaming = null;
    Object.values(bodies).forEach((b) => b.classList.remove("streaming"));
  }
}

async function send(event) {
  if (event) event.preventDefault();
  const prompt = el.prompt.value.trim();
  if (!prompt || state.streaming || state.voted || state.failed || state.turns >= maxTurns) return;
  if (!state.battle) {
    try {
      state.battle = await json(await post(app.dataset.urlStart, {}));
    } catch (error) {
      showError(error.message);
      return;
    }
  }
  const bodies = addTurn(prompt);
  el.prompt.value = "";
  const outcome = await runTurn({ prompt }, bodies);
  if (outcome === "refused") {
    Object.values(bodies).forEach((b) => b.parentElement.remove());
    el.prompt.value = prompt;
  } else {
    state.turns += 1;
  }
  setState(state.failed ? "failed" : "idle");
  if (!state.failed && state.turns < maxTurns) el.prompt.focus();
}

async function regenerate() {
  if (state.streaming || state.voted || state.failed || !state.turns) return;
  const bodies = lastBodies();
  Object.values(bodies).forEach((b) => { b.textContent = ""; b.classList.add("streaming"); });
  await runTurn({ regenerate: true }, bodies);
  setState(state.failed ? "failed" : "idle");
}

async function stop() {
  const controller = state.streaming;
  if (!controller || !state.battle) return;
  try {
    await post(state.battle.urls.stop, {});
  } catch (error) {
    controller.abort(); // could not ask the server: drop the stream, which stops it too
  }
}

async function vote(event) {
  if (event) event.preventDefault();
  if (!state.battle || state.voted || state.streaming || el.scale.disabled) return;
  const chosen = scaleInputs.find((input) => input.checked);
  if (!chosen && !el.bothBad.checked) {
    showError("Choose which model answered better (1–5), or mark both bad (X).");
    return;
  }
  try {
    const data = await json(await post(state.battle.urls.vote, {
      strength: chosen ? Number(chosen.value) : null,
      both_bad: el.bothBad.checked,
      flagged_unsafe: el.unsafe.checked,
      rationale: el.rationale.value,
    }));
    state.voted = true;
    for (const [key, side] of Object.entries(el.sides)) {
      const name = side.querySelector("[data-name]");
      name.textContent = `: ${data.models[key]}`;
      name.hidden = false;
    }
    el.revealed.textContent = `Thank you! Model A was ${data.models.a}, model B was ${data.models.b}. Press N for a new battle.`;
    el.revealed.hidden = false;
    showError("");
    setState("voted");
  } catch (error) {
    showError(error.message);
  }
}

const typing = (target) => target.matches("textarea, input[type=text]");

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  if (key === "Escape") {
    if (state.streaming) { event.preventDefault(); stop(); }
    else if (typing(event.target)) event.target.blur();
    return;
  }
  if (event.target === el.prompt && key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    send();
    return;
  }
  if (typing(event.target)) return;
  if (key === "n" || key === "N") { event.preventDefault(); newBattle(); }
  else if (key === "r" || key === "R") { event.preventDefault(); regenerate(); }
  else if (key === "/") { event.preventDefault(); el.prompt.focus(); }
  else if (el.scale.disabled) return;
  else if (/^[1-5]$/.test(key)) {
    const input = scaleInputs.find((candidate) => candidate.dataset.key === key);
    if (input) { input.checked = true; input.focus(); }
  } else if (key === "x" || key === "X") el.bothBad.checked = !el.bothBad.checked;
  else if (key === "u" || key === "U") el.unsafe.checked = !el.unsafe.checked;
  else if (key === "Enter" && !event.target.matches("button")) { event.preventDefault(); vote(); }
});

el.ask.addEventListener("submit", send);
el.vote.addEventListener("submit", vote);
el.stop.addEventListener("click", stop);
el.regenerate.addEventListener("click", regenerate);
el.newBattle.addEventListener("click", newBattle);
document.querySelectorAll(".suggestion").forEach((button) => button.addEventListener("click", () => {
  el.prompt.value = button.dataset.text;
  el.prompt.focus();
}));
setState("idle");
app.dataset.ready = "true";
