// Shared helpers of the forage UI. Every piece of data reaches the page through textContent or
// attributes set one by one: never innerHTML (tool outputs and model answers are hostile).
'use strict';

const forage = (() => {
  /** Builds an element; children are nodes or strings (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = String(value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Calls the API with the session cookie; a 401 sends the browser to the login form. */
  async function api(path, options) {
    const opts = Object.assign({ credentials: 'same-origin' }, options || {});
    opts.headers = Object.assign({ 'x-forage-ui': '1', accept: 'application/json' }, opts.headers || {});
    const response = await fetch(path, opts);
    if (response.status === 401) {
      window.location.assign('/ui/login');
      throw new Error('not signed in');
    }
    return response;
  }

  /** The error message of Parallel's error shape, else the status line. */
  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return String(body.error.message);
    } catch (_) { /* not JSON */ }
    return response.status + ' ' + response.statusText;
  }

  const FINAL = ['completed', 'failed', 'cancelled'];

  /** Sets a status badge's text and class. */
  function badge(node, status) {
    const s = String(status || 'unknown');
    node.textContent = s;
    node.className = 'badge ' + (/^[a-z_]+$/.test(s) ? s : 'unknown');
    node.dataset.status = s;
  }

  /** A timestamp in local time. */
  function when(text) {
    const d = new Date(text);
    return isNaN(d.getTime()) ? String(text || '') : d.toLocaleString();
  }

  /** Pretty JSON for objects, the text itself for strings. */
  function pretty(value) {
    if (typeof value === 'string') return value;
    try { return JSON.stringify(value, null, 2); } catch (_) { return String(value); }
  }

  /** A string of JSON pretty-printed when it parses, else as is. */
  function prettyJsonText(text) {
    if (typeof text !== 'string') return pretty(text);
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
  }

  /** An http(s) URL, or null (a citation must not become a javascript: link). */
  function safeUrl(text) {
    try {
      const url = new URL(String(text));
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (_) { return null; }
  }

  return { el, api, errorText, badge, when, pretty, prettyJsonText, safeUrl, FINAL };
})();
