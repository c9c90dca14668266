// The metrics dashboard, live: filters rows as you type and polls the server for new values,
// charts and recent events, swapping them in place. The server renders all markup; this only
// moves it into the page, so the page works (without live updates) when scripts are off.

const root = document.getElementById('dashboard');
if (root) start(root);

function start(dashboard) {
  const form = document.getElementById('dashboard-search');
  const query = document.getElementById('dashboard-query');
  const status = document.getElementById('dashboard-status');
  const url = dashboard.dataset.url;
  const pollMs = Math.max(Number(dashboard.dataset.pollSeconds) || 5, 0.2) * 1000;
  let timer = null;

  const applyFilter = () => filterRows(dashboard, query.value);
  query.addEventListener('input', () => {
    applyFilter();
    const params = new URLSearchParams(window.location.search);
    if (query.value) params.set('q', query.value);
    else params.delete('q');
    window.history.replaceState(null, '', `${window.location.pathname}${params.size ? `?${params}` : ''}`);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    applyFilter();
  });

  const schedule = () => {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(poll, pollMs);
  };

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (response.status === 401 || response.status === 403) {
        status.textContent = 'Live updates stopped: sign in again as an administrator and reload.';
        return;
      }
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const changed = update(dashboard, await response.json());
      applyFilter();
      status.textContent = `Updated ${new Date().toLocaleTimeString()}.${
        changed.missing ? ' New definitions were added: reload the page to see them.' : ''
      }`;
    } catch (error) {
      status.textContent = `Live updates paused (${error.message}); retrying.`;
    }
    schedule();
  }

  document.addEventListener('visibilitychange', () => (document.hidden ? clearTimeout(timer) : poll()));
  applyFilter();
  schedule();
}

/** Hide the rows that do not contain every word of the query. */
function filterRows(container, text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  for (const row of container.querySelectorAll('[data-search]')) {
    row.hidden = !words.every((word) => row.dataset.search.includes(word));
  }
}

function update(dashboard, data) {
  let missing = 0;
  for (const metric of data.metrics) {
    const row = dashboard.querySelector(`[data-metric="${CSS.escape(metric.key_path)}"]`);
    if (!row) {
      missing += 1;
      continue;
    }
    setValues(row, metric.values);
    const chart = row.querySelector('[data-chart]');
    if (chart.dataset.version !== metric.chart_version) {
      chart.replaceChildren(fragment(metric.chart));
      chart.dataset.version = metric.chart_version;
    }
  }
  for (const event of data.events) {
    const row = dashboard.querySelector(`[data-event="${CSS.escape(event.name)}"]`);
    if (row) setValues(row, event.values);
    else missing += 1;
  }
  const day = document.getElementById('dashboard-day');
  if (day) day.textContent = data.day;
  const recent = document.getElementById('recent-events');
  if (recent) recent.replaceChildren(fragment(data.recent));
  return { missing };
}

function setValues(row, values) {
  for (const cell of row.querySelectorAll('[data-frame]')) {
    const value = values[cell.dataset.frame];
    if (value === undefined || cell.textContent === String(value)) continue;
    cell.textContent = String(value);
    cell.classList.remove('changed');
    void cell.offsetWidth; // restart the highlight when a value changes twice in a row
    cell.classList.add('changed');
  }
}

// Server-rendered markup (escaped by Jinja) parsed inert: a <template> runs no scripts.
function fragment(html) {
  const template = document.createElement('template');
  template.innerHTML = html;
  return template.content;
}
