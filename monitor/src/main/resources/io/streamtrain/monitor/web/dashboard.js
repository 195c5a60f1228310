// streamtrain dashboard: keeps the last value per (run, step) from /api/events (Server-Sent Events) and draws one
// series per run with uPlot. After each draw a chart's element carries data-points (points drawn, raw series only),
// data-points-by-run (JSON: run -> points), data-smoothed-points-by-run (the loss chart's EMA series),
// data-held-out-points-by-run (the held-out evaluations drawn on the loss, perplexity and accuracy charts) and data-draws
// (how many draws so far); the ranks tiles, the per-rank throughput and all-reduce charts and the recent steps' ranks
// column show only while a run shown has a step of more than one data-parallel rank (body class data-parallel);
// window.streamtrainDashboard
// exposes the same for tests and for the curious. The legend's check boxes choose the runs shown (charts, tables,
// samples, tiles), the smoothing slider sets the loss chart's EMA weight (0 = none), and both survive a reload
// (localStorage).
(function () {
  'use strict';

  const EMA_WEIGHT = 0.9; // the default, the same as io.streamtrain.monitor.internal.Smoothing.EMA_WEIGHT
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
  const RECENT_STEPS = 15;
  const SPIKE_COLOR = '#b00020';
  const SHOWN_SPIKES = 10;
  const SHOWN_SAMPLES = 6;

  // Each chart: the value drawn per step, or against the seconds since the run's first step (time).
  const CHARTS = [
    { id: 'chart-loss', label: 'loss', value: m => m.loss, smooth: true, heldOut: m => m.evalLoss, spikes: true },
    { id: 'chart-perplexity', label: 'perplexity', value: m => m.perplexity, log: true, heldOut: m => m.evalPerplexity },
    { id: 'chart-accuracy', label: 'accuracy', value: m => m.accuracy, heldOut: m => m.evalAccuracy },
    { id: 'chart-tokens-per-s', label: 'tokens/s', value: m => m.tokensPerSecond },
    { id: 'chart-learning-rate', label: 'learning rate', value: m => m.learningRate },
    // log scale: a spike of 270 among norms of 1 would otherwise flatten every other point into the axis
    { id: 'chart-gradient-norm', label: 'gradient norm', value: m => m.gradientNorm, log: true, spikes: true },
    { id: 'chart-loss-vs-time', label: 'loss', value: m => m.loss, time: true },
    // data parallelism (steps of more than one rank only): what each rank trained on average, and rank 0's all-reduce
    { id: 'chart-tokens-per-s-per-rank', label: 'tokens/s per rank',
      value: m => isDataParallel(m) && m.tokensPerSecond !== null ? m.tokensPerSecond / m.ranks : null },
    { id: 'chart-all-reduce', label: 'all-reduce ms', value: m => isDataParallel(m) ? m.allReduceMillis : null },
  ];

  function isDataParallel(m) {
    return m.ranks > 1; // null (one model, or a record before v3) is not
  }

  const state = {
    epoch: null,
    runs: [],                // run ids in first-seen order
    metrics: new Map(),      // run -> Map(step -> metrics)
    samples: new Map(),      // run -> Map(step + '\u0000' + prompt -> sample)
    deadLetters: { count: 0, recent: [] },
    undecodable: 0,
    lag: null,
    updates: 0,
    hidden: new Set(stored('streamtrain.hiddenRuns', [])), // runs unticked in the legend
    smoothing: stored('streamtrain.smoothing', EMA_WEIGHT),  // the loss chart's EMA weight
  };

  function stored(key, fallback) {
    try {
      const value = JSON.parse(window.localStorage.getItem(key));
      return value === null ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: not kept */ }
  }

  // The runs drawn: every run known, in first-seen order, less those unticked in the legend.
  function shownRuns() {
    return state.runs.filter(run => !state.hidden.has(run));
  }

  function requestDraw() {
    if (!drawPending) {
      drawPending = true;
      requestAnimationFrame(() => { drawPending = false; draw(); });
    }
  }
  const plots = new Map();   // chart id -> { plot, structure }
  let drawPending = false;

  function apply(update) {
    if (update.complete || update.epoch !== state.epoch) {
      state.metrics.clear();
      state.samples.clear();
    }
    state.epoch = update.epoch;
    for (const m of update.metrics) {
      if (!state.metrics.has(m.run)) state.metrics.set(m.run, new Map());
      state.metrics.get(m.run).set(m.step, m);
    }
    for (const s of update.samples) {
      if (!state.samples.has(s.run)) state.samples.set(s.run, new Map());
      state.samples.get(s.run).set(s.step + '\u0000' + s.prompt, s);
    }
    const kept = new Set(update.runs);
    for (const run of [...state.metrics.keys()]) if (!kept.has(run)) state.metrics.delete(run);
    for (const run of [...state.samples.keys()]) if (!kept.has(run)) state.samples.delete(run);
    state.runs = update.runs;
    state.deadLetters = update.deadLetters;
    state.undecodable = update.undecodable;
    state.lag = update.lag;
    state.updates++;
    requestDraw();
  }

  function color(run) {
    return COLORS[state.runs.indexOf(run) % COLORS.length];
  }

  function sortedMetrics(run) {
    const byStep = state.metrics.get(run);
    return byStep ? [...byStep.values()].sort((a, b) => a.step - b.step) : [];
  }

  function ema(values, weight) {
    let average = 0, power = 1;
    // Slots where the run has no value (another run's steps) stay empty: the smoothed line ends where the run ends.
    return values.map(v => {
      if (v === null || !Number.isFinite(v)) return null;
      if (weight <= 0) return v;
      average = weight * average + (1 - weight) * v;
      power *= weight;
      return average / (1 - power);
    });
  }

  // Axis ticks: small numbers such as learning rates in exponent form, the rest as uPlot would.
  function tick(v) {
    if (v === null) return '';
    const magnitude = Math.abs(v);
    return magnitude !== 0 && (magnitude < 0.01 || magnitude >= 1e6) ? v.toExponential(1) : String(Number(v.toPrecision(6)));
  }

  function finite(v) {
    return v === null || v === undefined || !Number.isFinite(v) ? null : v;
  }

  // uPlot wants one ascending x array shared by every series: the union of the runs' x values, null where a run has none.
  // Held-out evaluations (charts with heldOut) share the step slots, in a series of their own per run.
  function chartData(chart, runs) {
    const points = []; // [x, runIndex, y, held-out?, spike?]
    const usable = y => y !== null && (!chart.log || y > 0);
    runs.forEach((run, r) => {
      const metrics = sortedMetrics(run);
      const firstTime = metrics.length ? metrics[0].time : 0;
      for (const m of metrics) {
        const x = finite(chart.time ? (m.time - firstTime) / 1000 : m.step);
        const y = finite(chart.value(m));
        const h = chart.heldOut ? finite(chart.heldOut(m)) : null;
        if (x !== null && usable(y)) points.push([x, r, y, false, !!m.spike]);
        if (x !== null && usable(h)) points.push([x, r, h, true]);
      }
    });
    points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const xs = [];
    const ys = runs.map(() => []);
    const heldOut = runs.map(() => []);
    const spikes = runs.map(() => []);
    for (const [x, r, y, held, spike] of points) {
      // Points of one x (step, or second) share a slot.
      if (xs.length === 0 || xs[xs.length - 1] !== x) {
        xs.push(x);
        ys.forEach(series => series.push(null));
        heldOut.forEach(series => series.push(null));
        spikes.forEach(series => series.push(null));
      }
      (held ? heldOut : ys)[r][xs.length - 1] = y;
      if (spike) spikes[r][xs.length - 1] = y;
    }
    const data = [xs];
    ys.forEach((series, r) => {
      data.push(series);
      if (chart.smooth) data.push(ema(series, state.smoothing));
      if (chart.heldOut) data.push(heldOut[r]);
      if (chart.spikes) data.push(spikes[r]);
    });
    return data;
  }

  function structure(chart, runs) {
    const series = [{ label: xLabel(chart) }];
    for (const run of runs) {
      series.push({ label: chart.smooth ? run + ' raw' : run, stroke: color(run), width: chart.smooth ? 1 : 1.5, spanGaps: true,
        alpha: chart.smooth ? 0.45 : 1, points: { show: false }, run });
      if (chart.smooth) series.push({ label: run + ' EMA', stroke: color(run), width: 2.5, spanGaps: true, points: { show: false }, smoothedRun: run });
      if (chart.heldOut) series.push({ label: run + ' held-out', stroke: color(run), width: 2, dash: [6, 4], spanGaps: true,
        points: { show: true, size: 7, fill: '#fff', stroke: color(run) }, heldOutRun: run });
      if (chart.spikes) series.push({ label: run + ' spikes', stroke: SPIKE_COLOR, width: 0, paths: () => null,
        points: { show: true, size: 9, fill: SPIKE_COLOR, stroke: SPIKE_COLOR }, spikeRun: run });
    }
    return series;
  }

  function xLabel(chart) {
    return chart.time ? 'seconds since the run\'s first step' : 'step';
  }

  function countPoints(chart, element, plot) {
    const byRun = {};
    const smoothedByRun = {};
    const heldOutByRun = {};
    const spikesByRun = {};
    let total = 0;
    plot.series.forEach((series, i) => {
      if (i === 0) return;
      const n = plot.data[i].filter(v => v !== null && v !== undefined).length;
      if (series.run) {
        byRun[series.run] = n;
        total += n;
      } else if (series.smoothedRun) {
        smoothedByRun[series.smoothedRun] = n;
      } else if (series.heldOutRun) {
        heldOutByRun[series.heldOutRun] = n;
      } else if (series.spikeRun) {
        spikesByRun[series.spikeRun] = n;
      }
    });
    element.dataset.points = String(total);
    element.dataset.pointsByRun = JSON.stringify(byRun);
    element.dataset.smoothedPointsByRun = JSON.stringify(smoothedByRun);
    element.dataset.heldOutPointsByRun = JSON.stringify(heldOutByRun);
    element.dataset.spikePointsByRun = JSON.stringify(spikesByRun);
    element.dataset.draws = String(Number(element.dataset.draws || 0) + 1);
    element.dataset.scale = chart.log ? 'log' : 'linear';
  }

  function drawChart(chart) {
    const element = document.getElementById(chart.id);
    const runs = shownRuns().filter(run => state.metrics.has(run));
    const data = chartData(chart, runs);
    const key = runs.join('\u0000');
    const existing = plots.get(chart.id);
    if (existing && existing.key === key) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    const options = {
      width: Math.max(300, element.clientWidth || 460),
      height: 240,
      legend: { show: false },
      scales: { x: { time: false }, y: chart.log ? { distr: 3 } : {} },
      axes: [{ label: xLabel(chart) }, { label: chart.label, size: 64, values: (plot, splits) => splits.map(tick) }],
      series: structure(chart, runs),
      hooks: { draw: [plot => countPoints(chart, element, plot)] },
    };
    plots.set(chart.id, { key, plot: new uPlot(options, data, element) });
  }

  function text(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = content;
    return node;
  }

  function number(v, digits) {
    return v === null || v === undefined ? '–' : Number(v).toFixed(digits);
  }

  function drawRecentSteps() {
    const recent = [];
    for (const run of shownRuns()) recent.push(...sortedMetrics(run).slice(-RECENT_STEPS));
    recent.sort((a, b) => b.time - a.time || b.step - a.step);
    const body = document.querySelector('#recent-steps tbody');
    body.replaceChildren(...recent.slice(0, RECENT_STEPS).map(m => {
      const row = document.createElement('tr');
      const cells = [m.run, String(m.step), number(m.loss, 4), number(m.evalLoss, 4), number(m.accuracy, 3), number(m.perplexity, 2),
        number(m.tokensPerSecond, 0),
        m.learningRate === null ? '–' : m.learningRate.toExponential(2), number(m.gradientNorm, 3),
        number(m.waitMillis, 1) + ' / ' + number(m.computeMillis, 1) + ' / ' + number(m.emitMillis, 1),
        isDataParallel(m) ? m.ranks + ' / ' + m.globalRows + ' / ' + number(m.allReduceMillis, 1) : '–'];
      cells.forEach(c => row.appendChild(text('td', null, c)));
      row.lastChild.className = 'data-parallel-only';
      row.firstChild.style.color = color(m.run);
      if (m.spike) {
        row.className = 'spike';
        row.title = 'spike: ' + m.spike;
      }
      return row;
    }));
  }

  function drawSamples() {
    const all = [];
    for (const run of shownRuns()) if (state.samples.has(run)) all.push(...state.samples.get(run).values());
    all.sort((a, b) => b.time - a.time || b.step - a.step);
    const container = document.getElementById('samples');
    container.replaceChildren(...all.slice(0, SHOWN_SAMPLES).map(s => {
      const box = text('div', 'sample', '');
      box.dataset.run = s.run;
      box.dataset.step = String(s.step);
      box.appendChild(text('div', 'meta', s.run + ' · step ' + s.step + ' · temperature ' + number(s.temperature, 2) + ' · top-k ' + s.topK));
      box.appendChild(text('pre', 'prompt', 'prompt:    ' + s.prompt));
      box.appendChild(text('pre', 'generated', 'generated: ' + s.generated));
      box.appendChild(text('pre', 'actual', 'actual:    ' + (s.actual || '(fixed prompt: no continuation)')));
      return box;
    }));
    container.dataset.samples = String(all.length);
  }

  function drawTiles() {
    const shown = shownRuns();
    document.getElementById('run-count').textContent = shown.length === state.runs.length ? String(state.runs.length)
      : shown.length + ' of ' + state.runs.length;
    // The latest step: the one trained last (by time) among the runs shown, and its run.
    let latest = null;
    for (const run of shown) {
      const metrics = sortedMetrics(run);
      const last = metrics[metrics.length - 1];
      if (last && (latest === null || last.time > latest.time || (last.time === latest.time && last.step > latest.step))) latest = last;
    }
    const latestTile = document.getElementById('latest-step');
    latestTile.textContent = latest === null ? '–' : String(latest.step);
    latestTile.dataset.run = latest === null ? '' : latest.run;
    latestTile.title = latest === null ? 'no step yet' : 'run ' + latest.run + ', step ' + latest.step;
    const latestRun = document.getElementById('latest-step-run');
    latestRun.textContent = latest === null ? '' : latest.run;
    latestRun.style.color = latest === null ? '' : color(latest.run);
    let best = null;
    for (const run of shown) {
      for (const m of sortedMetrics(run)) {
        if (finite(m.evalLoss) !== null && (best === null || m.evalLoss < best.evalLoss)) best = m;
      }
    }
    const bestTile = document.getElementById('best-held-out');
    bestTile.textContent = best === null ? '–' : number(best.evalLoss, 4) + ' @ ' + best.step;
    bestTile.title = best === null ? 'no held-out evaluation yet' : 'run ' + best.run + ', step ' + best.step;
    bestTile.dataset.step = best === null ? '' : String(best.step);
    const lag = document.getElementById('lag');
    if (!state.lag) {
      lag.textContent = '–';
      lag.title = 'not measured: start the monitor with the trainer\'s application id';
    } else if (state.lag.problem) {
      lag.textContent = '?';
      lag.title = state.lag.problem;
    } else {
      lag.textContent = String(state.lag.totalLag);
      lag.title = 'group ' + state.lag.groupId + ': ' + JSON.stringify(state.lag.byTopic);
    }
    const dead = document.getElementById('dead-letters');
    dead.textContent = String(state.deadLetters.count);
    dead.dataset.count = String(state.deadLetters.count);
    dead.classList.toggle('bad', state.deadLetters.count > 0);
    document.getElementById('undecodable').textContent = String(state.undecodable);
    document.querySelector('#dead-letter-table tbody').replaceChildren(...state.deadLetters.recent.slice().reverse().map(d => {
      const row = document.createElement('tr');
      [new Date(d.time).toLocaleTimeString(), d.sourceTopic, d.reason].forEach(c => row.appendChild(text('td', null, c)));
      return row;
    }));
    drawSpikes(shown);
    drawRanks(shown);
    drawLegend();
  }

  // The latest data-parallel step among the runs shown: its ranks, global rows and all-reduce time. Without one, the
  // ranks' tiles, charts and column are hidden (body class data-parallel).
  function drawRanks(shown) {
    let latest = null;
    for (const run of shown) {
      const byStep = state.metrics.get(run);
      if (!byStep) continue;
      for (const m of byStep.values()) {
        if (isDataParallel(m) && (latest === null || m.time > latest.time || (m.time === latest.time && m.step > latest.step))) latest = m;
      }
    }
    const wasShown = document.body.classList.contains('data-parallel');
    document.body.classList.toggle('data-parallel', latest !== null);
    if (latest !== null && !wasShown) resizeCharts(); // drawn while hidden: now they have a width
    const ranks = document.getElementById('ranks');
    const rows = document.getElementById('ranks-rows');
    const allReduce = document.getElementById('all-reduce');
    if (latest === null) {
      ranks.textContent = '–';
      rows.textContent = '';
      allReduce.textContent = '–';
      return;
    }
    const where = 'run ' + latest.run + ', step ' + latest.step;
    ranks.textContent = String(latest.ranks);
    ranks.title = where + ': ' + latest.ranks + ' data-parallel ranks, a global batch of ' + latest.globalRows + ' rows, '
      + number(latest.tokensPerSecond === null ? null : latest.tokensPerSecond / latest.ranks, 0) + ' tokens/s per rank';
    rows.textContent = latest.globalRows + ' rows per step';
    allReduce.textContent = latest.allReduceMillis === null ? 'on GPU' : number(latest.allReduceMillis, 1) + ' ms';
    allReduce.title = latest.allReduceMillis === null
      ? where + ': NCCL sums the gradients on the GPU stream, inside the compute time'
      : where + ': rank 0\'s gradient all-reduce, the wait for the other ranks included';
  }

  // Steps the trainer reported as spikes (loss or gradient norm far above the recent average), newest first.
  function drawSpikes(shown) {
    const spikes = [];
    for (const run of shown) for (const m of sortedMetrics(run)) if (m.spike) spikes.push(m);
    spikes.sort((a, b) => b.time - a.time || b.step - a.step);
    const tile = document.getElementById('spikes');
    tile.textContent = String(spikes.length);
    tile.dataset.count = String(spikes.length);
    tile.classList.toggle('bad', spikes.length > 0);
    tile.title = spikes.length ? 'latest: run ' + spikes[0].run + ', step ' + spikes[0].step + ': ' + spikes[0].spike
      : 'no step\'s loss or gradient norm was far above its recent average';
    document.querySelector('#spike-table tbody').replaceChildren(...spikes.slice(0, SHOWN_SPIKES).map(m => {
      const row = document.createElement('tr');
      [m.run, String(m.step), m.spike].forEach(c => row.appendChild(text('td', null, c)));
      row.firstChild.style.color = color(m.run);
      return row;
    }));
  }

  // One check box per run: untick a run to hide it everywhere.
  function drawLegend() {
    const legend = document.getElementById('legend');
    const key = state.runs.join('\u0000') + '\u0001' + [...state.hidden].join('\u0000');
    if (legend.dataset.key === key) return;
    legend.dataset.key = key;
    legend.replaceChildren(...state.runs.map(run => {
      const item = document.createElement('label');
      item.style.setProperty('--color', color(run));
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = !state.hidden.has(run);
      box.dataset.run = run;
      box.addEventListener('change', () => showRun(run, box.checked));
      item.append(box, text('span', null, run));
      return item;
    }));
  }

  function showRun(run, shown) {
    if (shown) state.hidden.delete(run); else state.hidden.add(run);
    store('streamtrain.hiddenRuns', [...state.hidden]);
    requestDraw();
  }

  function setSmoothing(weight) {
    state.smoothing = Math.min(0.999, Math.max(0, Number(weight) || 0));
    store('streamtrain.smoothing', state.smoothing);
    const slider = document.getElementById('smoothing');
    if (Number(slider.value) !== state.smoothing) slider.value = String(state.smoothing);
    document.getElementById('smoothing-value').textContent = state.smoothing.toFixed(2);
    requestDraw();
  }

  function draw() {
    CHARTS.forEach(drawChart);
    drawRecentSteps();
    drawSamples();
    drawTiles();
    document.body.dataset.updates = String(state.updates);
  }

  function resizeCharts() {
    for (const [id, { plot }] of plots) plot.setSize({ width: Math.max(300, document.getElementById(id).clientWidth), height: 240 });
  }
  window.addEventListener('resize', resizeCharts);

  function controls() {
    const slider = document.getElementById('smoothing');
    slider.value = String(state.smoothing);
    document.getElementById('smoothing-value').textContent = Number(state.smoothing).toFixed(2);
    slider.addEventListener('input', () => setSmoothing(slider.value));
  }

  function connect() {
    const connection = document.getElementById('connection');
    const events = new EventSource('/api/events');
    events.addEventListener('open', () => { connection.textContent = 'live'; connection.classList.remove('bad'); });
    events.addEventListener('error', () => { connection.textContent = 'reconnecting…'; connection.classList.add('bad'); });
    events.addEventListener('update', event => apply(JSON.parse(event.data)));
  }

  window.streamtrainDashboard = {
    state,
    showRun,
    setSmoothing,
    /** The data a chart draws: [x, then per run raw, smoothed (loss), held-out (loss, perplexity, accuracy)]. */
    chartData(id) {
      const entry = plots.get(id);
      return entry ? entry.plot.data : null;
    },
    pointCounts() {
      const counts = {};
      for (const chart of CHARTS) {
        const element = document.getElementById(chart.id);
        counts[chart.id] = { points: Number(element.dataset.points || 0), byRun: JSON.parse(element.dataset.pointsByRun || '{}'),
          smoothedByRun: JSON.parse(element.dataset.smoothedPointsByRun || '{}'),
          heldOutByRun: JSON.parse(element.dataset.heldOutPointsByRun || '{}'),
          spikesByRun: JSON.parse(element.dataset.spikePointsByRun || '{}'), scale: element.dataset.scale || null };
      }
      return counts;
    },
  };
  controls();
  connect();
})();
