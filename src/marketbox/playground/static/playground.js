/**
 * The mini-app playground page (playground/views.py, docs/miniapps.md "The playground").
 * Plain ES module, no build step, no globals.
 *
 * Form: the sample chips put a JSON-LD sample into the metaData field; the container part shows
 * only in suborder mode.
 *
 * After «Открыть» the server renders the page again with <script id="pg-config">
 * {frame, context}: `frame` goes to the real host bridge (`openMiniApp` from
 * /static/miniapp/bridge.js, the module the marketplace and the payment page use), and every
 * bridge log event becomes a log entry (rules.py documents its shape) with the time since the
 * opening. The rules live on the server only (playground/rules.py): the log is posted to
 * /playground/evaluate as it grows, and the answer fills the verdict and marks each message
 * with the rules it broke. «Сохранить» posts it to /playground/runs and shows the shareable link.
 *
 * The page's state for scripts (the `marketbox miniapp check` command reads it):
 *   [data-playground][data-phase]   running → finished (done, unavailable, or init timed out)
 *   [data-pg-count]                 the number of log entries
 *   [data-pg-summary][data-passed]  "true" | "false" once a verdict arrived
 */
import { openMiniApp } from '/static/miniapp/bridge.js';

const EVALUATE_DELAY_MS = 250;
const DATA_PREVIEW = 120;

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function setupForm() {
  const form = document.querySelector('[data-pg-form]');
  if (!form) return;
  const samples = readJson('pg-samples') || {};
  const meta = form.querySelector('[data-pg-meta]');
  const sampleName = form.querySelector('[data-pg-sample-name]');
  const chips = form.querySelectorAll('[data-pg-sample]');
  for (const chip of chips) {
    chip.addEventListener('click', () => {
      const name = chip.dataset.pgSample;
      meta.value = samples[name] || '';
      sampleName.value = name;
      for (const other of chips) other.setAttribute('aria-pressed', String(other === chip));
    });
  }
  const container = form.querySelector('[data-pg-container]');
  const sync = () => {
    const mode = form.querySelector('[data-pg-mode]:checked');
    container.hidden = !mode || mode.value !== 'suborder';
  };
  for (const radio of form.querySelectorAll('[data-pg-mode]')) radio.addEventListener('change', sync);
  sync();
}

/** A JSON-safe copy of an untrusted message (undefined → absent, functions dropped). */
function plain(value) {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return String(value);
  }
}

/**
 * A log entry's note in the page's language: the bridge's own note is English, so an entry the
 * catalogue knows by its kind and reason (or a state by its name) is told with the catalogue's
 * text (`playground.note.*`; views.note_text does the same for a saved run).
 */
function noteText(entry, notes) {
  const key = entry.kind === 'state' ? `state.${entry.message}` : `${entry.kind}.${entry.reason}`;
  const template = notes[key];
  if (template === undefined) return entry.message;
  return template.replace(/\{(origin|action|value)\}/g, (_, name) => String(entry[name] ?? ''));
}

function direction(kind) {
  if (kind === 'received' || kind === 'ignored') return 'in';
  if (kind === 'sent') return 'out';
  return 'host';
}

function start() {
  const root = document.querySelector('[data-playground][data-config]');
  if (!root) return;
  const config = readJson(root.dataset.config);
  const texts = readJson('pg-texts') || {};
  const frameConfig = config.frame;
  const logList = root.querySelector('[data-pg-log]');
  const count = root.querySelector('[data-pg-count]');
  const verdictList = root.querySelector('[data-verdict-list]');
  const summary = root.querySelector('[data-pg-summary]');
  const events = root.querySelector('[data-pg-events]');
  const log = [];
  const rows = [];
  let openedAt = performance.now();
  let timer = null;
  let pending = null;

  function context() {
    return { ...config.context, durationMs: Math.round(performance.now() - openedAt) };
  }

  function renderRow(entry, index) {
    const row = document.createElement('li');
    row.className = 'pg-log__row';
    row.dataset.logEntry = String(index);
    row.dataset.kind = entry.kind;
    row.dataset.dir = direction(entry.kind);
    const head = document.createElement('div');
    head.className = 'pg-log__head';
    const cells = [
      ['pg-log__t', `${entry.t} ms`],
      ['pg-log__dir', texts[direction(entry.kind)] || direction(entry.kind)],
      ['pg-log__action', entry.action == null ? texts.kinds?.[entry.kind] || entry.kind : String(entry.action)],
      ['pg-log__origin caption', entry.origin || ''],
    ];
    for (const [className, text] of cells) {
      const span = document.createElement('span');
      span.className = className;
      span.textContent = text;
      head.append(span);
    }
    const result = document.createElement('span');
    result.className = 'pg-log__result';
    result.dataset.result = '';
    head.append(result);
    row.append(head);
    const note = document.createElement('p');
    note.className = 'pg-log__note caption';
    // A received or sent message's note is its action again: say it once.
    const shown = noteText(entry, texts.notes || {});
    note.textContent = shown && shown !== entry.action ? shown : '';
    row.append(note);
    if (entry.payload !== null && entry.payload !== undefined) {
      const text = JSON.stringify(entry.payload);
      const details = document.createElement('details');
      details.className = 'pg-log__data';
      const summaryLine = document.createElement('summary');
      summaryLine.textContent = text.length > DATA_PREVIEW ? `${text.slice(0, DATA_PREVIEW)}…` : text;
      const full = document.createElement('pre');
      full.textContent = JSON.stringify(entry.payload, null, 2);
      details.append(summaryLine, full);
      row.append(details);
    }
    logList.append(row);
    rows[index] = row;
    markRow(index, []);
  }

  function markRow(index, problems) {
    const row = rows[index];
    if (!row) return;
    const cell = row.querySelector('[data-result]');
    const kind = row.dataset.kind;
    cell.className = 'pg-log__result chip chip--xxs';
    if (problems.length) {
      cell.classList.add('chip--error');
      cell.textContent = problems.map((rule) => texts.rules?.[rule] || rule).join('; ');
      row.dataset.problems = problems.join(' ');
    } else if (kind === 'ignored' || kind === 'refused') {
      cell.classList.add('chip--warning');
      cell.textContent = texts.kinds?.[kind] || kind;
      delete row.dataset.problems;
    } else if (kind === 'received') {
      cell.classList.add('chip--success');
      cell.textContent = texts.ok || 'ok';
      delete row.dataset.problems;
    } else {
      cell.textContent = '';
      cell.className = 'pg-log__result';
    }
  }

  function renderVerdict(verdict) {
    verdictList.replaceChildren();
    const chipClass = {
      followed: 'chip--success',
      broken: 'chip--error',
      warning: 'chip--warning',
      info: 'chip--info',
      not_exercised: 'chip--neutral',
    };
    for (const rule of verdict.rules) {
      const item = document.createElement('li');
      item.className = 'pg-verdict__item';
      item.dataset.rule = rule.rule;
      item.dataset.status = rule.status;
      const chip = document.createElement('span');
      chip.className = `chip chip--xxs ${chipClass[rule.status] || ''}`;
      chip.textContent = texts.statuses?.[rule.status] || rule.status;
      const text = document.createElement('span');
      text.className = 'pg-verdict__text';
      const title = document.createElement('span');
      title.className = 'pg-verdict__title';
      title.textContent = texts.rules?.[rule.rule] || rule.title;
      const detail = document.createElement('span');
      detail.className = 'caption pg-verdict__detail';
      detail.dataset.ruleDetail = '';
      detail.textContent = rule.detail;
      text.append(title, ' ', detail);
      item.append(chip, text);
      verdictList.append(item);
    }
    summary.textContent = verdict.passed ? texts.passed : texts.failed;
    summary.className = `chip ${verdict.passed ? 'chip--success' : 'chip--error'}`;
    summary.dataset.passed = String(verdict.passed);
    rows.forEach((_, index) => markRow(index, verdict.problems[String(index)] || []));
  }

  async function post(path) {
    // The verdict's explanations in the page's language.
    const lang = document.documentElement.lang === 'en' ? 'en' : 'ru';
    const response = await fetch(`${path}?lang=${lang}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ context: context(), log }),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  function evaluateSoon() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const asked = log.length;
      pending = post('/playground/evaluate')
        .then((verdict) => {
          renderVerdict(verdict);
          root.dataset.evaluated = String(asked);
        })
        .catch(() => {});
    }, EVALUATE_DELAY_MS);
  }

  function add(entry) {
    const full = { t: Math.round(performance.now() - openedAt), ...entry };
    log.push(full);
    renderRow(full, log.length - 1);
    count.textContent = String(log.length);
    root.dataset.logCount = String(log.length);
    evaluateSoon();
  }

  function note(text) {
    add({ kind: 'note', message: text, origin: null, action: null, payload: null });
    events.textContent = text;
  }

  function finish(reason) {
    if (root.dataset.phase === 'finished') return;
    root.dataset.phase = 'finished';
    root.dataset.finishReason = reason;
  }

  const saveButton = root.querySelector('[data-pg-save]');
  saveButton.addEventListener('click', async () => {
    saveButton.setAttribute('aria-busy', 'true');
    try {
      const saved = await post('/playground/runs');
      const link = root.querySelector('[data-pg-run-link]');
      link.href = saved.url;
      link.textContent = new URL(saved.url, location.href).href;
      root.querySelector('[data-pg-json-link]').href = saved.jsonUrl;
      root.querySelector('[data-pg-saved]').hidden = false;
      root.dataset.runId = saved.id;
      renderVerdict(saved.verdict);
    } finally {
      saveButton.removeAttribute('aria-busy');
    }
  });

  openedAt = performance.now();
  const opening = texts.open.replace('{url}', frameConfig.url);
  add({ kind: 'note', message: opening, origin: null, action: null, payload: null });
  openMiniApp({
    container: root.querySelector('[data-pg-frame]'),
    url: frameConfig.url,
    origins: frameConfig.origins,
    mode: frameConfig.mode,
    initData: frameConfig.initData,
    paymentUrlPrefix: frameConfig.paymentUrlPrefix,
    fullHeight: frameConfig.fullHeight,
    title: frameConfig.title,
    locale: frameConfig.locale,
    onLog(event) {
      add({
        kind: event.kind,
        reason: event.reason || null,
        value: event.value === undefined ? null : String(event.value),
        origin: event.origin || null,
        action: event.action === undefined ? null : plain(event.action),
        message: event.message,
        payload: 'payload' in event ? plain(event.payload) : null,
      });
      if (event.kind === 'state' && event.message === 'failed') finish('timeout');
      // The end of a run, whether or not the bridge accepted the message (a refused done ends
      // it too: the verdict says why).
      if (event.kind === 'received' && ['done', 'unavailable', 'checkout'].includes(event.action)) {
        finish(event.action);
      }
    },
    onDone(url) {
      note(`${texts.done}: ${url ?? 'null'}`);
      finish('done');
    },
    onCheckout(url) {
      note(`${texts.checkout}: ${url}`);
      finish('checkout');
    },
    onError(text) {
      note(`${texts.error}: ${text}`);
    },
    onLink(href) {
      note(`${texts.link}: ${href}`);
    },
    onUnavailable() {
      note(texts.unavailable);
      finish('unavailable');
    },
  });
  void pending;
}

setupForm();
start();
