// cape dashboard: every number comes from cape's JSON API, every figure is
// an SVG drawn by cape's report code (GET/POST /api/figure). The state lives
// in the URL hash, so a link reproduces a view (an uploaded table must be
// given again: its text is not put in the link).
'use strict';

const DEFAULT_TABLE = 'data/benchmarks/paper/paper_base_63.csv';
const FRONTIER_TABLE = 'data/benchmarks/paper/paper_frontier_34_swe_gpqa.csv';
const FIELDS = ['model', 'size', 'family', 'hs', 'tqa', 'arc', 'wg', 'mmlu', 'swe', 'gpqa', 'ifeval',
                'd_model'];
const SCORE_LABEL = {hs: 'HellaSwag', tqa: 'TruthfulQA mc2', arc: 'ARC-Challenge', wg: 'WinoGrande',
                     mmlu: 'MMLU', swe: 'SWE-bench Verified', gpqa: 'GPQA Diamond', ifeval: 'IFEval'};
const EXAMPLES = {
  'ex-pythia': {table: DEFAULT_TABLE, model: 'my-pythia-1b', size: '1B', family: 'Pythia', hs: '49.7',
                tqa: '38.9', arc: '29.1', wg: '53.6', mmlu: '24.3'},
  'ex-llama': {table: DEFAULT_TABLE, model: 'my-llama-2-13b', size: '13B', family: 'Llama-2', hs: '80.5',
               tqa: '36.8', arc: '59.4', wg: '72.2', mmlu: '54.8'},
  'ex-nofam': {table: DEFAULT_TABLE, model: 'unnamed-3b', size: '3B', family: '', hs: '65', tqa: '37'},
};

const state = {
  tab: 'analyze',
  table: DEFAULT_TABLE, // a bundled or served table, or null when an upload is used
  upload: null,         // {name, text}
  form: {},
  family: '',
  seed: '42',           // the stress tests' seed
  tables: [],
  results: {},          // per tab: {json: {...}, csv: [[...]], svgs: {name: text}}
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k == null) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function status(msg, isError) {
  const s = $('status');
  s.textContent = msg || '';
  s.className = isError ? 'error' : '';
}

// ---- numbers ----------------------------------------------------------------

function fmtSize(v) {
  if (v == null || !isFinite(v) || v <= 0) return 'n/a';
  const u = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [d, s] of u) {
    if (v >= d) {
      const x = v / d;
      return (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)).replace(/\.?0+$/, '') + s;
    }
  }
  return String(v);
}
function fmt(v, d = 2) { return v == null || !isFinite(v) ? 'n/a' : Number(v).toFixed(d); }
function fmtSigned(v, d = 3) { return v == null || !isFinite(v) ? 'n/a' : (v >= 0 ? '+' : '') + Number(v).toFixed(d); }

// ---- the API ----------------------------------------------------------------

async function api(path, params, body) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v != null && v !== '') q.append(k, v);
  }
  const url = path + (q.toString() ? '?' + q.toString() : '');
  const init = body != null ? {method: 'POST', body, headers: {'Content-Type': 'text/csv'}} : {};
  const r = await fetch(url, init);
  const text = await r.text();
  if (!r.ok) {
    let m = text;
    try { m = JSON.parse(text).error; } catch (e) { /* not JSON */ }
    throw new Error(m || ('HTTP ' + r.status));
  }
  const type = r.headers.get('Content-Type') || '';
  return type.startsWith('application/json') ? JSON.parse(text) : text;
}

// the current table as request parameters and body
function tableArgs(extra) {
  const p = Object.assign({}, extra || {});
  if (state.upload) {
    p.name = state.upload.name;
    return [p, state.upload.text];
  }
  p.table = state.table;
  return [p, null];
}

function tableName() { return state.upload ? state.upload.name : state.table; }

// ---- URL state --------------------------------------------------------------

function saveHash() {
  const p = new URLSearchParams();
  p.set('tab', state.tab);
  if (state.upload) p.set('upload', state.upload.name);
  else if (state.table !== DEFAULT_TABLE) p.set('table', state.table);
  for (const k of FIELDS) if (state.form[k]) p.set(k, state.form[k]);
  if (state.family) p.set('explore', state.family);
  if (state.seed !== '42') p.set('seed', state.seed);
  const h = '#' + p.toString();
  if (location.hash !== h) history.replaceState(null, '', h);
}

function loadHash() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (p.get('tab')) state.tab = p.get('tab');
  if (p.get('table')) state.table = p.get('table');
  state.form = {};
  for (const k of FIELDS) if (p.get(k)) state.form[k] = p.get(k);
  state.family = p.get('explore') || '';
  state.seed = /^[0-9]{1,10}$/.test(p.get('seed') || '') ? p.get('seed') : '42';
  return p.get('upload');
}

// ---- exports ----------------------------------------------------------------

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = el('a', {href: url, download: name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csvText(rows) {
  const q = (v) => {
    const s = v == null ? '' : String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return rows.map((r) => r.map(q).join(',')).join('\n') + '\n';
}

function setExports(tab, res) {
  state.results[tab] = res;
  const box = document.querySelector(`.exports[data-for="${tab}"]`);
  box.replaceChildren();
  if (res.json) {
    const b = el('button', {type: 'button', id: `export-${tab}-json`}, 'Export JSON');
    b.addEventListener('click', () => download(`cape-${tab}.json`, JSON.stringify(res.json, null, 2) + '\n',
                                               'application/json'));
    box.append(b);
  }
  if (res.csv) {
    const b = el('button', {type: 'button', id: `export-${tab}-csv`}, 'Export CSV');
    b.addEventListener('click', () => download(`cape-${tab}.csv`, csvText(res.csv), 'text/csv'));
    box.append(b);
  }
  for (const [name, svg] of Object.entries(res.svgs || {})) {
    const b = el('button', {type: 'button'}, `Export ${name}.svg`);
    b.addEventListener('click', () => download(`${name}.svg`, svg, 'image/svg+xml'));
    box.append(b);
  }
}

// ---- figures ----------------------------------------------------------------

function showSvg(box, svg) {
  const doc = new DOMParser().parseFromString('<div>' + svg.split('\n<svg').join('</div><div><svg') + '</div>',
                                              'text/html');
  box.replaceChildren();
  // the SVG comes from cape's own plotting code; it is parsed, not executed
  for (const s of doc.querySelectorAll('svg')) box.append(document.importNode(s, true));
}

async function figure(box, id, params, body) {
  try {
    const svg = await api('/api/figure', Object.assign({id}, params), body);
    showSvg(box, svg);
    return svg;
  } catch (e) {
    box.replaceChildren(el('p', {class: 'why'}, `${id}: ${e.message}`));
    return null;
  }
}

// ---- tables -----------------------------------------------------------------

async function loadTables() {
  const doc = await api('/api/tables');
  state.tables = doc.tables;
  const sel = $('table-select');
  sel.replaceChildren();
  for (const t of doc.tables) {
    if (!t.readable) continue;
    sel.append(el('option', {value: t.name}, `${t.name} (${t.models} models, ${t.source})`));
  }
}

function currentInfo() {
  return state.upload ? state.upload.info : state.tables.find((t) => t.name === state.table);
}

function refreshFamilies(diag) {
  // families of the current table: from its diagnosis when there is one
  const fams = [];
  if (diag) for (const f of diag.families) fams.push([f.name, f.models.length]);
  else {
    const info = currentInfo();
    if (info && info.families) for (const [k, n] of Object.entries(info.families)) fams.push([k, n]);
  }
  const keep = state.form.family || '';
  const f = $('f-family');
  f.replaceChildren(el('option', {value: ''}, '(none: use the pooled fit)'));
  for (const [k, n] of fams) f.append(el('option', {value: k}, `${k} (${n} models)`));
  if (keep && !fams.some(([k]) => k === keep)) f.append(el('option', {value: keep}, `${keep} (not in this table)`));
  f.value = keep;
  const g = $('family-select');
  g.replaceChildren();
  for (const [k, n] of fams) g.append(el('option', {value: k}, `${k} (${n} models)`));
  if (!state.family || !fams.some(([k]) => k === state.family)) state.family = fams.length ? fams[0][0] : '';
  g.value = state.family;
}

// ---- analyze ----------------------------------------------------------------

function readForm() {
  state.form = {};
  for (const k of FIELDS) {
    const e = document.querySelector(`#analyze-form [name="${k}"]`);
    const v = e.value.trim();
    if (v) state.form[k] = v;
  }
}

function writeForm() {
  for (const k of FIELDS) {
    const e = document.querySelector(`#analyze-form [name="${k}"]`);
    if (k === 'family') continue;
    e.value = state.form[k] || '';
  }
  $('f-family').value = state.form.family || '';
}

function card(title, ...kids) { return el('div', {class: 'card'}, el('h3', {}, title), ...kids); }

async function analyze() {
  readForm();
  saveHash();
  const out = $('analyze-out');
  const f = state.form;
  const params = {model: f.model || 'my-model', size: f.size, family: f.family, d_model: f.d_model};
  const given = [];
  for (const k of ['hs', 'tqa', 'arc', 'wg', 'mmlu', 'swe', 'gpqa']) {
    if (f[k]) { params[k] = f[k]; given.push([SCORE_LABEL[k], f[k]]); }
  }
  const [p, body] = tableArgs(params);
  status('analysing ' + params.model + ' ...');
  let doc;
  try {
    doc = await api('/api/advise', p, body);
  } catch (e) {
    out.replaceChildren(el('p', {class: 'why', id: 'analyze-error'}, e.message));
    status(e.message, true);
    return;
  }
  status('');
  const ph = doc.phase, nc = doc.critical_scale, ode = doc.ode_next;
  const phaseSrc = ph.gamma12_source === 'family'
    ? `from the ${doc.family} family's own γ₁₂ steps (${doc.family_models} models with scores)`
    : 'from the pooled fit γ₁₂(log₁₀ N) of the reference models: no family was given';
  const inputs = el('table', {}, el('tr', {}, el('th', {}, 'input'), el('th', {}, 'value used')));
  inputs.append(el('tr', {}, el('td', {}, 'parameters'), el('td', {class: 'num'}, fmtSize(doc.params))));
  for (const k of ['hs', 'tqa', 'arc', 'wg', 'mmlu', 'swe', 'gpqa', 'ifeval']) {
    const v = f[k];
    let note = v ? v : 'not given';
    if (k === 'ifeval' && v) note = v + ' (recorded; no cape method uses IFEval)';
    inputs.append(el('tr', {}, el('td', {}, SCORE_LABEL[k]), el('td', {class: 'num'}, note)));
  }
  let ncText = nc.params != null ? fmtSize(nc.params) : 'not estimable';
  let ciText = nc.ci95_lo != null ? `95% interval [${fmtSize(nc.ci95_lo)}, ${fmtSize(nc.ci95_hi)}]`
    : 'no interval: a family crossing is located between two sizes, not resampled';
  const dist = nc.decades_to_nc;
  const distText = dist == null ? 'n/a'
    : `${Math.abs(dist).toFixed(2)} decades ${dist > 0 ? 'below' : 'above'} N_c (N / N_c = ${Math.pow(10, -dist).toFixed(2)})`;
  const rules = el('ul', {class: 'rules'});
  for (const r of doc.rules) {
    rules.append(el('li', {}, el('strong', {}, (r.applies ? '✔ ' : '○ ') + r.rule + ': '), r.text,
                    el('span', {class: 'src'}, 'source: ' + r.source)));
  }
  const odeBox = ode.ok
    ? el('div', {}, el('p', {}, `At ${fmtSize(ode.next_params)}${ode.next_is_sibling ? ' (the family\'s next model)' : ' (twice the size)'}: `,
                       el('strong', {id: 'ode-pred'}, `HS ${fmt(ode.predicted_hellaswag)}, TQA ${fmt(ode.predicted_truthfulqa_mc2)}`),
                       ode.observed_hellaswag != null ? ` (observed HS ${fmt(ode.observed_hellaswag)}, TQA ${fmt(ode.observed_truthfulqa_mc2)})` : ''),
             el('p', {class: 'why'}, `Hold-out error of the same construction (held-out Llama-2 13B/70B): ${fmt(ode.holdout_mae_over_mean_pct, 1)} % MAE/mean.`))
    : el('p', {class: 'why'}, 'not estimable: ' + ode.why);
  out.replaceChildren(
    el('div', {class: 'cards'},
       card('Phase', el('div', {class: 'big phase-' + ph.phase, id: 'phase-label'}, ph.phase),
            el('p', {}, 'γ₁₂ = ', el('span', {id: 'gamma-value'}, fmtSigned(ph.gamma12))),
            el('p', {class: 'why', id: 'phase-source'}, phaseSrc),
            ph.isocline ? el('p', {class: 'why'}, `isocline classifier on its own scores: ${ph.isocline} side`) : null),
       card('Critical scale N_c', el('div', {class: 'big', id: 'nc-value'}, ncText),
            el('p', {class: 'why', id: 'nc-interval'}, ciText),
            el('p', {class: 'why'}, 'source: ' + (nc.source || 'n/a')),
            el('p', {id: 'nc-distance'}, distText)),
       card('Next size (linear ODE in HS, TQA)', odeBox)),
    el('h3', {}, 'Interventions'), rules,
    el('h3', {}, 'Inputs'), inputs);
  const csv = [['key', 'value'], ['model', doc.model], ['params', doc.params], ['family', doc.family],
               ['phase', ph.phase], ['gamma12', ph.gamma12], ['gamma12_source', ph.gamma12_source],
               ['nc_params', nc.params], ['nc_ci95_lo', nc.ci95_lo], ['nc_ci95_hi', nc.ci95_hi],
               ['nc_source', nc.source], ['decades_to_nc', nc.decades_to_nc],
               ['ode_next_params', ode.next_params], ['ode_pred_hs', ode.predicted_hellaswag],
               ['ode_pred_tqa', ode.predicted_truthfulqa_mc2], ['ode_holdout_mae_pct', ode.holdout_mae_over_mean_pct]];
  for (const r of doc.rules) csv.push(['rule_' + r.rule, r.applies]);
  setExports('analyze', {json: doc, csv});
  state.analysed = {name: doc.model, params: doc.params, hs: f.hs, tqa: f.tqa};
}

// ---- phase map, family explorer ---------------------------------------------

async function diagnose() {
  const [p, body] = tableArgs({boot: 2000});
  return api('/api/diagnose', p, body);
}

async function phaseMap() {
  const out = $('phasemap-out');
  status('diagnosing ' + tableName() + ' ...');
  let doc;
  try { doc = await diagnose(); } catch (e) {
    out.replaceChildren(el('p', {class: 'why'}, e.message));
    $('fig-phase').replaceChildren();
    $('fig-gamma').replaceChildren();
    status(e.message, true);
    return;
  }
  status('');
  const d = doc.tables[0];
  refreshFamilies(d);
  const svgs = {};
  const a = state.analysed;
  const mark = a && a.hs && a.tqa ? {mark: a.name + ' (yours)', mark_hs: a.hs, mark_tqa: a.tqa} : {};
  const [pm, bm] = tableArgs(mark);
  svgs['phase-diagram'] = await figure($('fig-phase'), 'fig-phase-diagram', pm, bm);
  const [p, body] = tableArgs({boot: 2000});
  svgs['gamma-size'] = await figure($('fig-gamma'), 'fig-gamma-size', p, body);
  const u = d.ucurve || {};
  const rows = [['family', 'models', 'N_c (gamma12 turns positive)', 'r(HS, TQA)']];
  const t = el('table', {}, el('tr', {}, ...rows[0].map((h) => el('th', {}, h))));
  for (const f of d.families) {
    const r = [f.name, f.models.length, f.critical_scale.found ? fmtSize(f.critical_scale.params) : 'none', fmt(f.correlation.pearson_r, 3)];
    rows.push(r);
    t.append(el('tr', {}, ...r.map((v) => el('td', {}, v))));
  }
  const pooled = u.estimable && u.bootstrap && u.bootstrap.valid > 0
    ? `Pooled N_c (U-curve vertex bootstrap, ${u.bootstrap.valid} valid resamples): median ${fmtSize(u.bootstrap.median)}, 95% [${fmtSize(u.bootstrap.ci95[0])}, ${fmtSize(u.bootstrap.ci95[1])}].`
    : 'Pooled N_c: not estimable from this table.';
  out.replaceChildren(el('p', {}, pooled), t,
                      d.skipped_families.length ? el('p', {class: 'why'}, 'Skipped (fewer than ' + d.options.min_family + ' models): ' + d.skipped_families.map((s) => `${s.family} (${s.models})`).join(', ')) : null);
  for (const k of Object.keys(svgs)) if (!svgs[k]) delete svgs[k];
  setExports('phasemap', {json: doc, csv: rows, svgs});
}

async function familyExplorer() {
  const out = $('family-out');
  let doc;
  try { doc = await diagnose(); } catch (e) {
    out.replaceChildren(el('p', {class: 'why'}, e.message));
    status(e.message, true);
    return;
  }
  const d = doc.tables[0];
  refreshFamilies(d);
  saveHash();
  const f = d.families.find((x) => x.name === state.family);
  if (!f) {
    out.replaceChildren(el('p', {class: 'why'}, 'This table has no family with at least ' + d.options.min_family + ' models.'));
    $('fig-width').replaceChildren();
    return;
  }
  const rows = [['from', 'to', 'params_mid', 'delta_hs', 'delta_tqa', 'gamma12', 'phase']];
  const t = el('table', {id: 'steps-table'}, el('tr', {}, ...rows[0].map((h) => el('th', {}, h))));
  for (const s of f.steps) {
    const r = [s.from, s.to, fmtSize(s.params_mid), fmt(s.delta_reasoning), fmt(s.delta_truth),
               s.skipped ? 'skipped (|ΔHS| small)' : fmtSigned(s.gamma12), s.skipped ? '' : s.phase];
    rows.push([s.from, s.to, s.params_mid, s.delta_reasoning, s.delta_truth, s.gamma12, s.phase]);
    t.append(el('tr', {}, ...r.map((v) => el('td', {}, v))));
  }
  const w = f.width_normalisation;
  const widthText = w.estimable
    ? `Width normalisation (scores / (d_model / ${d.options.d_ref})): r ${fmtSigned(w.r_raw)} → ${fmtSigned(w.r_normalised)}.`
    : 'Width normalisation: not estimable (the table gives no d_model for this family).';
  out.replaceChildren(
    el('p', {}, `${f.name}: ${f.models.length} models; N_c `, el('strong', {}, f.critical_scale.found ? fmtSize(f.critical_scale.params) : 'none (γ₁₂ never turns from negative to positive)'),
       `; Pearson r(HS, TQA) ${fmt(f.correlation.pearson_r, 3)}.`),
    t, el('p', {}, widthText),
    el('p', {class: 'caveat'}, 'Caveat: dividing both scores by the same growing width pushes r towards +1 by construction; read a flip as a ratio-artefact test, not as proof that width explains the coupling.'));
  const [p, body] = tableArgs({family: f.name});
  const svgs = {};
  if (w.estimable) svgs.width = await figure($('fig-width'), 'fig-width', p, body);
  else $('fig-width').replaceChildren();
  for (const k of Object.keys(svgs)) if (!svgs[k]) delete svgs[k];
  setExports('family', {json: f, csv: rows, svgs});
}

// ---- frontier, eigenstructure -------------------------------------------------

async function frontier() {
  const out = $('frontier-out');
  const info = currentInfo();
  const own = info && info.benchmarks && info.benchmarks.includes('swe_bench_verified') && info.benchmarks.includes('gpqa_diamond');
  const [p, body] = own ? tableArgs({}) : [{table: FRONTIER_TABLE}, null];
  let doc;
  try { doc = await api('/api/frontier', p, body); } catch (e) {
    out.replaceChildren(el('p', {class: 'why'}, e.message));
    return;
  }
  const svg = await figure($('fig-frontier'), 'fig-frontier', p, body);
  const lo = doc.leave_one_lab_out, rot = doc.rotation;
  const rows = [['model', 'lab', 'x', 'y', 'fit', 'residual', 'class_narrow', 'class_wide']];
  const t = el('table', {}, el('tr', {}, ...rows[0].map((h) => el('th', {}, h))));
  for (const m of doc.models) {
    rows.push([m.model, m.lab, m.x, m.y, m.fit, m.residual, m.class_narrow, m.class_wide]);
    t.append(el('tr', {}, ...[m.model, m.lab, fmt(m.x, 1), fmt(m.y, 1), fmt(m.fit, 1), fmtSigned(m.residual, 1), m.class_narrow, m.class_wide].map((v) => el('td', {}, v))));
  }
  out.replaceChildren(
    el('p', {}, `${doc.table}${own ? '' : ' (the current table lacks SWE-bench and GPQA)'}: ${doc.y} = ${fmt(doc.fit.slope, 3)}·${doc.x} + ${fmt(doc.fit.intercept, 1)}, r = ${fmt(doc.fit.r, 3)}, n = ${doc.n}.`),
    el('p', {}, `Leave-one-lab-out error: ${fmt(lo.mae_mean)} ± ${fmt(lo.mae_sd)} points over ${lo.labs} labs. Rotation ratio σ = ${fmt(rot.sigma, 3)} among the top ${rot.top_k}: ${rot.rotate ? 'rotate the benchmark axis (σ < ' + rot.threshold + ')' : 'the axis still discriminates'}.`),
    t);
  setExports('frontier', {json: doc, csv: rows, svgs: svg ? {frontier: svg} : {}});
}

async function eigen() {
  const out = $('eigen-out');
  const [p, body] = tableArgs({boot: 1000});
  let doc;
  try { doc = await api('/api/eigen', p, body); } catch (e) {
    out.replaceChildren(el('p', {class: 'why'}, e.message));
    $('fig-eigen').replaceChildren();
    return;
  }
  const [fp, fb] = tableArgs({});
  const svg = await figure($('fig-eigen'), 'fig-eigen', fp, fb);
  const rows = [['group', 'name', 'models', 'families', 'd_eff', 'd_eff_ci95_lo', 'd_eff_ci95_hi', 'explained']];
  const t = el('table', {}, el('tr', {}, ...['group', 'models', 'd_eff', 'bootstrap 95%', 'share of variance'].map((h) => el('th', {}, h))));
  for (const g of doc.groups) {
    const b = g.d_eff_bootstrap || {};
    rows.push([g.group, g.name, g.models, g.families, g.d_eff, b.ci95_lo, b.ci95_hi, (g.explained || []).join(' ')]);
    t.append(el('tr', {}, el('td', {}, `${g.group}: ${g.name}`), el('td', {}, g.models),
                el('td', {}, g.estimable ? fmt(g.d_eff, 3) : 'not estimable'),
                el('td', {}, b.ci95_lo != null ? `[${fmt(b.ci95_lo, 3)}, ${fmt(b.ci95_hi, 3)}]` : 'n/a'),
                el('td', {}, (g.explained || []).map((x) => fmt(Math.max(0, 100 * x), 1) + '%').join(' / '))));
  }
  out.replaceChildren(el('p', {}, `${doc.table}: panel ${doc.panel.join(', ')}; ${doc.matrix} matrix; ${doc.skipped_rows} rows lacked a benchmark.`), t);
  setExports('eigen', {json: doc, csv: rows, svgs: svg ? {eigen: svg} : {}});
}

// ---- stress tests (cape falsify) ----------------------------------------------

function ci(a, f) { return a && a[0] != null ? `[${f(a[0])}, ${f(a[1])}]` : 'n/a'; }
function pv(p) { return p == null || !isFinite(p) ? 'n/a' : Number(p).toPrecision(3).replace(/\.?0+$/, ''); }
function dex(v) { return fmtSigned(v, 2); }

// one row per test: [test, verdict, what the numbers say, csv rows]
function falsifyRows(t) {
  const rows = [];
  const u = t.pooled_ushape, ub = u.bootstrap;
  rows.push(['1. Is the transition just the TQA U-shape?',
    u.coincide == null ? 'not estimable (too few resamples with both)'
      : u.coincide ? 'N_c and the TQA vertex coincide: the coupling adds nothing beyond size'
        : 'N_c and the TQA vertex differ (95% interval of the difference excludes 0)',
    `N_c from the γ₁₂ line ${fmtSize(u.nc_gamma)} (bootstrap median ${fmtSize(ub.nc_median)}, 95% ${ci(ub.nc_ci95, fmtSize)}); ` +
    `TQA-only vertex ${fmtSize(u.truth_vertex)}; log₁₀ N_c − log₁₀ vertex ${dex(ub.diff_dex_median)} dex, 95% ${ci(ub.diff_dex_ci95, dex)} ` +
    `(${ub.with_both} of ${ub.resamples} resamples with both)`,
    [['ushape', 'nc_gamma', u.nc_gamma, '', ub.nc_ci95[0], ub.nc_ci95[1]],
     ['ushape', 'truth_vertex', u.truth_vertex, '', '', ''],
     ['ushape', 'diff_dex', ub.diff_dex_median, '', ub.diff_dex_ci95[0], ub.diff_dex_ci95[1]]]]);
  const n = t.null_model;
  const ps = [n.p_flips, n.p_r_below, n.p_vertex_in_interval].filter((x) => x != null && isFinite(x));
  const rare = ps.length && Math.min(...ps) < 0.05;
  rows.push(['2. Null model of independent trends',
    !ps.length ? 'not estimable' : rare ? 'part of the pattern is rare under independent trends (some p < 0.05)'
      : 'independent trends reproduce the pattern (every p ≥ 0.05)',
    `${n.simulations} simulations: families flipping ${n.flips_observed} observed, ${fmt(n.flips_mean)} per null draw (p ${pv(n.p_flips)}); ` +
    `r below N_c = ${fmtSize(n.nc_below)}: ${fmtSigned(n.r_below)} over ${n.n_below} points (p ${pv(n.p_r_below)}); ` +
    `pooled vertex ${fmtSize(n.vertex_observed)} ${n.vertex_in_interval ? 'inside' : 'outside'} the published ` +
    `${ci(n.published_interval, fmtSize)} (p of a null vertex inside ${pv(n.p_vertex_in_interval)})`,
    [['null', 'flips_observed', n.flips_observed, n.p_flips, '', ''],
     ['null', 'r_below', n.r_below, n.p_r_below, '', ''],
     ['null', 'vertex_in_interval', n.vertex_in_interval, n.p_vertex_in_interval, n.published_interval[0], n.published_interval[1]]]]);
  const [pl, pq] = t.pooled_partial;
  const pp = pl.permutation;
  rows.push(['3. Partial coupling r(HS, TQA | log₁₀ N)',
    !pp || !pp.total ? 'not estimable' : pp.p < 0.05 ? 'coupling beyond both growing with size (pooled p < 0.05)'
      : 'no coupling beyond both growing with size (pooled p ≥ 0.05)',
    `linear control: r ${fmtSigned(pl.r)} (permutation p ${pv(pp ? pp.p : null)}, n ${pl.n}); ` +
    `quadratic control: r ${fmtSigned(pq.r)} (permutation p ${pv(pq.permutation ? pq.permutation.p : null)})`,
    [['partial', 'r_linear', pl.r, pp ? pp.p : '', '', ''],
     ['partial', 'r_quadratic', pq.r, pq.permutation ? pq.permutation.p : '', '', '']]]);
  const present = t.pairs.filter((p) => p.present);
  const main = present.filter((p) => !p.negative_control), ctl = present.filter((p) => p.negative_control);
  const surv = main.filter((p) => p.sign_change_survives).length;
  const label = (p) => `${p.reasoning}–${p.truth}${p.negative_control ? ' (control)' : ''}`;
  rows.push(['4. Robustness across benchmark pairs',
    `the sign change survives in ${surv} of ${main.length} reasoning–truth pair${main.length === 1 ? '' : 's'}` +
    (ctl.length ? `; the control pair ${ctl[0].sign_change_survives ? 'also flips' : 'does not flip'}` : ''),
    present.map((p) => `${label(p)}: vertex N_c ${fmtSize(p.nc_median)} ${ci(p.nc_ci95, fmtSize)}, ${p.sign_change_survives ? 'survives' : 'does not survive'}`).join('; ') || 'no pair in this table',
    present.map((p) => ['pair', label(p), p.nc_median, '', p.nc_ci95[0], p.nc_ci95[1]])]);
  const s = t.stability;
  rows.push(['5. Stability of the pooled N_c',
    s.family_moving_most ? `leaving out ${s.family_moving_most} moves it most (to ${fmtSize((s.leave_one_family_out.find((x) => x.left_out === s.family_moving_most) || {}).nc)})`
      : 'leave one family out: not estimable',
    `all points ${fmtSize(s.nc_all)}; leave one family out ${ci(s.family_range, fmtSize)}; leave one size out ${ci(s.size_range, fmtSize)}`,
    [['stability', 'nc_all', s.nc_all, '', '', ''],
     ['stability', 'leave_one_family_out', '', '', s.family_range[0], s.family_range[1]],
     ['stability', 'leave_one_size_out', '', '', s.size_range[0], s.size_range[1]]]]);
  const wf = t.families.filter((f) => f.width_null);
  rows.push(['6. Width-normalisation null',
    wf.length ? wf.map((f) => `${f.name}: a random growing factor gives ${fmt(100 * f.width_null.share_of_flip, 0)}% of the flip`).join('; ')
      : 'not estimable: no family has d_model for every size',
    wf.map((f) => { const w = f.width_null; return `${f.name}: r ${fmtSigned(w.r_raw)} → ${fmtSigned(w.r_normalised)}, random factor ${fmtSigned(w.null_mean)} [${fmtSigned(w.null_p05)}, ${fmtSigned(w.null_p95)}] (p ${pv(w.p_null_ge_normalised)})`; }).join('; ') || '',
    wf.map((f) => ['width', f.name, f.width_null.share_of_flip, f.width_null.p_null_ge_normalised, f.width_null.null_p05, f.width_null.null_p95])]);
  return rows;
}

async function falsify() {
  const out = $('falsify-out');
  $('falsify-seed').value = state.seed;
  const info = currentInfo();
  if (info && (!info.has_params || !info.benchmarks.includes('hellaswag') || !info.benchmarks.includes('truthfulqa_mc2'))) {
    // said here rather than asked of the server (whose 400 would also reach the console)
    out.replaceChildren(el('p', {class: 'why', id: 'falsify-error'},
      `${tableName()} lacks ${!info.has_params ? 'model sizes' : 'HellaSwag or TruthfulQA mc2'}: the stress tests need sizes, HellaSwag and TruthfulQA mc2.`));
    document.querySelector('.exports[data-for="falsify"]').replaceChildren();
    return;
  }
  const [p, body] = tableArgs({seed: state.seed});
  status('stress-testing ' + tableName() + ' ...');
  let doc;
  try { doc = await api('/api/falsify', p, body); } catch (e) {
    out.replaceChildren(el('p', {class: 'why', id: 'falsify-error'}, e.message));
    document.querySelector('.exports[data-for="falsify"]').replaceChildren();
    status(e.message, true);
    return;
  }
  status('');
  const t = doc.tables[0];
  const csv = [['test', 'verdict', 'statistic', 'value', 'p', 'ci95_lo', 'ci95_hi']];
  const table = el('table', {id: 'falsify-table'}, el('tr', {}, el('th', {}, 'test'), el('th', {}, 'verdict'), el('th', {}, 'numbers')));
  falsifyRows(t).forEach(([test, verdict, nums, data], i) => {
    table.append(el('tr', {}, el('td', {}, test), el('td', {id: `falsify-verdict-${i + 1}`}, el('strong', {}, verdict)),
                    el('td', {class: 'why'}, nums)));
    for (const d of data) csv.push([test.replace(/^[0-9]\. /, ''), verdict, d[0] + ':' + d[1], d[2], d[3], d[4], d[5]]);
  });
  const skipped = t.skipped_families.length ? el('p', {class: 'why'}, 'Skipped (too few models): ' + t.skipped_families.join(', ')) : null;
  out.replaceChildren(el('p', {}, `${t.table}: ${t.points} points (one per family size) in ${t.families.length} famil${t.families.length === 1 ? 'y' : 'ies'}; seed ${doc.options.seed}, ${doc.options.bootstrap} resamples, ${doc.options.simulations} null simulations.`),
                      ...[table, skipped].filter((x) => x));
  setExports('falsify', {json: doc, csv});
}

// ---- tabs and wiring ----------------------------------------------------------

const RENDER = {analyze: null, phasemap: phaseMap, family: familyExplorer, frontier, eigen, falsify};

async function showTab(tab) {
  if (!(tab in RENDER)) tab = 'analyze';
  state.tab = tab;
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === 'tab-' + tab);
  saveHash();
  if (RENDER[tab]) await RENDER[tab]();
}

function describeTable() {
  const info = currentInfo();
  $('table-info').textContent = info
    ? `${tableName()}: ${info.models} models; benchmarks ${info.benchmarks.join(', ')}`
    : tableName();
}

function hasSizes() {
  const info = currentInfo();
  return !info || info.has_params !== false;
}

async function tableChanged() {
  describeTable();
  // an analysis belongs to the table it was computed on
  $('analyze-out').replaceChildren(el('p', {class: 'why'}, `The table is now ${tableName()}: press Analyze to recompute.`));
  document.querySelector('.exports[data-for="analyze"]').replaceChildren();
  state.analysed = null;
  try {
    // a table without sizes has no diagnosis: its families come from its summary
    if (!hasSizes()) throw new Error('no sizes');
    const doc = await diagnose();
    refreshFamilies(doc.tables[0]);
  } catch (e) {
    refreshFamilies(null);
  }
  saveHash();
  await showTab(state.tab);
}

function summarise(text, name) {
  // the columns and families as cape reads them (the server parses the table)
  return api('/api/tables', {name}, text).then((doc) => doc.tables[0]);
}

async function useUpload(file) {
  if (!file) return;
  const text = await file.text();
  status('reading ' + file.name + ' ...');
  let info;
  try {
    info = await summarise(text, file.name);
  } catch (e) {
    status(e.message, true);
    return;
  }
  state.upload = {name: file.name, text, info};
  const sel = $('table-select');
  let opt = [...sel.options].find((o) => o.value === 'upload:' + file.name);
  if (!opt) { opt = el('option', {value: 'upload:' + file.name}, `${file.name} (uploaded)`); sel.append(opt); }
  sel.value = opt.value;
  status(`${file.name}: ${info.models} models, ${Object.keys(info.families).length} families read`);
  await tableChanged();
}

function wire() {
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  $('analyze-form').addEventListener('submit', (ev) => { ev.preventDefault(); analyze(); });
  for (const [id, ex] of Object.entries(EXAMPLES)) {
    $(id).addEventListener('click', async () => {
      if (state.upload || state.table !== ex.table) {
        state.upload = null;
        state.table = ex.table;
        $('table-select').value = ex.table;
        await tableChanged();
      }
      state.form = Object.assign({}, ex);
      delete state.form.table;
      writeForm();
      await analyze();
    });
  }
  $('table-select').addEventListener('change', async (ev) => {
    const v = ev.target.value;
    if (v.startsWith('upload:')) return;
    state.upload = null;
    state.table = v;
    await tableChanged();
  });
  $('falsify-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('falsify-seed').value.trim();
    if (!/^[0-9]{1,10}$/.test(v)) { status('the seed is a whole number (0 to 4294967295)', true); return; }
    state.seed = v;
    saveHash();
    falsify();
  });
  $('family-select').addEventListener('change', (ev) => { state.family = ev.target.value; familyExplorer(); });
  $('file').addEventListener('change', (ev) => useUpload(ev.target.files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer.files.length) useUpload(ev.dataTransfer.files[0]);
  });
}

async function main() {
  wire();
  const uploaded = loadHash();
  try {
    await loadTables();
  } catch (e) {
    status('cannot reach the cape server: ' + e.message, true);
    return;
  }
  if (!state.tables.some((t) => t.name === state.table && t.readable)) state.table = DEFAULT_TABLE;
  $('table-select').value = state.table;
  if (uploaded) status(`this link used an uploaded table (${uploaded}); upload it again to reproduce the view`, true);
  describeTable();
  try {
    if (!hasSizes()) throw new Error('no sizes');
    refreshFamilies((await diagnose()).tables[0]);
  } catch (e) { refreshFamilies(null); }
  writeForm();
  await showTab(state.tab);
  if (state.form.size || state.form.hs) await analyze();
  document.body.dataset.ready = '1';
}

main();
