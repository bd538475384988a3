// The MUSHRA trial (ITU-R BS.1534-3) as a Streamlit Components v2 module.
//
// All stimuli of a trial are decoded into Web Audio buffers once. Switching between them while
// playing keeps the playback position: the new source starts at the old one's position and the
// two cross-fade over FADE_S (no click). A loop region is chosen by dragging on the waveform.
// The trial is submitted straight to the server's submit route (POST /evalapp/api/submit) with the
// listener's resume token; only after the server confirms does the component ask Streamlit to
// rerun (trigger "submitted"), so a rating is never acknowledged before it is stored.
//
// The component never learns which condition a stimulus is: it gets opaque URLs and slot labels.

const FADE_S = 0.005;          // cross-fade on switch/stop: ~5 ms, short enough to keep timing
const TICK_MS = 30;            // playhead/listening-time update period
const CATEGORIES = ["Excellent", "Good", "Fair", "Poor", "Bad"];  // BS.1534-3 quality scale
const INSTANCES = new WeakMap();

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

class MushraTrial {
  constructor(parent, data, setTriggerValue) {
    this.parent = parent;
    this.data = data;
    this.key = data.trial_key;
    this.setTriggerValue = setTriggerValue;
    this.n = data.stimuli.length;
    this.scores = new Array(this.n).fill(0);
    this.listened = new Array(this.n).fill(0);   // seconds each stimulus has sounded
    this.playCounts = new Array(this.n).fill(0);
    this.moved = new Array(this.n).fill(false);
    this.buffers = null;                          // [reference, stimulus 0, ...]
    this.active = null;                           // "R" or a stimulus index
    this.source = null;                           // {src, gain, index}
    this.playing = false;
    this.startCtxTime = 0;
    this.startOffset = 0;
    this.pausedPos = 0;
    this.loop = { start: 0, end: 0 };
    this.lastTick = null;
    this.submitting = false;
    this.destroyed = false;
    this.mountedAt = performance.now();
    this.build();
    this.audio = new (window.AudioContext || window.webkitAudioContext)();
    this.master = this.audio.createGain();
    this.master.connect(this.audio.destination);
    this.onKey = (ev) => this.handleKey(ev);
    document.addEventListener("keydown", this.onKey);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.load();
  }

  // ---------------------------------------------------------------- DOM
  build() {
    const d = this.data;
    const root = el("div", { class: "mushra", "data-loaded": "false", "data-playing": "false",
                             "data-active": "", "data-playhead": "0", "data-position": String(d.position) });
    this.root = root;
    const bar = el("div", { class: "mushra-bar" });
    this.refButton = el("button", { class: "mushra-ref", type: "button", title: "Play the reference (r)" },
                        "Reference");
    this.refButton.addEventListener("click", () => this.select("R"));
    this.stopButton = el("button", { class: "mushra-stop", type: "button", title: "Stop (space)" }, "Stop");
    this.stopButton.addEventListener("click", () => this.stop());
    this.status = el("span", { class: "mushra-status", role: "status" }, "Loading audio…");
    bar.append(this.refButton, this.stopButton, this.status);

    this.canvas = el("canvas", { class: "mushra-wave", height: "72",
                                 title: "Click to jump, drag to loop a region, double-click to loop all" });
    this.loopInfo = el("div", { class: "mushra-loop" }, "");

    const grid = el("div", { class: "mushra-grid" });
    grid.style.gridTemplateColumns = `5.5em repeat(${this.n}, minmax(3.2em, 6em))`;
    const scale = el("div", { class: "mushra-scale" });
    CATEGORIES.forEach((name, i) => {
      const band = el("div", { class: "mushra-band" });
      band.append(el("span", { class: "mushra-band-name" }, name),
                  el("span", { class: "mushra-band-top" }, String(100 - 20 * i)));
      scale.append(band);
    });
    grid.append(el("div", { class: "mushra-head" }));  // row 1: corner cell, then one play button per version
    this.playButtons = d.stimuli.map((s, i) => {
      const b = el("button", { class: "mushra-play", type: "button", "data-slot": String(i),
                               title: `Play ${s.label} (${i < 9 ? i + 1 : i === 9 ? 0 : "-"})` }, s.label);
      b.addEventListener("click", () => this.select(i));
      grid.append(b);
      return b;
    });
    grid.append(scale);
    this.sliders = [];
    this.outputs = [];
    d.stimuli.forEach((s, i) => {
      const col = el("div", { class: "mushra-col" });
      const input = el("input", { type: "range", min: "0", max: "100", step: "1", value: "0",
                                  class: "mushra-slider", "aria-label": `Score of ${s.label}`,
                                  "data-slot": String(i) });
      const out = el("output", { class: "mushra-score" }, "0");
      input.addEventListener("input", () => {
        this.scores[i] = Number(input.value);
        this.moved[i] = true;
        out.textContent = input.value;
        this.refresh();
      });
      col.append(input, out);
      grid.append(col);
      this.sliders.push(input);
      this.outputs.push(out);
    });

    const foot = el("div", { class: "mushra-foot" });
    this.submitButton = el("button", { class: "mushra-submit", type: "button", disabled: "" },
                           d.submit_label || "Submit and continue");
    this.submitButton.addEventListener("click", () => this.submit());
    this.reason = el("span", { class: "mushra-reason", role: "status" }, "");
    foot.append(this.submitButton, this.reason);

    root.append(bar, this.canvas, this.loopInfo, grid, foot);
    this.parent.append(root);
    this.installWaveformMouse();
    this.setControlsEnabled(false);
  }

  setControlsEnabled(on) {
    for (const b of [this.refButton, this.stopButton, ...this.playButtons]) b.disabled = !on;
  }

  // ---------------------------------------------------------------- loading
  async load() {
    const urls = [this.data.reference, ...this.data.stimuli.map((s) => s.url)];
    try {
      const raw = await Promise.all(urls.map(async (u) => {
        const r = await fetch(u, { credentials: "same-origin" });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.arrayBuffer();
      }));
      this.buffers = await Promise.all(raw.map((b) => this.audio.decodeAudioData(b)));
    } catch (err) {
      this.status.textContent = `Could not load the audio (${err.message}); reload the page.`;
      return;
    }
    if (this.destroyed) return;
    this.loop = { start: 0, end: this.buffers[0].duration };
    this.setControlsEnabled(true);
    this.status.textContent = "Ready: play the reference and every version.";
    this.root.dataset.loaded = "true";
    this.drawWave();
    this.refresh();
  }

  // ---------------------------------------------------------------- playback
  buffer(target) { return target === "R" ? this.buffers[0] : this.buffers[target + 1]; }

  position() {
    if (!this.playing) return this.pausedPos;
    const { start, end } = this.loop;
    let p = this.startOffset + (this.audio.currentTime - this.startCtxTime);
    if (p >= end && end > start) p = start + ((p - start) % (end - start));
    return p;
  }

  startSource(target, offset) {
    const buf = this.buffer(target);
    const src = this.audio.createBufferSource();
    src.buffer = buf;
    src.loop = true;
    src.loopStart = Math.min(this.loop.start, buf.duration);
    src.loopEnd = Math.min(this.loop.end, buf.duration);
    const gain = this.audio.createGain();
    src.connect(gain).connect(this.master);
    const t = this.audio.currentTime;
    gain.gain.setValueAtTime(0, t);
    gain.gain.linearRampToValueAtTime(1, t + FADE_S);
    const at = Math.min(Math.max(offset, 0), Math.max(buf.duration - 1e-3, 0));
    src.start(t, at);
    this.source = { src, gain, target };
    this.startCtxTime = t;
    this.startOffset = at;
    return at;
  }

  fadeOut(source) {
    if (!source) return;
    const t = this.audio.currentTime;
    source.gain.gain.cancelScheduledValues(t);
    source.gain.gain.setValueAtTime(source.gain.gain.value, t);
    source.gain.gain.linearRampToValueAtTime(0, t + FADE_S);
    try { source.src.stop(t + FADE_S + 0.005); } catch (e) { /* already stopped */ }
  }

  select(target) {
    if (!this.buffers || this.submitting) return;
    if (this.audio.state === "suspended") this.audio.resume();
    const before = this.position();
    const from = this.active;
    if (this.playing && from === target) { this.stop(); return; }  // second press stops
    if (this.playing) this.fadeOut(this.source);
    const offset = this.startSource(target, this.playing ? before : this.pausedPos);
    this.playing = true;
    this.active = target;
    this.lastTick = this.audio.currentTime;
    if (target !== "R") this.playCounts[target] += 1;
    this.root.dataset.lastSwitch = JSON.stringify({ from: this.label(from), to: this.label(target),
                                                    before: Number(before.toFixed(4)),
                                                    offset: Number(offset.toFixed(4)) });
    this.refresh();
  }

  stop() {
    if (!this.playing) return;
    this.fadeOut(this.source);
    this.source = null;
    this.playing = false;
    this.pausedPos = this.loop.start;   // like a tape transport: stop returns to the loop start
    this.active = null;
    this.refresh();
  }

  label(target) {
    if (target === null || target === undefined) return "";
    return target === "R" ? "R" : this.data.stimuli[target].label;
  }

  tick() {
    if (this.destroyed || !this.buffers) return;
    if (this.playing) {
      const now = this.audio.currentTime;
      if (this.active !== "R" && this.lastTick !== null) this.listened[this.active] += Math.max(0, now - this.lastTick);
      this.lastTick = now;
      this.refresh();
    }
    this.root.dataset.playhead = this.position().toFixed(4);
    this.drawWave();
  }

  // ---------------------------------------------------------------- loop region / waveform
  installWaveformMouse() {
    let downX = null;
    const toTime = (ev) => {
      const r = this.canvas.getBoundingClientRect();
      const f = Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 1);
      return f * (this.buffers ? this.buffers[0].duration : 0);
    };
    this.canvas.addEventListener("pointerdown", (ev) => {
      if (!this.buffers) return;
      downX = ev.clientX;
      this.dragFrom = toTime(ev);
      this.canvas.setPointerCapture(ev.pointerId);
    });
    this.canvas.addEventListener("pointermove", (ev) => {
      if (downX === null || Math.abs(ev.clientX - downX) < 4) return;
      const t = toTime(ev);
      this.dragRegion = [Math.min(this.dragFrom, t), Math.max(this.dragFrom, t)];
    });
    this.canvas.addEventListener("pointerup", (ev) => {
      if (downX === null) return;
      const dragged = Math.abs(ev.clientX - downX) >= 4;
      downX = null;
      if (dragged && this.dragRegion && this.dragRegion[1] - this.dragRegion[0] >= 0.2) {
        this.setLoop(this.dragRegion[0], this.dragRegion[1]);
      } else if (!dragged) {
        this.seek(toTime(ev));
      }
      this.dragRegion = null;
    });
    this.canvas.addEventListener("dblclick", () => {
      if (this.buffers) this.setLoop(0, this.buffers[0].duration);
    });
  }

  setLoop(start, end) {
    this.loop = { start, end };
    if (this.playing) {
      const pos = this.position();
      this.fadeOut(this.source);
      this.startSource(this.active, pos >= start && pos < end ? pos : start);
    } else {
      this.pausedPos = start;
    }
    this.refresh();
  }

  seek(t) {
    const { start, end } = this.loop;
    const pos = t >= start && t < end ? t : start;
    if (this.playing) {
      this.fadeOut(this.source);
      this.startSource(this.active, pos);
    } else {
      this.pausedPos = pos;
    }
  }

  drawWave() {
    const c = this.canvas;
    const width = c.clientWidth || 600;
    if (c.width !== width) { c.width = width; this.peaks = null; }
    const g = c.getContext("2d");
    const h = c.height;
    g.clearRect(0, 0, width, h);
    if (!this.buffers) return;
    const ref = this.buffers[0];
    const dur = ref.duration;
    if (!this.peaks) {  // min/max envelope of the reference, one pair per pixel column
      const x = ref.getChannelData(0);
      const step = Math.max(1, Math.floor(x.length / width));
      this.peaks = [];
      for (let i = 0; i < width; i++) {
        let lo = 0, hi = 0;
        for (let j = i * step; j < Math.min((i + 1) * step, x.length); j++) {
          if (x[j] < lo) lo = x[j];
          if (x[j] > hi) hi = x[j];
        }
        this.peaks.push([lo, hi]);
      }
    }
    const region = this.dragRegion || [this.loop.start, this.loop.end];
    if (region[1] - region[0] < dur - 1e-6) {  // shade only a chosen part, not the whole file
      g.fillStyle = "rgba(255, 75, 75, 0.15)";
      g.fillRect(region[0] / dur * width, 0, (region[1] - region[0]) / dur * width, h);
    }
    g.fillStyle = "rgba(120, 120, 130, 0.9)";
    this.peaks.forEach(([lo, hi], i) => {
      const y0 = (1 - hi) * h / 2, y1 = (1 - lo) * h / 2;
      g.fillRect(i, y0, 1, Math.max(1, y1 - y0));
    });
    const px = this.position() / dur * width;
    g.fillStyle = "rgb(255, 75, 75)";
    g.fillRect(px, 0, 2, h);
  }

  // ---------------------------------------------------------------- rules, keyboard, submit
  playedFlags() {
    const need = this.data.rules.min_listen_s;
    return this.buffers ? this.listened.map((s, i) =>
      s >= Math.min(need, 0.9 * this.buffers[i + 1].duration)) : this.listened.map(() => false);
  }

  blockers() {
    const reasons = [];
    const played = this.playedFlags();
    const missing = played.filter((p) => !p).length;
    if (this.data.rules.all_played && missing) reasons.push(`play every version (${missing} not played yet)`);
    if (this.data.rules.one_rated_100 && !this.scores.includes(100)) reasons.push("rate at least one version 100");
    return reasons;
  }

  refresh() {
    const played = this.playedFlags();
    this.playButtons.forEach((b, i) => {
      b.classList.toggle("is-active", this.playing && this.active === i);
      b.classList.toggle("is-played", played[i]);
    });
    this.refButton.classList.toggle("is-active", this.playing && this.active === "R");
    this.root.dataset.playing = String(this.playing);
    this.root.dataset.active = this.playing ? this.label(this.active) : "";
    this.root.dataset.played = played.map((p) => (p ? "1" : "0")).join("");
    const { start, end } = this.loop;
    this.loopInfo.textContent = this.buffers
      ? `Loop ${start.toFixed(2)}–${end.toFixed(2)} s · drag on the waveform to loop a part, double-click for all`
      : "";
    if (this.submitting) return;
    const reasons = this.buffers ? this.blockers() : ["the audio is still loading"];
    this.submitButton.disabled = reasons.length > 0;
    this.reason.textContent = reasons.length ? `To continue: ${reasons.join("; ")}.` : "";
  }

  handleKey(ev) {
    if (this.destroyed || !this.root.isConnected || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const typing = t && (t.isContentEditable || ["TEXTAREA", "SELECT"].includes(t.tagName) ||
                         (t.tagName === "INPUT" && !["range", "button", "checkbox"].includes(t.type)));
    if (typing) return;
    if (ev.key === " ") {
      ev.preventDefault();
      if (this.playing) this.stop();
      else this.select(this.lastTarget ?? "R");
    } else if (ev.key === "r" || ev.key === "R") {
      this.select("R");
    } else if (/^[0-9]$/.test(ev.key)) {
      const i = ev.key === "0" ? 9 : Number(ev.key) - 1;
      if (i < this.n) this.select(i);
    } else {
      return;
    }
    if (this.active !== null) this.lastTarget = this.active;
  }

  async submit() {
    if (this.submitting || this.blockers().length) return;
    this.submitting = true;
    this.submitButton.disabled = true;
    this.reason.textContent = "Saving…";
    const played = this.playedFlags();
    const ratings = {};
    for (let i = 0; i < this.n; i++) {
      ratings[String(i)] = { score: this.scores[i], played: played[i], play_count: this.playCounts[i] };
    }
    const body = { position: this.data.position, ratings,
                   time_on_page_s: (performance.now() - this.mountedAt) / 1000 };
    let answer = null;
    try {
      const r = await fetch(this.data.submit_url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.data.token}` },
        body: JSON.stringify(body),
      });
      answer = await r.json().catch(() => ({ ok: false, error: `HTTP ${r.status}` }));
    } catch (err) {
      answer = { ok: false, error: "the network is unreachable; your ratings are kept here, try again" };
    }
    if (!answer.ok) {
      this.submitting = false;
      this.refresh();
      this.reason.textContent = `Not saved: ${answer.error}`;
      return;
    }
    this.stop();
    this.reason.textContent = "Saved.";
    this.root.dataset.saved = "true";
    this.setTriggerValue("submitted", { position: this.data.position, finished: answer.finished });
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.timer);
    document.removeEventListener("keydown", this.onKey);
    try { this.fadeOut(this.source); } catch (e) { /* context closed */ }
    this.audio.close();
    this.root.remove();
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let trial = INSTANCES.get(parentElement);
  // Reruns with the same trial keep the decoded audio and the listener's slider positions.
  if (!trial || trial.destroyed || trial.key !== data.trial_key) {
    if (trial) trial.destroy();
    trial = new MushraTrial(parentElement, data, setTriggerValue);
    INSTANCES.set(parentElement, trial);
  } else {
    trial.setTriggerValue = setTriggerValue;
  }
  return () => {
    trial.destroy();
    INSTANCES.delete(parentElement);
  };
}
