// The metrics dashboard, live: polls the page's JSON twin and swaps in the regions that changed
// (figures, chart, rows on screen). On the dictionary, typing a search asks the server for the
// matching page of rows; other filters submit the form. The server renders all markup and this only
// moves it into the page, so every page works (without live updates) when scripts are off.

const root = document.getElementById('dashboard');
if (root) start(root);

function start(dashboard) {
  const form = document.getElementById('dashboard-search');
  const query = document.getElementById('dashboard-query');
  const status = document.getElementById('dashboard-status');
  const pollMs = Math.max(Number(dashboard.dataset.pollSeconds) || 5, 0.2) * 1000;
  let timer = null;
  let typing = null;
  let asked = 0;

  const schedule = () => {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(refresh, pollMs);
  };

  async function refresh() {
    const ask = ++asked;
    try {
      const response = await fetch(`${dashboard.dataset.url}${window.location.search}`, {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
      });
      if (response.status === 401 || response.status === 403) {
        status.textContent = 'Live updates stopped: sign in again as an administrator and reload.';
        return;
      }
      const data = await response.json();
      if (ask !== asked) return; // a newer search answered first
      // A 503 for Redis being down still carries the delivery panel, which says so.
      for (const [id, html] of Object.entries(data.regions || {})) swap(document.getElementById(id), html);
      if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
      const day = document.getElementById('dashboard-day');
      if (day) day.textContent = data.day;
      status.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC.`;
    } catch (error) {
      status.textContent = `Live updates paused (${error.message}); retrying.`;
    }
    schedule();
  }

  if (form && query) {
    query.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        const params = new URLSearchParams(new FormData(form));
        params.delete('page');
        for (const [name, value] of [...params]) if (!value) params.delete(name);
        window.history.replaceState(null, '', `${window.location.pathname}${params.size ? `?${params}` : ''}`);
        refresh();
      }, 250);
    });
    form.addEventListener('change', (event) => {
      if (event.target !== query) form.requestSubmit();
    });
  }

  document.addEventListener('visibilitychange', () => (document.hidden ? clearTimeout(timer) : refresh()));
  schedule();
}

/** Replace an element's content with server-rendered markup, only when it changed. */
function swap(element, html) {
  if (!element || element.dataset.html === html) return;
  const first = element.dataset.html === undefined;
  element.dataset.html = html;
  const markup = parsed(html);
  // The first poll compares what the browser made of both (it writes SVG's `<line/>` as `<line></line>`).
  if (first && element.innerHTML.trim() === markup.innerHTML.trim()) return;
  element.replaceChildren(markup.content);
  element.classList.remove('changed');
  void element.offsetWidth; // restart the highlight when a region changes twice in a row
  element.classList.add('changed');
}

// Server-rendered markup (escaped by Jinja) parsed inert: a <template> runs no scripts.
function parsed(html) {
  const template = document.createElement('template');
  template.innerHTML = html;
  return template;
}
