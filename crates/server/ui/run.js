// The run page: input, output, basis, and the live timeline of LLM turns and tool calls fed by
// the run's event stream (`GET /v1/tasks/runs/{id}/events`, authenticated by the session cookie).
'use strict';

(() => {
  const { el, api, errorText, badge, when, pretty, prettyJsonText, safeUrl, FINAL } = forage;
  const runId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
  const base = '/v1/tasks/runs/' + encodeURIComponent(runId);
  const $ = (id) => document.getElementById(id);
  const timeline = $('timeline');
  const statusNode = $('status');
  const toolRows = new Map();
  let finalSeen = false;
  let events = null;

  $('run-id').textContent = runId;
  document.title = 'forage · ' + runId;

  function showError(text) {
    const node = $('run-error');
    node.textContent = text;
    node.hidden = false;
  }

  // ---- run header and status

  function showRun(run) {
    if (!run) return;
    const current = statusNode.dataset.status;
    // Replayed history must not move a final badge back to "running".
    if (!(FINAL.includes(current) && !FINAL.includes(run.status))) badge(statusNode, run.status);
    $('processor').textContent = run.processor || '';
    $('created').textContent = when(run.created_at);
    if (run.error && run.error.message) showError(run.error.message);
    const final = FINAL.includes(statusNode.dataset.status);
    $('live').hidden = final;
    if (final || run.status === 'cancelling') $('cancel').hidden = true;
  }

  // ---- cancel (only where the server has the endpoint: a GET there answers 405, not 404)

  async function offerCancel() {
    const probe = await api(base + '/cancel');
    if (probe.status !== 405 || FINAL.includes(statusNode.dataset.status)) return;
    const button = $('cancel');
    button.hidden = false;
    button.addEventListener('click', async () => {
      button.disabled = true;
      const response = await api(base + '/cancel', { method: 'POST' });
      if (response.ok) {
        const body = await response.json().catch(() => null);
        if (body && body.status) showRun(body);
        button.hidden = true;
      } else {
        showError(await errorText(response));
        button.disabled = false;
      }
    });
  }

  // ---- input, output, basis

  async function loadInput() {
    const response = await api(base + '/input');
    if (!response.ok) return;
    const body = await response.json();
    $('input').textContent = pretty(body.input !== undefined ? body.input : body);
  }

  function showOutput(output) {
    if (!output) return;
    const node = $('output');
    node.classList.remove('muted');
    node.textContent = pretty(output.content);
    showBasis(output.basis || []);
    for (const call of output.mcp_tool_calls || []) {
      const row = toolRow(call.tool_call_id, call);
      finishTool(row, call);
      details(row, call);
    }
  }

  function showBasis(basis) {
    const body = $('basis').querySelector('tbody');
    body.replaceChildren();
    for (const item of basis) {
      const cites = el('ul', { class: 'cites' });
      for (const c of item.citations || []) {
        const url = safeUrl(c.url);
        const label = c.title || c.url || '';
        const link = url ? el('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank', text: label })
          : el('span', { text: label });
        const li = el('li', {}, link);
        for (const ex of c.excerpts || []) li.append(el('div', { class: 'muted', text: ex }));
        cites.append(li);
      }
      body.append(el('tr', {},
        el('td', {}, el('code', { text: item.field })),
        el('td', { text: item.reasoning || '' }),
        el('td', { text: item.confidence || '' }),
        el('td', {}, cites)));
    }
    $('basis').hidden = basis.length === 0;
    $('no-basis').hidden = basis.length > 0;
  }

  // ---- timeline

  function clock(timestamp) {
    const d = timestamp ? new Date(timestamp) : new Date();
    return isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
  }

  function item(kind, cls, timestamp, ...rest) {
    const li = el('li', { class: cls },
      el('div', { class: 'tl-head' },
        el('span', { class: 'tl-time', text: clock(timestamp) }),
        el('span', { class: 'tl-kind', text: kind }), ...rest));
    timeline.append(li);
    return li;
  }

  function seconds(ms) {
    return typeof ms === 'number' ? (ms >= 1000 ? (ms / 1000).toFixed(1) + ' s' : ms + ' ms') : '';
  }

  function toolRow(id, data) {
    let row = id ? toolRows.get(id) : null;
    if (row) return row;
    const server = data.server_name || '';
    const label = el('code', { class: 'tl-tool-name' },
      server ? el('span', { class: 'tl-server', text: server }) : null,
      server ? '.' : null,
      el('span', { class: 'tl-toolname', text: data.tool_name || '' }));
    row = item('Tool call', 'tl-tool running', data.timestamp, label,
      el('span', { class: 'tl-state', text: 'running…' }),
      el('span', { class: 'tl-dur' }));
    if (id) row.dataset.toolCallId = id;
    row.dataset.server = server;
    row.dataset.tool = data.tool_name || '';
    toolRows.set(id || Symbol('call'), row);
    return row;
  }

  function finishTool(row, data) {
    const error = data.error;
    row.classList.remove('running');
    row.classList.add(error ? 'err' : 'ok');
    row.querySelector('.tl-state').textContent = error ? 'failed' : 'returned';
    if (typeof data.duration_ms === 'number') {
      row.querySelector('.tl-dur').textContent = seconds(data.duration_ms);
      row.dataset.durationMs = String(data.duration_ms);
    }
    if (error) details(row, { error });
  }

  /** Adds arguments, response and error blocks to a tool row (once each). */
  function details(row, data) {
    const add = (cls, label, text) => {
      if (text === null || text === undefined || text === '' || row.querySelector('.' + cls)) return;
      row.append(el('div', { class: 'tl-detail ' + cls },
        el('span', { class: 'tl-label', text: label }), el('pre', { text })));
    };
    add('tl-args', 'arguments', data.arguments === undefined ? null : prettyJsonText(data.arguments));
    add('tl-response', 'response', data.content);
    add('tl-error', 'error', data.error);
  }

  function onProgress(type, data) {
    if (type === 'task_run.progress_msg.tool_call' && (data.tool_name || data.tool_call_id)) {
      const row = toolRow(data.tool_call_id, data);
      const ended = 'duration_ms' in data || 'error' in data;
      if (ended) finishTool(row, data);
      details(row, { arguments: data.arguments, content: data.content });
      return;
    }
    // "Calling X on MCP server Y" duplicates the structured tool-call frames that follow it.
    if (type === 'task_run.progress_msg.tool_call') return;
    if (type === 'task_run.progress_msg.exec_status' && typeof data.turn === 'number') {
      item('LLM turn ' + data.turn, 'tl-turn', data.timestamp,
        el('span', { class: 'tl-tokens', text: `${data.input_tokens} tokens in, ${data.output_tokens} out` }),
        el('span', { class: 'tl-calls', text: `${data.tool_calls} tool call${data.tool_calls === 1 ? '' : 's'}` }),
        el('span', { class: 'tl-dur', text: seconds(data.duration_ms) }));
      return;
    }
    const kind = type.startsWith('task_run.progress_msg.') ? type.slice('task_run.progress_msg.'.length) : type;
    item(kind, 'tl-msg', data.timestamp, el('span', { text: data.message || '' }));
  }

  let lastStateShown = '';
  function onState(data, opening) {
    const run = data.run || {};
    showRun(run);
    if (!opening && run.status && run.status !== lastStateShown) {
      item('Status', 'tl-state', run.modified_at, el('span', { class: 'badge ' + run.status, text: run.status }));
      lastStateShown = run.status;
    }
    if (data.output) showOutput(data.output);
    if (FINAL.includes(run.status)) {
      finalSeen = true;
      // The first frame is the current state; a final run then replays its history.
      if (!opening && events) events.close();
    }
  }

  const TYPES = ['task_run.state', 'task_run.progress_stats', 'error'].concat(
    ['plan', 'search', 'result', 'tool_call', 'exec_status', 'extract'].map((k) => 'task_run.progress_msg.' + k));

  function follow() {
    let first = true;
    events = new EventSource(base + '/events', { withCredentials: true });
    events.addEventListener('open', () => { first = true; });
    for (const type of TYPES) {
      events.addEventListener(type, (e) => {
        let data;
        try { data = JSON.parse(e.data); } catch (_) { return; }
        const opening = first;
        first = false;
        if (type === 'task_run.state') onState(data, opening);
        else if (type === 'error') showError((data.error && data.error.message) || 'event stream error');
        else if (type !== 'task_run.progress_stats') onProgress(type, data);
      });
    }
    events.addEventListener('error', () => {
      // The server ends the stream when the run is final; otherwise EventSource reconnects
      // with Last-Event-ID and the history resumes where it stopped.
      if (finalSeen) {
        events.close();
        $('live').hidden = true;
      }
    });
  }

  async function start() {
    const response = await api(base);
    if (!response.ok) {
      badge(statusNode, 'unknown');
      showError(await errorText(response));
      return;
    }
    showRun(await response.json());
    loadInput().catch(() => {});
    follow();
    if (!FINAL.includes(statusNode.dataset.status)) offerCancel().catch(() => {});
  }

  start().catch((e) => showError(String((e && e.message) || e)));
})();
