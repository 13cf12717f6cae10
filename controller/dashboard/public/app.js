// Stratus live dashboard: logs in with a Stratus API token (kept in sessionStorage only; a
// `#token=...` fragment is taken once and removed from the address bar), gets a short-lived read-only
// broker account from config.json, subscribes to the telemetry and event topics over MQTT/WebSocket,
// and renders hosts, VMs, small CPU charts and the event stream. Values from agents are inserted as
// text, never as HTML.
import mqtt from './vendor/mqtt.esm.js';

const TOKEN_KEY = 'stratus-token';

function takeTokenFromFragment() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

/** fetch with the bearer token; a 401 forgets the token and shows the login form. */
async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new LoginNeeded();
  const r = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new LoginNeeded();
  }
  return r;
}

class LoginNeeded extends Error {}

function showLogin() {
  document.getElementById('conn').textContent = 'log in';
  const form = document.getElementById('login');
  form.hidden = false;
  form.addEventListener(
    'submit',
    (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, new FormData(form).get('token').trim());
      form.hidden = true;
      start();
    },
    { once: true },
  );
}

const POINTS = 60;
const state = { hosts: new Map(), vms: new Map(), events: [], connected: false };
let dirty = false;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

function spark(values, max = 100) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', `0 0 ${POINTS} 24`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const base = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: 0, y1: 23.5, x2: POINTS, y2: 23.5, class: 'base' })) {
    base.setAttribute(k, String(v));
  }
  svg.append(base);
  if (values.length > 0) {
    const top = Math.max(max, ...values, 1);
    const step = values.length > 1 ? POINTS / (values.length - 1) : 0;
    const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(22 - (v / top) * 20).toFixed(1)}`);
    const area = document.createElementNS(ns, 'polygon');
    area.setAttribute('points', `0,24 ${pts.join(' ')} ${((values.length - 1) * step).toFixed(1)},24`);
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(area, line);
  }
  return svg;
}

function bar(pct) {
  const b = el('span', { class: 'bar' }, el('i'));
  b.firstChild.style.width = `${Math.min(100, Math.max(0, pct)).toFixed(0)}%`;
  return b;
}

const gib = (b) => `${(b / 1073741824).toFixed(1)} GiB`;
const push = (arr, v) => {
  arr.push(v);
  if (arr.length > POINTS) arr.splice(0, arr.length - POINTS);
};

function host(id) {
  let h = state.hosts.get(id);
  if (!h) {
    h = { id, status: undefined, info: undefined, metrics: undefined, cpu: [], vmCount: 0 };
    state.hosts.set(id, h);
    void loadHistory(id, '', h.cpu);
  }
  return h;
}

function vm(id, hostId) {
  let v = state.vms.get(id);
  if (!v) {
    v = { id, host: hostId, body: undefined, cpu: [] };
    state.vms.set(id, v);
    void loadHistory(hostId, id, v.cpu);
  }
  return v;
}

async function loadHistory(hostId, vmId, into) {
  try {
    const r = await api(`history.json?host=${encodeURIComponent(hostId)}&vm=${encodeURIComponent(vmId)}&minutes=15`);
    if (!r.ok) return;
    const { points } = await r.json();
    const older = points.map((p) => p.cpuPct);
    into.unshift(...older.slice(-POINTS));
    if (into.length > POINTS) into.splice(0, into.length - POINTS);
    dirty = true;
  } catch {
    // history is a nicety; live data follows
  }
}

function onMessage(topic, payload) {
  const p = topic.split('/');
  const hostId = p[3];
  if (p[2] !== 'hosts' || !hostId) return;
  const kind = p.length === 5 ? p[4] : p.length === 7 && p[4] === 'vms' ? 'vm-state' : '';
  if (!kind) return;
  let m;
  if (payload.length > 0) {
    try {
      m = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    if (m?.v !== 1) return;
  }
  const h = host(hostId);
  switch (kind) {
    case 'status':
      if (!m) return;
      // a Last Will of an older session never hides a newer "online"
      if (h.status && m.state === 'offline' && m.session < h.status.session) return;
      h.status = m;
      break;
    case 'info':
      h.info = m;
      break;
    case 'metrics':
      if (!m) return;
      h.metrics = m;
      push(h.cpu, m.cpu.usagePct);
      break;
    case 'vm-metrics':
      if (!m) return;
      for (const s of m.vms) {
        const v = state.vms.get(s.vm);
        if (v) push(v.cpu, s.cpuPct);
      }
      break;
    case 'vm-state': {
      const id = p[5];
      if (!m || m.state === 'deleted') {
        state.vms.delete(id);
        break;
      }
      const v = vm(id, hostId);
      if (v.body && m.seq < v.body.seq) return;
      v.host = hostId;
      v.body = m;
      break;
    }
    case 'events':
      if (!m) return;
      state.events.unshift(m);
      state.events.length = Math.min(state.events.length, 50);
      break;
    default:
      return;
  }
  dirty = true;
}

function hostState(h) {
  if (!h.status) return 'unknown';
  if (h.status.state === 'online') return 'online';
  return h.status.reason === 'last-will' ? 'down' : 'offline';
}

function render() {
  dirty = false;
  const conn = document.getElementById('conn');
  conn.textContent = state.connected ? 'live' : 'reconnecting…';
  conn.className = `badge ${state.connected ? 'on' : 'off'}`;
  const hostsBody = el('tbody');
  const perHost = new Map();
  for (const v of state.vms.values()) perHost.set(v.host, (perHost.get(v.host) ?? 0) + 1);
  for (const h of [...state.hosts.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    const st = hostState(h);
    const m = h.metrics;
    const memPct = m ? (m.memory.usedBytes / m.memory.totalBytes) * 100 : 0;
    hostsBody.append(
      el(
        'tr',
        { 'data-host': h.id, 'data-state': st },
        el('td', {}, el('span', { class: `dot ${st}`, title: st })),
        el('td', {}, h.id, ' ', el('span', { class: `badge state-${st}` }, st)),
        el('td', {}, m ? bar(m.cpu.usagePct) : '', m ? `${m.cpu.usagePct.toFixed(0)} %` : '–'),
        el('td', {}, spark(h.cpu)),
        el('td', {}, m ? bar(memPct) : '', m ? `${gib(m.memory.usedBytes)} / ${gib(m.memory.totalBytes)}` : '–'),
        el('td', { 'data-testid': 'vm-count' }, perHost.get(h.id) ?? 0),
        el('td', { class: 'muted' }, h.info ? `${h.info.hypervisor.libvirt} / ${h.info.hypervisor.qemu}` : ''),
      ),
    );
  }
  document.querySelector('#hosts tbody').replaceWith(hostsBody);
  const vmsBody = el('tbody');
  const vms = [...state.vms.values()].filter((v) => v.body).sort((a, b) => a.body.name.localeCompare(b.body.name));
  for (const v of vms) {
    const b = v.body;
    vmsBody.append(
      el(
        'tr',
        { 'data-vm': v.id, 'data-state': b.state },
        el('td', {}, el('span', { class: `badge state-${b.state}`, 'data-testid': 'vm-state' }, b.state)),
        el('td', { title: v.id }, b.name),
        el('td', {}, v.host),
        el('td', {}, b.vcpus),
        el('td', {}, `${b.memoryMiB} MiB`),
        el('td', {}, spark(v.cpu)),
        el(
          'td',
          { class: 'muted' },
          b.addresses.map((a) => (a.ips?.length ? a.ips.join(' ') : `${a.mac} on ${a.bridge}`)).join(', '),
        ),
      ),
    );
  }
  document.querySelector('#vms tbody').replaceWith(vmsBody);
  const ev = el('ol', { id: 'events', 'data-testid': 'events' });
  for (const e of state.events) {
    ev.append(el('li', { class: e.severity }, `${new Date(e.ts).toLocaleTimeString()} ${e.host}: ${e.message}`));
  }
  document.getElementById('events').replaceWith(ev);
  const online = [...state.hosts.values()].filter((h) => hostState(h) === 'online').length;
  document.getElementById('summary').textContent = `${online}/${state.hosts.size} hosts online · ${vms.length} VMs`;
}

async function main() {
  let cfg = await (await api('config.json')).json();
  document.getElementById('site').textContent = cfg.site;
  const url = cfg.wsUrl || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
  const opts = { protocolVersion: 4, clean: true, reconnectPeriod: 2000, connectTimeout: 10_000 };
  if (cfg.username) Object.assign(opts, { username: cfg.username, password: cfg.password });
  try {
    const r = await api('events.json?limit=20');
    if (r.ok) state.events.push(...(await r.json()).items);
  } catch {
    // the live stream follows
  }
  const client = mqtt.connect(url, opts);
  client.on('connect', () => {
    state.connected = true;
    dirty = true;
    client.subscribe(cfg.filters, { qos: 0 });
  });
  client.on('close', () => {
    state.connected = false;
    dirty = true;
    // the broker account is short-lived: get a fresh one before the next reconnection
    if (cfg.expiresAt && Date.now() > cfg.expiresAt - 60_000) {
      api('config.json')
        .then((r) => r.json())
        .then((fresh) => {
          cfg = fresh;
          Object.assign(client.options, { username: fresh.username, password: fresh.password });
        })
        .catch(() => undefined);
    }
  });
  client.on('message', onMessage);
  setInterval(() => {
    if (dirty) render();
  }, 250);
  window.stratusDashboard = { state, client };
}

function start() {
  main().catch((err) => {
    if (err instanceof LoginNeeded) return showLogin();
    document.getElementById('conn').textContent = `error: ${err.message}`;
  });
}

takeTokenFromFragment();
start();
