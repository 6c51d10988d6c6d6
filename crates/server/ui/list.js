// The runs list: newest first, filtered by status, paged with `before`.
'use strict';

(() => {
  const { el, api, errorText, badge, when } = forage;
  const params = new URLSearchParams(window.location.search);
  const status = params.get('status') || '';
  const before = params.get('before') || '';
  const filter = document.getElementById('status-filter');
  filter.value = status;

  function go(next) {
    const q = new URLSearchParams();
    if (next.status) q.set('status', next.status);
    if (next.before) q.set('before', next.before);
    const s = q.toString();
    window.location.assign('/' + (s ? '?' + s : ''));
  }

  filter.addEventListener('change', () => go({ status: filter.value }));
  document.getElementById('refresh').addEventListener('click', () => load());

  async function load() {
    const q = new URLSearchParams({ limit: '20' });
    if (status) q.set('status', status);
    if (before) q.set('before', before);
    const problem = document.getElementById('list-error');
    problem.hidden = true;
    const response = await api('/v1/tasks/runs?' + q.toString());
    if (!response.ok) {
      problem.textContent = await errorText(response);
      problem.hidden = false;
      return;
    }
    const page = await response.json();
    const body = document.querySelector('#runs tbody');
    body.replaceChildren();
    for (const run of page.runs || []) {
      const b = el('span');
      badge(b, run.status);
      const link = el('a', { href: '/ui/runs/' + encodeURIComponent(run.run_id), text: run.run_id });
      body.append(el('tr', { 'data-run-id': run.run_id },
        el('td', {}, link), el('td', {}, b), el('td', { text: run.processor }),
        el('td', { title: run.created_at, text: when(run.created_at) })));
    }
    document.getElementById('empty').hidden = (page.runs || []).length > 0;
    const older = document.getElementById('older');
    if (page.next_before) {
      const q2 = new URLSearchParams({ before: page.next_before });
      if (status) q2.set('status', status);
      older.href = '/?' + q2.toString();
      older.hidden = false;
    } else {
      older.hidden = true;
    }
    const newest = document.getElementById('newest');
    newest.hidden = !before;
    newest.href = status ? '/?' + new URLSearchParams({ status }).toString() : '/';
  }

  load().catch((e) => {
    const problem = document.getElementById('list-error');
    problem.textContent = String(e && e.message || e);
    problem.hidden = false;
  });
})();
