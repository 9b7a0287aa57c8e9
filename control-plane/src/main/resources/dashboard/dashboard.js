// The dynamollm dashboard: polls the admin API of the node that served it and draws with uPlot (bundled in the jar).
"use strict";
(function () {
  const TYPES = ["SS", "SM", "SL", "MS", "MM", "ML", "LS", "LM", "LL"];
  const EVERY_MS = 2000;
  const state = { charts: {}, polls: 0, pools: [], slos: {}, limits: null, loadSeries: [], errors: 0 };
  window.dashboard = state; // read by the browser test

  const $ = (id) => document.getElementById(id);
  const text = (s) => document.createTextNode(s == null ? "" : String(s));
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.appendChild(typeof c === "object" ? c : text(c));
    return e;
  }

  async function getJson(path) {
    const r = await fetch(path, { headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  function chart(id, series, yLabel) {
    const node = $(id);
    const width = Math.max(320, node.clientWidth || 420);
    const opts = {
      width, height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: yLabel, size: 60 }],
      series: [{}].concat(series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))),
    };
    const empty = [[]].concat(series.map(() => []));
    return new uPlot(opts, empty, node);
  }

  const COLORS = ["#2563eb", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#06aed4", "#f04438", "#667085", "#84cc16"];

  function drawHistory(points) {
    if (!state.charts.power) {
      state.charts.power = chart("chart-power", [{ label: "power", color: "#2563eb" },
        { label: "watt budget", color: "#f04438" }], "kW");
      state.charts.energy = chart("chart-energy", [{ label: "energy", color: "#12b76a" }], "kWh");
    }
    const t = points.map((p) => p.at / 1000);
    // the operator's watt budget as a line over the power (none: no line)
    const budgetW = state.limits && state.limits.power_budget_w ? state.limits.power_budget_w : null;
    state.charts.power.setData([t, points.map((p) => p.power_w / 1000), t.map(() => (budgetW ? budgetW / 1000 : null))]);
    const e0 = points.length ? points[0].energy_j : 0;
    state.charts.energy.setData([t, points.map((p) => (p.energy_j - e0) / 3.6e6)]);
    state.powerPoints = points.length;
    // load vs capacity: each pool's observed load and capacity (planned load dashed into the legend)
    const pools = Array.from(new Set(points.flatMap((p) => Object.keys(p.pools)))).sort();
    const key = pools.join(",");
    if (state.loadKey !== key) {
      if (state.charts.load) { state.charts.load.destroy(); }
      $("chart-load").innerHTML = "";
      const series = [];
      pools.forEach((name, k) => {
        series.push({ label: name + " observed", color: COLORS[k % COLORS.length] });
        series.push({ label: name + " capacity", color: COLORS[k % COLORS.length] + "88" });
      });
      state.charts.load = chart("chart-load", series, "req/s");
      state.loadKey = key;
    }
    const data = [t];
    pools.forEach((name) => {
      data.push(points.map((p) => (p.pools[name] ? p.pools[name].observed_rps : null)));
      data.push(points.map((p) => (p.pools[name] ? p.pools[name].capacity_rps : null)));
    });
    state.charts.load.setData(data);
    state.loadSeries = pools;

    const last = points[points.length - 1];
    if (last) {
      $("power").textContent = (last.power_w / 1000).toFixed(2) + " kW"
        + (budgetW ? " of a " + (budgetW / 1000).toFixed(2) + " kW budget" : "");
      $("energy").textContent = (last.energy_j / 3.6e6).toFixed(3) + " kWh";
      drawAttainment(last);
    }
  }

  function drawAttainment(last) {
    let served = 0, met = 0;
    const box = $("attainment-types");
    box.innerHTML = "";
    for (const t of TYPES) {
      const n = last.served[t] || 0, m = last.met[t] || 0;
      served += n; met += m;
      const share = n ? m / n : null;
      const bar = el("div", { class: "bar" + (share != null && share < 0.95 ? " low" : ""), "data-type": t },
        el("strong", {}, t), text(" " + (share == null ? "no requests" : (100 * share).toFixed(1) + " % of " + n)));
      const track = el("div", { class: "track" }, el("div", { class: "fill" }));
      track.firstChild.style.width = share == null ? "0" : (100 * share).toFixed(1) + "%";
      bar.appendChild(track);
      box.appendChild(bar);
    }
    $("attainment").textContent = served ? (100 * met / served).toFixed(1) + " %" : "–";
  }

  function drawPools(pools) {
    state.pools = pools.map((p) => p.pool);
    const box = $("pools");
    box.innerHTML = "";
    if (!pools.length) box.appendChild(el("p", {}, "no pools yet: the cluster manager budgets once GPU hosts are listed"));
    for (const p of pools) {
      const rows = el("tbody");
      for (const i of p.instances) {
        rows.appendChild(el("tr", {}, el("td", {}, i.id), el("td", {}, "TP" + i.tp), el("td", {}, i.freq_mhz + " MHz"),
          el("td", { class: "state-" + i.state }, i.state), el("td", {}, i.load_rps.toFixed(2) + " req/s"),
          el("td", {}, (i.power_w / 1000).toFixed(2) + " kW")));
      }
      box.appendChild(el("div", { class: "pool", "data-pool": p.pool },
        el("h3", {}, "pool " + p.pool + " — " + p.plan),
        el("div", { class: "meta" }, "types " + p.types.join(", ") + " · " + p.budget_gpus + " GPUs budgeted · load "
          + p.observed_load_rps.toFixed(2) + " observed / " + p.planned_load_rps.toFixed(2) + " planned / "
          + p.capacity_rps.toFixed(2) + " capacity req/s · capacity correction ×" + p.capacity_correction.toFixed(2)
          + " · attainment " + (100 * p.attainment).toFixed(1) + " %"),
        el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, "instance"), el("th", {}, "TP"),
          el("th", {}, "clock"), el("th", {}, "state"), el("th", {}, "load"), el("th", {}, "power"))), rows)));
    }
  }

  function drawDecisions(ds) {
    const body = $("decisions").querySelector("tbody");
    body.innerHTML = "";
    for (const d of ds) {
      body.appendChild(el("tr", {}, el("td", {}, new Date(d.at).toLocaleTimeString()), el("td", {}, d.level),
        el("td", {}, d.target), el("td", {}, d.action), el("td", {}, d.reason)));
    }
  }

  function drawSettings(slos, limits) {
    const body = $("slos").querySelector("tbody");
    const editing = document.activeElement && document.activeElement.closest && document.activeElement.closest("form");
    if (!editing) {
      state.slos = slos;
      body.innerHTML = "";
      for (const t of TYPES) {
        if (!slos[t]) continue;
        body.appendChild(el("tr", { "data-type": t }, el("td", {}, t),
          el("td", {}, el("input", { type: "number", step: "any", min: "0", name: t + "-ttft", value: slos[t].ttft_p99_ms })),
          el("td", {}, el("input", { type: "number", step: "any", min: "0", name: t + "-tbt", value: slos[t].tbt_p99_ms }))));
      }
      state.limits = limits;
      $("min_mhz").value = limits.min_mhz;
      $("max_mhz").value = limits.max_mhz;
      $("gpu_budget").value = limits.gpu_budget || "";
      $("power_budget_w").value = limits.power_budget_w || "";
    }
  }

  function result(msg, ok) {
    const r = $("form-result");
    r.textContent = msg;
    r.className = "result " + (ok ? "ok" : "error");
  }

  async function put(path, body) {
    const token = $("token").value.trim();
    sessionStorage.setItem("dynamollm-token", token);
    const r = await fetch(path, { method: "PUT", headers: { "Content-Type": "application/json",
      Authorization: "Bearer " + token }, body: JSON.stringify(body) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(path + ": " + (j.message || ("HTTP " + r.status)));
    return j;
  }

  $("slo-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const changed = [];
    try {
      for (const t of TYPES) {
        const ttft = document.querySelector(`[name=${t}-ttft]`), tbt = document.querySelector(`[name=${t}-tbt]`);
        if (!ttft || !state.slos[t]) continue;
        const a = Number(ttft.value), b = Number(tbt.value);
        if (a !== state.slos[t].ttft_p99_ms || b !== state.slos[t].tbt_p99_ms) {
          await put("/api/v1/slos/" + t, { ttft_p99_ms: a, tbt_p99_ms: b });
          changed.push(t);
        }
      }
      result(changed.length ? "saved (majority): " + changed.join(", ") : "no SLO changed", true);
      document.activeElement.blur();
    } catch (e) {
      result(e.message, false);
    }
  });

  $("limits-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const budget = $("gpu_budget").value.trim();
    const watts = $("power_budget_w").value.trim();
    try {
      await put("/api/v1/limits", { min_mhz: Number($("min_mhz").value), max_mhz: Number($("max_mhz").value),
        gpu_budget: budget === "" ? null : Number(budget), power_budget_w: watts === "" ? null : Number(watts) });
      result("limits saved (majority)", true);
      document.activeElement.blur();
    } catch (e) {
      result(e.message, false);
    }
  });

  async function poll() {
    try {
      const [history, pools, decisions, cluster, slos, limits] = await Promise.all([getJson("/api/v1/telemetry"),
        getJson("/api/v1/pools"), getJson("/api/v1/decisions?limit=25"), getJson("/api/v1/cluster"),
        getJson("/api/v1/slos"), getJson("/api/v1/limits")]);
      drawHistory(history.points);
      drawPools(pools);
      drawDecisions(decisions);
      drawSettings(slos, limits);
      $("members").textContent = cluster.members.length + " nodes, " + (cluster.hosts || []).length + " GPU hosts";
      state.polls++;
      $("status").textContent = "updated " + new Date().toLocaleTimeString() + " · every " + EVERY_MS / 1000 + " s";
      $("status").className = "status";
    } catch (e) {
      state.errors++;
      $("status").textContent = "cannot reach the node: " + e.message;
      $("status").className = "status error";
    }
    setTimeout(poll, EVERY_MS);
  }

  $("token").value = sessionStorage.getItem("dynamollm-token") || "";
  poll();
})();
