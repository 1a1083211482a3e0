// rcs dashboard: a live fleet map on a canvas, the fleet, tasks, alarms and events beside it,
// operator actions through the HTTP API. Plain JavaScript with no dependencies, served from the
// server binary. The token lives in sessionStorage (this tab only) and goes to the API as a
// bearer token (as `access_token` for the two event streams, which browsers cannot give headers).
'use strict';

(() => {
  const { t, name } = window.rcsI18n;
  const LIVE_INTERVAL_MS = 250;
  const SPACE_POLL_MS = 1000;
  const TASK_POLL_MS = 2000;
  const CLUSTER_POLL_MS = 2000;
  const WAITS_POLL_MS = 1000;
  const DETAIL_POLL_MS = 1000;
  const LIST_REFRESH_MS = 1000;
  const MAX_EVENTS = 200;
  const TOKEN_KEY = 'rcs.token';
  const MAP_KEY = 'rcs.map';

  const EVENT_KINDS = [
    'agv.online', 'agv.offline', 'agv.registered', 'agv.state', 'agv.link_lost', 'agv.refused',
    'agv.enrolled', 'agv.policy', 'agv.space_cleared', 'command.sent', 'command.result',
    'grant.granted', 'grant.denied', 'grant.ended', 'grant.revoke', 'task.submitted',
    'task.assigned', 'task.waiting', 'task.replanned', 'task.completed', 'task.failed',
    'task.cancelled', 'task.cancel', 'task.interrupted', 'task.blocked_by_offline',
    'traffic.deadlock', 'safety.overlap',
    'safety.stop', 'safety.clear', 'safety.resolved', 'token.created', 'lagged',
  ];

  const STATE_COLOURS = {
    initializing: '#8a96a6',
    idle: '#30a46c',
    working: '#2b7de9',
    paused: '#f5a524',
    waiting_for_release: '#a18fff',
    in_safe_space: '#12a594',
    switching_map: '#d6409f',
    switching_navigation: '#d6409f',
    charging: '#46a758',
    manual: '#978365',
    emergency_stop: '#e5484d',
    fault: '#e5484d',
    link_lost: '#e5484d',
    safety_stop: '#e5484d',
  };
  const OFFLINE_COLOUR = '#5b6573';
  const ONE_WAY_COLOUR = '#c2cad6';
  // Chinese glyphs from whichever of these the system has
  const FONTS = 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';
  const AREA_COLOURS = {
    forbidden: 'rgba(229, 72, 77, .28)',
    slow: 'rgba(245, 165, 36, .18)',
    one_way: 'rgba(161, 143, 255, .16)',
    no_stop: 'rgba(214, 64, 159, .16)',
    qr_zone: 'rgba(18, 165, 148, .14)',
    slam_zone: 'rgba(43, 125, 233, .10)',
    lift_shaft: 'rgba(214, 64, 159, .30)',
    charging_area: 'rgba(70, 167, 88, .18)',
    no_rotate: 'rgba(151, 131, 101, .20)',
    pedestrian: 'rgba(255, 230, 41, .16)',
  };
  const NODE_COLOURS = {
    waypoint: '#6b7785',
    station: '#2b7de9',
    charger: '#46a758',
    lift_door: '#d6409f',
    parking: '#978365',
  };

  const $ = (id) => document.getElementById(id);
  const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => (
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const colourOf = (agv) => (agv.online ? STATE_COLOURS[agv.state] || '#8a96a6' : OFFLINE_COLOUR);
  const hue = (id) => `hsl(${(id * 137.508) % 360}, 70%, 60%)`;
  const hueA = (id, a) => `hsla(${(id * 137.508) % 360}, 70%, 60%, ${a})`;
  const fmt = (v, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '—');
  // 24-hour times, whatever the browser's locale would make of them
  const time = (ms) => {
    const d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()]
      .map((n) => String(n).padStart(2, '0')).join(':');
  };
  // Calls `fn` at most once per `ms`, the last call of a burst included.
  const throttle = (fn, ms) => {
    let last = 0;
    let timer = null;
    return () => {
      const wait = last + ms - Date.now();
      if (wait <= 0) {
        last = Date.now();
        fn();
      } else if (!timer) {
        timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
      }
    };
  };

  // ---- state -------------------------------------------------------------------------------

  const S = {
    token: null,
    role: null,
    name: null,
    maps: [],
    mapDetail: new Map(), // id -> map with nodes, edges, areas, lifts
    mapId: null,
    agvs: new Map(), // id -> { data, from, to, t0 }
    space: [],
    tasks: [],
    waits: [], // GET /api/v1/waits, longest first
    arrows: [], // the wait arrows drawn last
    events: [],
    selected: null,
    detail: null,
    view: { scale: 20, ox: 0, oy: 0 },
    dirty: true,
    listDirty: true,
    frames: 0,
    streams: [],
    timers: [],
    cluster: null, // GET /api/v1/cluster, last answer
    following: false,
  };
  // Rendering and stream costs, for the load script (window.rcsDashboard.perf()).
  const PERF = { draws: [], handles: [], bytes: 0, updates: 0, drawnFrames: 0, since: performance.now() };
  const keepLast = (list, v) => { list.push(v); if (list.length > 2000) list.shift(); };
  const canOperate = () => S.role === 'operator' || S.role === 'admin';

  // ---- API ---------------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, body) {
      super((body && (body.message || body.error)) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body, token = S.token) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (_) { /* no body */ }
    if (res.status === 401 && token === S.token && S.token) {
      logout(t('The token is no longer accepted: sign in again.'));
    }
    if (!res.ok) throw new ApiFailure(res.status, data);
    return data;
  }

  function toast(text, kind = 'ok') {
    const t = $('toast');
    t.textContent = text;
    t.className = kind;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  // ---- login -------------------------------------------------------------------------------

  async function login(token) {
    const me = await api('GET', '/api/v1/whoami', undefined, token);
    S.token = token;
    S.role = me.role;
    S.name = me.name;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login').hidden = true;
    $('who').textContent = t('{name} · {role}', { name: me.name, role: t(me.role) });
    $('actions').hidden = !canOperate();
    document.body.dataset.role = me.role;
    await start();
  }

  function logout(message) {
    for (const s of S.streams) s.close();
    for (const t of S.timers) clearInterval(t);
    S.streams = [];
    S.timers = [];
    S.token = null;
    S.role = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('login-error').textContent = message || '';
    $('login').hidden = false;
    $('token').value = '';
    $('token').focus();
    setLink(false);
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      await login($('token').value.trim());
    } catch (err) {
      $('login-error').textContent = err.status === 401 ? t('Unknown token.') : err.message;
    }
  });
  $('logout').addEventListener('click', () => logout(''));

  // ---- cluster: which instance this page talks to, and following a failover ----------------

  // Several instances (docs/operations.md, "Several instances"): the header names the instance
  // and its role. When it turns standby, or stops answering, the page goes to the active
  // instance (or else the first other instance that answers), taking the token along in the
  // URL fragment (never sent to a server; removed from the address bar on arrival).
  async function pollCluster() {
    let c = null;
    try {
      const res = await fetch('/api/v1/cluster', { cache: 'no-store' });
      if (res.ok) c = await res.json();
    } catch (err) { /* unreachable: follow below */ }
    const el = $('instance');
    if (c && c.role === 'single') { el.hidden = true; return; }
    if (c) S.cluster = c;
    const known = S.cluster;
    if (!known) return;
    el.hidden = false;
    const me = (known.me && known.me.id) || location.host;
    if (c && c.role !== 'standby') {
      el.className = '';
      el.textContent = t('{me} · {role} · epoch {epoch}', { me, role: t(c.role), epoch: c.epoch });
      return;
    }
    el.className = c ? 'standby' : 'lost';
    el.textContent = c ? t('{me} · standby (read-only)', { me }) : t('{me} · not answering', { me });
    const here = location.host;
    const candidates = [];
    if (c && c.holder && c.holder.expires_in_ms > 0) candidates.push(c.holder.http_address);
    for (const m of known.members || []) if (m.role === 'active') candidates.push(m.http_address);
    if (!c) for (const m of known.members || []) candidates.push(m.http_address);
    await follow(candidates.filter((a, i) => a && a !== here && candidates.indexOf(a) === i));
  }

  async function follow(addresses) {
    if (S.following || !S.token) return;
    S.following = true;
    try {
      for (const addr of addresses) {
        const base = `${location.protocol}//${addr}`;
        try {
          // Opaque, but it settles only if something answers there.
          await fetch(`${base}/healthz`, { mode: 'no-cors', cache: 'no-store' });
        } catch (err) { continue; }
        $('instance').textContent = t('following the failover to {addr}…', { addr });
        location.href = `${base}/#token=${encodeURIComponent(S.token)}`;
        return;
      }
    } finally {
      S.following = false;
    }
  }

  // ---- start: maps, streams, pollers -------------------------------------------------------

  async function start() {
    S.maps = await api('GET', '/api/v1/maps');
    S.maps.sort((a, b) => a.building.localeCompare(b.building) || a.floor - b.floor || a.id - b.id);
    mapOptions();
    const stored = Number(sessionStorage.getItem(MAP_KEY));
    await showMap(S.maps.some((m) => m.id === stored) ? stored : S.maps[0]?.id);

    openLive();
    openEvents();
    S.timers.push(setInterval(pollSpace, SPACE_POLL_MS));
    S.timers.push(setInterval(pollTasks, TASK_POLL_MS));
    S.timers.push(setInterval(pollWaits, WAITS_POLL_MS));
    S.timers.push(setInterval(pollDetail, DETAIL_POLL_MS));
    S.timers.push(setInterval(renderLists, LIST_REFRESH_MS));
    S.timers.push(setInterval(pollCluster, CLUSTER_POLL_MS));
    pollCluster();
    pollTasks();
    pollSpace();
  }

  function mapOptions() {
    $('map-select').innerHTML = S.maps.map((m) => `<option value="${m.id}">`
      + `${esc(t('{name} ({building}, floor {floor})', m))}</option>`).join('');
    if (S.mapId !== null) $('map-select').value = String(S.mapId);
  }

  async function loadMap(id) {
    if (!S.mapDetail.has(id)) {
      const m = await api('GET', `/api/v1/maps/${id}`);
      m.nodeById = new Map(m.node_list.map((n) => [n.id, n]));
      m.liftByNode = new Map(m.lifts.map((l) => [l.node, l]));
      m.pairs = new Set(m.edges.map((e) => `${e.from}-${e.to}`));
      S.mapDetail.set(id, m);
    }
    return S.mapDetail.get(id);
  }

  async function showMap(id) {
    if (id === undefined || id === null) return;
    await loadMap(id);
    S.mapId = id;
    $('map-select').value = String(id);
    sessionStorage.setItem(MAP_KEY, String(id));
    hidePopup();
    fit();
    S.space = [];
    pollSpace();
    legend();
  }

  $('map-select').addEventListener('change', (e) => { showMap(Number(e.target.value)); });
  $('fit').addEventListener('click', fit);

  function setLink(up) {
    S.linkUp = up;
    const l = $('link');
    l.className = `link ${up ? 'up' : 'down'}`;
    l.textContent = up ? t('live') : t('reconnecting');
  }

  // An EventSource reconnects by itself after a network error, but gives up for good on an
  // HTTP error (a revoked token, a server that answered 503 while stopping): then check the token
  // (a 401 logs out) and open a new one.
  function reopenWhenClosed(es, open) {
    if (es.readyState !== EventSource.CLOSED) return;
    S.streams = S.streams.filter((x) => x !== es);
    setTimeout(async () => {
      if (!S.token) return;
      try {
        await api('GET', '/api/v1/whoami');
        open();
      } catch (err) {
        if (S.token) setTimeout(() => reopenWhenClosed(es, open), 0);
      }
    }, 3000);
  }

  function openLive() {
    const q = new URLSearchParams({ access_token: S.token, interval_ms: LIVE_INTERVAL_MS });
    const es = new EventSource(`/api/v1/live?${q}`);
    es.onopen = () => setLink(true);
    es.onerror = () => {
      setLink(false);
      reopenWhenClosed(es, openLive);
    };
    es.addEventListener('agvs', (e) => {
      const now = performance.now();
      PERF.bytes += e.data.length;
      PERF.updates += 1;
      for (const a of JSON.parse(e.data)) {
        const pose = { x: a.x, y: a.y, theta: a.theta, map: a.map };
        const old = S.agvs.get(a.id);
        if (old && old.to.map === a.map) {
          old.from = interpolate(old, now);
          old.to = pose;
          old.t0 = now;
          old.data = a;
        } else {
          S.agvs.set(a.id, { data: a, from: pose, to: pose, t0: now });
        }
      }
      S.dirty = true;
      S.listDirty = true;
      keepLast(PERF.handles, performance.now() - now);
    });
    // AGVs that left the fleet (decommissioned)
    es.addEventListener('gone', (e) => {
      for (const id of JSON.parse(e.data)) S.agvs.delete(id);
      S.dirty = true;
      S.listDirty = true;
    });
    S.streams.push(es);
  }

  function openEvents() {
    const es = new EventSource(`/api/v1/events?${new URLSearchParams({ access_token: S.token })}`);
    const take = (e) => {
      let ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      if (e.type === 'lagged') ev = { kind: 'lagged', at_ms: Date.now(), detail: ev };
      S.events.unshift(ev);
      if (S.events.length > MAX_EVENTS) S.events.length = MAX_EVENTS;
      renderEventsSoon();
      if (ev.kind && (ev.kind.startsWith('task.') || ev.kind.startsWith('grant.'))) {
        pollTasksSoon();
        pollSpaceSoon();
      }
    };
    for (const k of EVENT_KINDS) es.addEventListener(k, take);
    es.onerror = () => reopenWhenClosed(es, openEvents);
    S.streams.push(es);
  }

  async function pollSpace() {
    if (S.mapId === null || !S.token) return;
    const mapId = S.mapId;
    try {
      const held = await api('GET', `/api/v1/space?map_id=${mapId}`);
      if (mapId === S.mapId) {
        S.space = held.filter((h) => h.kind !== 'footprint');
        S.dirty = true;
      }
    } catch (_) { /* the next poll retries */ }
  }

  async function pollTasks() {
    if (!S.token) return;
    try {
      S.tasks = await api('GET', '/api/v1/tasks?limit=200');
      renderTasks();
    } catch (_) { /* the next poll retries */ }
  }

  async function pollWaits() {
    if (!S.token) return;
    try {
      S.waits = await api('GET', '/api/v1/waits');
      S.dirty = true;
      renderWaits();
    } catch (_) { /* the next poll retries */ }
  }

  async function pollDetail() {
    if (S.selected === null || !S.token) return;
    const id = S.selected;
    try {
      const d = await api('GET', `/api/v1/agvs/${id}`);
      if (id === S.selected) {
        S.detail = d;
        renderDetail();
      }
    } catch (_) { /* the next poll retries */ }
  }

  // ---- view: world <-> screen --------------------------------------------------------------

  const canvas = $('map');
  const ctx = canvas.getContext('2d');

  const toScreen = (x, y) => [S.view.ox + x * S.view.scale, S.view.oy - y * S.view.scale];
  const toWorld = (sx, sy) => [(sx - S.view.ox) / S.view.scale, (S.view.oy - sy) / S.view.scale];

  function resize() {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * dpr));
    canvas.height = Math.max(1, Math.round(r.height * dpr));
    S.dirty = true;
  }

  function fit() {
    const m = S.maps.find((x) => x.id === S.mapId);
    if (!m) return;
    resize();
    const r = canvas.getBoundingClientRect();
    const [x0, y0, x1, y1] = m.bounds;
    const pad = 24;
    const scale = Math.min((r.width - 2 * pad) / Math.max(x1 - x0, 1),
      (r.height - 2 * pad) / Math.max(y1 - y0, 1));
    S.view.scale = Math.max(scale, 0.01);
    S.view.ox = (r.width - (x1 - x0) * S.view.scale) / 2 - x0 * S.view.scale;
    S.view.oy = (r.height + (y1 - y0) * S.view.scale) / 2 + y0 * S.view.scale;
    S.dirty = true;
  }

  window.addEventListener('resize', () => { resize(); });

  // Pan by dragging, zoom with the wheel around the pointer; a click that did not drag picks.
  let drag = null;
  canvas.addEventListener('mousedown', (e) => {
    drag = { x: e.clientX, y: e.clientY, ox: S.view.ox, oy: S.view.oy, moved: false };
  });
  window.addEventListener('mousemove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
    if (drag.moved) {
      S.view.ox = drag.ox + dx;
      S.view.oy = drag.oy + dy;
      S.dirty = true;
    }
  });
  window.addEventListener('mouseup', (e) => {
    const d = drag;
    drag = null;
    if (d && !d.moved && e.target === canvas) pick(e);
  });
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    const sx = e.clientX - r.left;
    const sy = e.clientY - r.top;
    const [wx, wy] = toWorld(sx, sy);
    const k = Math.exp(-e.deltaY * 0.0015);
    S.view.scale = Math.min(Math.max(S.view.scale * k, 0.05), 2000);
    S.view.ox = sx - wx * S.view.scale;
    S.view.oy = sy + wy * S.view.scale;
    S.dirty = true;
  }, { passive: false });

  // ---- drawing -----------------------------------------------------------------------------

  function interpolate(a, now) {
    const t = Math.min(1, (now - a.t0) / LIVE_INTERVAL_MS);
    if (t >= 1) return a.to;
    let dth = a.to.theta - a.from.theta;
    while (dth > Math.PI) dth -= 2 * Math.PI;
    while (dth < -Math.PI) dth += 2 * Math.PI;
    return {
      x: a.from.x + (a.to.x - a.from.x) * t,
      y: a.from.y + (a.to.y - a.from.y) * t,
      theta: a.from.theta + dth * t,
      map: a.to.map,
    };
  }

  function footprintCorners(a, pose) {
    const [front, rear, left, right] = a.data.footprint || [0.5, 0.5, 0.35, 0.35];
    const c = Math.cos(pose.theta);
    const s = Math.sin(pose.theta);
    return [[front, left], [front, -right], [-rear, -right], [-rear, left]]
      .map(([u, v]) => [pose.x + u * c - v * s, pose.y + u * s + v * c]);
  }

  function polygonPath(points, c = ctx, begin = true) {
    if (begin) c.beginPath();
    points.forEach(([x, y], i) => {
      const [sx, sy] = toScreen(x, y);
      if (i === 0) c.moveTo(sx, sy); else c.lineTo(sx, sy);
    });
    c.closePath();
  }

  // The map itself (areas, edges, nodes, lifts) changes only with the view: it is drawn into an
  // offscreen layer once per view and copied each frame. Everything of a colour goes in one path.
  const layer = document.createElement('canvas');
  const lctx = layer.getContext('2d');
  let layerKey = '';

  function drawMapLayer(m, dpr) {
    const key = `${m.id}|${S.view.scale}|${S.view.ox}|${S.view.oy}|${canvas.width}|${canvas.height}`;
    if (key === layerKey) return;
    layerKey = key;
    layer.width = canvas.width;
    layer.height = canvas.height;
    const c = lctx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, layer.width, layer.height);
    const px = S.view.scale;

    for (const a of m.areas) {
      polygonPath(a.polygon, c);
      c.fillStyle = AREA_COLOURS[a.kind] || 'rgba(138, 150, 166, .12)';
      c.fill();
      if (a.kind === 'forbidden' || a.kind === 'lift_shaft') {
        c.strokeStyle = a.kind === 'forbidden' ? '#e5484d' : '#d6409f';
        c.lineWidth = 1;
        c.stroke();
      }
    }

    // Edges: one path for the open ones, one (dashed red) for the blocked.
    c.lineWidth = Math.max(1, Math.min(3, px * 0.06));
    for (const blocked of [false, true]) {
      c.beginPath();
      for (const e of m.edges) {
        if (e.blocked !== blocked || (e.from > e.to && m.pairs.has(`${e.to}-${e.from}`))) continue;
        e.polyline.forEach(([x, y], i) => {
          const [sx, sy] = toScreen(x, y);
          if (i === 0) c.moveTo(sx, sy); else c.lineTo(sx, sy);
        });
      }
      c.strokeStyle = blocked ? '#e5484d' : '#3a4554';
      c.setLineDash(blocked ? [4, 4] : []);
      c.stroke();
    }
    c.setLineDash([]);

    // One-way lanes (no edge back): an arrowhead at the middle of the lane, pointing the way.
    const head = Math.max(4, Math.min(8, px * 0.25));
    c.beginPath();
    for (const e of m.edges) {
      if (m.pairs.has(`${e.to}-${e.from}`)) continue;
      const pts = e.polyline.map(([x, y]) => toScreen(x, y));
      const lens = pts.slice(1).map(([x, y], i) => Math.hypot(x - pts[i][0], y - pts[i][1]));
      const total = lens.reduce((a, b) => a + b, 0);
      if (total < head * 3) continue;
      let along = total / 2;
      let i = 0;
      while (i < lens.length - 1 && along > lens[i]) { along -= lens[i]; i += 1; }
      const [x0, y0] = pts[i];
      const [x1, y1] = pts[i + 1];
      const ux = (x1 - x0) / (lens[i] || 1);
      const uy = (y1 - y0) / (lens[i] || 1);
      const [tx, ty] = [x0 + ux * (along + head / 2), y0 + uy * (along + head / 2)];
      c.moveTo(tx, ty);
      c.lineTo(tx - ux * head - uy * head * 0.6, ty - uy * head + ux * head * 0.6);
      c.lineTo(tx - ux * head + uy * head * 0.6, ty - uy * head - ux * head * 0.6);
      c.closePath();
    }
    c.fillStyle = ONE_WAY_COLOUR;
    c.fill();

    // Nodes by kind; lift doors as squares (their names are labels, drawn with the AGVs).
    const r = nodeRadius(px);
    const byKind = new Map();
    for (const n of m.node_list) {
      if (m.liftByNode.has(n.id)) continue;
      if (!byKind.has(n.kind)) byKind.set(n.kind, []);
      byKind.get(n.kind).push(n);
    }
    for (const [kind, nodes] of byKind) {
      const rr = kind === 'waypoint' ? r * 0.7 : r;
      c.beginPath();
      for (const n of nodes) {
        const [sx, sy] = toScreen(n.x, n.y);
        c.moveTo(sx + rr, sy);
        c.arc(sx, sy, rr, 0, 2 * Math.PI);
      }
      c.fillStyle = NODE_COLOURS[kind] || NODE_COLOURS.waypoint;
      c.fill();
    }
    for (const [nodeId] of m.liftByNode) {
      const n = m.nodeById.get(nodeId);
      if (!n) continue;
      const [sx, sy] = toScreen(n.x, n.y);
      c.fillStyle = NODE_COLOURS.lift_door;
      c.fillRect(sx - r - 2, sy - r - 2, 2 * r + 4, 2 * r + 4);
    }
  }

  const nodeRadius = (px) => Math.max(2, Math.min(5, px * 0.12));

  // Labels never overlap: each is placed only where no label placed before it is, and the
  // map's labels (lift and node names) also not on an AGV; a badge that would overlap another
  // tries a line higher, else it is not drawn. A grid of 64 px cells finds the neighbours.
  function labelPlacer() {
    const CELL = 64;
    const cells = new Map();
    const placed = [];
    const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    const keys = (r) => {
      const out = [];
      for (let cx = Math.floor(r.x / CELL); cx <= Math.floor((r.x + r.w) / CELL); cx += 1) {
        for (let cy = Math.floor(r.y / CELL); cy <= Math.floor((r.y + r.h) / CELL); cy += 1) out.push(`${cx},${cy}`);
      }
      return out;
    };
    const hits = (r, layers) => keys(r).some((k) => (cells.get(k) || [])
      .some((o) => layers.includes(o.layer) && overlaps(r, o)));
    const add = (r) => {
      for (const k of keys(r)) {
        if (!cells.has(k)) cells.set(k, []);
        cells.get(k).push(r);
      }
    };
    return {
      /** Something labels keep off (an AGV's box). */
      block(r) { add({ ...r, layer: 'agv' }); },
      /** Places `r` (or `r` moved by one of `shifts`, px down) clear of `layers`; the rect
       * placed, or null. */
      place(r, layers, shifts = [0]) {
        for (const dy of shifts) {
          const q = { ...r, y: r.y + dy, layer: 'label' };
          if (!hits(q, layers)) {
            add(q);
            placed.push(q);
            return q;
          }
        }
        return null;
      },
      placed,
    };
  }

  function draw(now) {
    const dpr = window.devicePixelRatio || 1;
    const m = S.mapDetail.get(S.mapId);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!m) return 0;
    drawMapLayer(m, dpr);
    ctx.drawImage(layer, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const px = S.view.scale;

    // Reserved paths (in their AGV's hue) and grants (orange, dashed).
    for (const h of S.space) {
      ctx.beginPath();
      for (const poly of h.polygons) polygonPath(poly, ctx, false);
      if (h.kind === 'grant') {
        ctx.fillStyle = 'rgba(245, 165, 36, .22)';
        ctx.fill();
        ctx.setLineDash([5, 3]);
        ctx.strokeStyle = '#f5a524';
        ctx.lineWidth = 1.5;
        ctx.stroke();
        ctx.setLineDash([]);
      } else {
        ctx.fillStyle = hueA(h.agv_id, 0.13);
        ctx.fill();
        ctx.strokeStyle = hueA(h.agv_id, 0.45);
        ctx.lineWidth = 1;
        ctx.stroke();
      }
    }

    // AGVs on this map: footprints filled by state colour (one path per colour), outlines,
    // headings in one path, badges when zoomed in enough to read them.
    const shown = [];
    for (const [id, a] of S.agvs) {
      if (a.to.map !== S.mapId) continue;
      shown.push([id, a, interpolate(a, now)]);
    }
    const byColour = new Map();
    for (const item of shown) {
      const key = `${colourOf(item[1].data)}|${item[1].data.online ? 1 : 0}`;
      if (!byColour.has(key)) byColour.set(key, []);
      byColour.get(key).push(item);
    }
    for (const [key, items] of byColour) {
      const [colour, online] = key.split('|');
      ctx.beginPath();
      for (const [, a, pose] of items) polygonPath(footprintCorners(a, pose), ctx, false);
      ctx.fillStyle = colour;
      ctx.globalAlpha = online === '1' ? 0.9 : 0.55;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.lineWidth = 1;
      ctx.strokeStyle = online === '1' ? 'rgba(255, 255, 255, .55)' : '#8a96a6';
      ctx.setLineDash(online === '1' ? [] : [3, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.beginPath();
    for (const [, a, pose] of shown) {
      const front = (a.data.footprint || [0.5])[0];
      const [cx, cy] = toScreen(pose.x, pose.y);
      const [hx, hy] = toScreen(pose.x + Math.cos(pose.theta) * front * 1.3,
        pose.y + Math.sin(pose.theta) * front * 1.3);
      ctx.moveTo(cx, cy);
      ctx.lineTo(hx, hy);
    }
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1.5;
    ctx.stroke();
    const sel = shown.find(([id]) => id === S.selected);
    if (sel) {
      polygonPath(footprintCorners(sel[1], sel[2]));
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
      const [cx, cy] = toScreen(sel[2].x, sel[2].y);
      ctx.beginPath();
      ctx.arc(cx, cy, Math.max(14, px * 1.2), 0, 2 * Math.PI);
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    const labels = labelPlacer();
    const [width, height] = [canvas.clientWidth, canvas.clientHeight];
    const onScreen = (sx, sy, margin) => sx > -margin && sy > -margin
      && sx < width + margin && sy < height + margin;
    // (the AGVs' boxes matter only to the map's labels: lift names, node names zoomed in)
    const mapLabels = m.liftByNode.size > 0 || px > 28;
    const badges = px > 14 || shown.length <= 60;
    const visible = badges || mapLabels
      ? shown.filter(([, , pose]) => { const [sx, sy] = toScreen(pose.x, pose.y); return onScreen(sx, sy, 60); })
      : [];
    for (const [, a, pose] of mapLabels ? visible : []) {
      const pts = footprintCorners(a, pose).map(([x, y]) => toScreen(x, y));
      const xs = pts.map((q) => q[0]);
      const ys = pts.map((q) => q[1]);
      const x = Math.min(...xs);
      const y = Math.min(...ys);
      labels.block({ x, y, w: Math.max(...xs) - x, h: Math.max(...ys) - y });
    }
    ctx.font = `11px ${FONTS}`;
    if (badges) {
      // the selected AGV's badge first: it is the one looked for
      visible.sort(([x], [y]) => (y === S.selected) - (x === S.selected));
      for (const [id, a, pose] of visible) {
        const [cx, cy] = toScreen(pose.x, pose.y);
        const battery = a.data.battery ?? '?';
        const badge = `${id} · ${battery}%${a.data.charging ? '⚡' : ''}${a.data.secure ? ' · S' : ''}`;
        const w = ctx.measureText(badge).width + 6;
        const top = cy - Math.max(px * 0.9, 10) - 16;
        const at = labels.place({ x: cx - w / 2, y: top, w, h: 14, text: badge, kind: 'agv' },
          ['label'], [0, -15, -30]);
        if (!at) continue;
        ctx.fillStyle = 'rgba(18, 22, 28, .8)';
        ctx.fillRect(at.x, at.y, w, 14);
        ctx.fillStyle = (a.data.battery ?? 100) < 20 ? '#ff9592' : '#dce3ec';
        ctx.fillText(badge, at.x + 3, at.y + 11);
      }
    }
    // The map's labels: lift names always, node names when zoomed in enough to read them.
    ctx.font = `10px ${FONTS}`;
    const r = nodeRadius(px);
    const mapLabel = (n, text, colour, kind) => {
      const [sx, sy] = toScreen(n.x, n.y);
      if (!onScreen(sx, sy, 40)) return;
      const w = ctx.measureText(text).width;
      const at = labels.place({ x: sx + r + 3, y: sy - r - 9, w, h: 11, text, kind }, ['label', 'agv'],
        [0, r + 12]);
      if (!at) return;
      ctx.fillStyle = colour;
      ctx.fillText(text, at.x, at.y + 9);
    };
    for (const [nodeId, lift] of m.liftByNode) {
      const n = m.nodeById.get(nodeId);
      // ("Lift 1" is not called "lift Lift 1")
      const text = /^lift\b/i.test(lift.name) ? lift.name : t('lift {name}', lift);
      if (n) mapLabel(n, text, '#fff', 'lift');
    }
    if (px > 28) {
      for (const n of m.node_list) {
        if (n.name && !m.liftByNode.has(n.id)) mapLabel(n, n.name, '#8a96a6', 'node');
      }
    }
    S.labels = labels.placed;
    S.agvBoxes = visible.length;
    // Waits, on top: an arrow from each waiting AGV to the AGV (or lift door) it waits for.
    const poseOf = new Map(shown.map(([id, , pose]) => [id, pose]));
    S.arrows = rcsWaits.arrows(S.waits, (id) => poseOf.get(id), (id) => m.nodeById.get(id));
    rcsWaits.draw(ctx, S.arrows, toScreen, Math.max(5, px * 0.35));
    return shown.length;
  }

  function frame(now) {
    let animating = false;
    for (const a of S.agvs.values()) {
      if (a.to.map === S.mapId && now - a.t0 < LIVE_INTERVAL_MS + 20) {
        animating = true;
        break;
      }
    }
    if (S.dirty || animating) {
      S.dirty = false;
      const t0 = performance.now();
      const drawn = draw(now);
      keepLast(PERF.draws, performance.now() - t0);
      PERF.drawnFrames += 1;
      S.frames += 1;
      canvas.dataset.map = String(S.mapId);
      canvas.dataset.agvs = String(drawn);
      canvas.dataset.frames = String(S.frames);
    }
    requestAnimationFrame(frame);
  }

  // The legend: AGV states and overlays, then what the shown map has (area kinds, node
  // kinds, lane rules), each entry marked `data-legend` (`state:idle`, `area:forbidden`...).
  function legend() {
    const box = $('legend');
    box.textContent = '';
    const entry = (key, swatch, text) => {
      const span = document.createElement('span');
      span.dataset.legend = key;
      span.append(swatch, text);
      box.append(span);
    };
    const chip = (cls, colour) => {
      const i = document.createElement('i');
      if (cls) i.className = cls;
      if (colour) i.style.background = colour;
      return i;
    };
    const lane = (colour, dashed, arrow) => {
      const ns = 'http://www.w3.org/2000/svg';
      const svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('width', '18');
      svg.setAttribute('height', '10');
      svg.setAttribute('class', 'lane');
      const line = document.createElementNS(ns, 'line');
      for (const [k, v] of [['x1', 1], ['y1', 5], ['x2', 17], ['y2', 5], ['stroke', colour],
        ['stroke-width', 2]]) line.setAttribute(k, v);
      if (dashed) line.setAttribute('stroke-dasharray', '3 2');
      svg.append(line);
      if (arrow) {
        const head = document.createElementNS(ns, 'path');
        head.setAttribute('d', 'M 14 5 L 8 1.5 L 8 8.5 Z');
        head.setAttribute('fill', ONE_WAY_COLOUR);
        svg.append(head);
      }
      return svg;
    };
    for (const k of ['idle', 'working', 'paused', 'waiting_for_release', 'in_safe_space',
      'charging', 'fault']) entry(`state:${k}`, chip(`st-${k}`), name(k));
    entry('state:offline', chip('st-offline'), t('offline'));
    entry('overlay:grant', chip('lg-grant'), t('grant'));
    entry('overlay:reserved', chip('lg-reserved'), t('reserved path'));
    entry('overlay:wait', chip('lg-wait'), t('waits for'));
    const m = S.mapDetail.get(S.mapId);
    if (!m) return;
    for (const k of new Set(m.areas.map((a) => a.kind))) {
      entry(`area:${k}`, chip('lg-area', AREA_COLOURS[k] || 'rgba(138, 150, 166, .12)'), name(k));
    }
    for (const k of new Set(m.node_list.map((n) => (m.liftByNode.has(n.id) ? 'lift_door' : n.kind)))) {
      entry(`node:${k}`, chip('lg-node', NODE_COLOURS[k] || NODE_COLOURS.waypoint), name(k));
    }
    if (m.edges.some((e) => !e.blocked && m.pairs.has(`${e.to}-${e.from}`))) {
      entry('lane:two_way', lane('#3a4554', false, false), t('two-way lane'));
    }
    if (m.edges.some((e) => !m.pairs.has(`${e.to}-${e.from}`))) {
      entry('lane:one_way', lane('#3a4554', false, true), t('one-way lane'));
    }
    if (m.edges.some((e) => e.blocked)) entry('lane:blocked', lane('#e5484d', true, false), t('blocked lane'));
  }

  // ---- picking: an AGV, else a node --------------------------------------------------------

  function insidePolygon(pts, x, y) {
    let inside = false;
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i, i += 1) {
      const [xi, yi] = pts[i];
      const [xj, yj] = pts[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function agvAt(sx, sy) {
    const [wx, wy] = toWorld(sx, sy);
    const now = performance.now();
    let best = null;
    let bestD = 12 / S.view.scale; // within 12 px of a small AGV's centre also picks it
    for (const [id, a] of S.agvs) {
      if (a.to.map !== S.mapId) continue;
      const pose = interpolate(a, now);
      if (insidePolygon(footprintCorners(a, pose), wx, wy)) return id;
      const d = Math.hypot(pose.x - wx, pose.y - wy);
      if (d < bestD) { best = id; bestD = d; }
    }
    return best;
  }

  function nodeAt(sx, sy) {
    const m = S.mapDetail.get(S.mapId);
    if (!m) return null;
    let best = null;
    let bestD = 10;
    for (const n of m.node_list) {
      const [nx, ny] = toScreen(n.x, n.y);
      const d = Math.hypot(nx - sx, ny - sy);
      if (d < bestD) { best = n; bestD = d; }
    }
    return best;
  }

  function pick(e) {
    const r = canvas.getBoundingClientRect();
    const sx = e.clientX - r.left;
    const sy = e.clientY - r.top;
    const agv = agvAt(sx, sy);
    if (agv !== null) {
      hidePopup();
      select(agv);
      return;
    }
    const node = nodeAt(sx, sy);
    if (node) showNodePopup(node, sx, sy); else hidePopup();
  }

  // ---- node popup: submit a task -----------------------------------------------------------

  function hidePopup() { $('popup').hidden = true; }

  function showNodePopup(n, sx, sy) {
    const p = $('popup');
    const title = `${t('Node {id}', { id: n.id })}${n.name ? ` · ${n.name}` : ''}`;
    let html = `<h3>${esc(title)}</h3><div class="muted">${esc(name(n.kind))} · ${esc(t(n.navigation))}`
      + ` · (${fmt(n.x)}, ${fmt(n.y)})</div>`;
    if (canOperate()) {
      const sel = S.selected !== null
        ? `<option value="${S.selected}">${esc(t('AGV {id} (selected)', { id: S.selected }))}</option>` : '';
      html += `<label>${esc(t('Task'))} <select id="task-kind">`
        + ['move', 'pick', 'drop', 'park', 'charge']
          .map((k) => `<option value="${k}">${esc(t(k))}</option>`).join('')
        + '</select></label>'
        + `<label>${esc(t('AGV'))} <select id="task-agv"><option value="">${esc(t('any idle AGV'))}</option>${sel}</select></label>`
        + `<div class="row"><button type="button" id="task-submit">${esc(t('Send task here'))}</button>`
        + `<button type="button" id="task-close">${esc(t('Close'))}</button></div>`;
    } else {
      html += `<div class="row"><button type="button" id="task-close">${esc(t('Close'))}</button></div>`;
    }
    p.innerHTML = html;
    const pane = $('map-pane').getBoundingClientRect();
    p.style.left = `${Math.min(sx + 12, pane.width - 240)}px`;
    p.style.top = `${Math.min(sy + 12, pane.height - 170)}px`;
    p.hidden = false;
    $('task-close').onclick = hidePopup;
    const submit = $('task-submit');
    if (submit) {
      if (S.selected !== null) $('task-agv').value = String(S.selected);
      submit.onclick = async () => {
        const agv = $('task-agv').value;
        const body = { kind: $('task-kind').value, destination: n.id };
        if (agv) body.agv_id = Number(agv);
        submit.disabled = true;
        try {
          const task = await api('POST', '/api/v1/tasks', body);
          toast(t('Task {id} submitted: {kind} to node {node}', { id: task.id, kind: t(task.kind), node: n.id }));
          hidePopup();
          pollTasks();
        } catch (err) {
          toast(t('Task refused: {message}', err), 'bad');
          submit.disabled = false;
        }
      };
    }
  }

  // ---- selection and details ---------------------------------------------------------------

  function select(id) {
    S.selected = id;
    S.detail = null;
    $('details').hidden = false;
    const a = S.agvs.get(id);
    if (a && a.to.map !== undefined && a.to.map !== S.mapId && S.maps.some((m) => m.id === a.to.map)) {
      showMap(a.to.map);
    }
    renderDetail();
    pollDetail();
    S.dirty = true;
    S.listDirty = true;
    renderLists();
  }

  $('details-close').addEventListener('click', () => {
    S.selected = null;
    $('details').hidden = true;
    S.dirty = true;
    S.listDirty = true;
  });

  function activeTaskOf(id) {
    return S.tasks.find((t) => t.agv === id && (t.state === 'running' || t.state === 'queued'));
  }

  function renderDetail() {
    const id = S.selected;
    if (id === null) return;
    const live = S.agvs.get(id)?.data;
    const d = S.detail;
    $('details-title').textContent = t('AGV {id}', { id });
    const map = S.maps.find((m) => m.id === (d?.map_id ?? live?.map));
    const task = activeTaskOf(id);
    const state = d?.state ?? live?.state;
    // [key (the field's name, for tests and styles), label, value]
    const rows = [
      ['state', 'State', `${state ? name(state) : '—'}${(d?.online ?? live?.online) ? '' : t(' (offline)')}`],
      // (a normal-mode session has no secure profile)
      ['session', 'Session', d?.session
        ? (d.session.protocol && d.session.protocol.startsWith('vda5050/')
          ? `VDA 5050 ${d.session.protocol.slice('vda5050/'.length)} · #${d.session.session_id}`
          : d.session.mode === 'secure'
            ? `${t('secure')} · ${t(d.session.profile)} · #${d.session.session_id}`
            : `${t(d.session.mode)} · #${d.session.session_id}`)
        : t('none')],
      ['map', 'Map', map ? t('{name} (floor {floor})', map) : (d?.map_id ?? '—')],
      ['pose', 'Pose', d?.pose ? `x ${fmt(d.pose.x)} · y ${fmt(d.pose.y)} · ${fmt((d.pose.theta * 180) / Math.PI, 0)}°` : '—'],
      ['navigation', 'Navigation', (d?.navigation_mode ?? live?.nav) ? t(d?.navigation_mode ?? live?.nav) : '—'],
      ['battery', 'Battery', d?.battery_pct !== undefined ? `${fmt(d.battery_pct, 0)} %${d.charging ? t(' · charging') : ''}` : '—'],
      ['task', 'Task', task ? `#${task.id} ${t(task.kind)} → ${nodeLabel(task.destination)} (${t(task.state)})`
        : (d?.task_id ? t("#{id} (AGV's own)", { id: d.task_id }) : t('none'))],
      ['e-stop', 'E-stop', d?.e_stop ? t('ENGAGED') : t('off')],
      ['localisation', 'Localisation', d?.localisation_quality ?? '—'],
      ['waiting', 'Waiting', d?.wait ? `${rcsWaits.describe(d.wait)} · ${rcsWaits.duration(d.wait.waited_ms)}` : '—'],
      ['alarms', 'Alarms', d?.alarms?.length ? d.alarms.join(', ') : t('none')],
      ['identity', 'Identity', d?.identity ? `${d.identity.vendor} ${d.identity.model} · ${d.identity.serial}` : '—'],
      ['last seen', 'Last seen', d?.last_seen_ms ? time(d.last_seen_ms) : '—'],
    ];
    $('details-body').innerHTML = rows
      .map(([k, label, v]) => `<dt>${esc(t(label))}</dt><dd data-field="${esc(k)}">${esc(v)}</dd>`)
      .join('');
    $('actions').hidden = !canOperate();
  }

  async function act(action) {
    const id = S.selected;
    if (id === null) return;
    try {
      if (action === 'pause' || action === 'resume') {
        await api('POST', `/api/v1/agvs/${id}/commands`, { command: action });
        toast(t('AGV {id}: {action} acknowledged', { id, action: t(action) }));
      } else if (action === 'charge') {
        const task = await api('POST', '/api/v1/tasks', { kind: 'charge', agv_id: id });
        toast(t('AGV {id}: task {task} to the nearest charger', { id, task: task.id }));
      } else if (action === 'cancel') {
        const task = activeTaskOf(id);
        if (task) {
          await api('DELETE', `/api/v1/tasks/${task.id}`);
          toast(t('Task {id} cancelled', task));
        } else if (S.detail?.task_id) {
          await api('POST', `/api/v1/agvs/${id}/commands`, { command: 'cancel', task_id: S.detail.task_id });
          toast(t('AGV {id}: its task {task} cancelled', { id, task: S.detail.task_id }));
        } else {
          toast(t('AGV {id} has no task', { id }), 'bad');
        }
      }
    } catch (err) {
      toast(t('AGV {id}: {action} failed: {message}', { id, action: t(action), message: err.message }), 'bad');
    }
    pollDetail();
    pollTasks();
  }

  $('actions').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (!b) return;
    b.disabled = true;
    act(b.dataset.action).finally(() => { b.disabled = false; });
  });

  // ---- side panel --------------------------------------------------------------------------

  document.querySelector('.tabs').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-tab]');
    if (!b) return;
    for (const t of document.querySelectorAll('.tabs button')) t.classList.toggle('active', t === b);
    for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${b.dataset.tab}`;
    S.listDirty = true;
    renderLists();
  });

  $('state-filter').addEventListener('change', () => { S.listDirty = true; renderLists(); });
  $('fleet-search').addEventListener('input', () => { S.listDirty = true; renderLists(); });

  function stateFilterOptions() {
    const sel = $('state-filter');
    const have = new Set([...sel.options].map((o) => o.value));
    for (const a of S.agvs.values()) {
      const s = a.data.state;
      if (s && !have.has(s)) {
        const o = document.createElement('option');
        o.value = s;
        o.textContent = name(s);
        sel.appendChild(o);
        have.add(s);
      }
    }
  }

  // Brings `tbody` to one row per item, in order, keeping the rows of items it already shows
  // (a click on a row is not lost to a refresh) and rewriting a row only when its cells changed.
  function syncRows(tbody, items, key, cells, decorate) {
    const existing = new Map();
    for (const tr of tbody.children) existing.set(tr.dataset.key, tr);
    let prev = null;
    for (const it of items) {
      const k = String(key(it));
      let tr = existing.get(k);
      if (tr) {
        existing.delete(k);
      } else {
        tr = document.createElement('tr');
        tr.dataset.key = k;
      }
      const html = cells(it);
      if (tr.rcsCells !== html) {
        tr.innerHTML = html;
        tr.rcsCells = html;
      }
      decorate(tr, it);
      const at = prev ? prev.nextSibling : tbody.firstChild;
      if (at !== tr) tbody.insertBefore(tr, at);
      prev = tr;
    }
    for (const tr of existing.values()) tr.remove();
  }

  // A node's name where a loaded map has one, else its id.
  function nodeLabel(id) {
    for (const m of S.mapDetail.values()) {
      const n = m.nodeById.get(id);
      if (n) return n.name ? `${n.name} (${id})` : String(id);
    }
    return String(id);
  }

  function mapName(id) {
    const m = S.maps.find((x) => x.id === id);
    return m ? m.name : (id ?? '—');
  }

  function renderLists() {
    if (!S.listDirty) return;
    S.listDirty = false;
    stateFilterOptions();
    const filter = $('state-filter').value;
    const search = $('fleet-search').value.trim();
    const all = [...S.agvs.values()].map((a) => a.data).sort((a, b) => a.id - b.id);
    const online = all.filter((a) => a.online).length;
    $('counts').textContent = t('{online} online / {total} AGVs', { online, total: all.length });
    const shown = $('tab-fleet').hidden ? [] : all.filter((a) => (!filter
      || (filter === 'online' && a.online) || (filter === 'offline' && !a.online)
      || (a.online && a.state === filter))
      && (!search || String(a.id).includes(search)));
    syncRows($('fleet-list'), shown, (a) => a.id, (a) => `<td>${a.id}</td>`
      + `<td><span class="dot st-${esc(a.online ? a.state : 'offline')}"></span>`
      + `${esc(a.online ? (a.state ? name(a.state) : '?') : t('offline'))}</td>`
      + `<td>${esc(mapName(a.map))}</td>`
      + `<td${(a.battery ?? 100) < 20 ? ' class="bad"' : ''}>${a.battery ?? '—'}%${a.charging ? ' ⚡' : ''}</td>`
      + `<td>${a.online ? esc(t(a.secure ? 'secure' : 'normal')) : '—'}</td>`, (tr, a) => {
      tr.dataset.agv = String(a.id);
      tr.classList.toggle('selected', a.id === S.selected);
    });

    const alarmed = all.filter((a) => a.alarm_count > 0 || a.e_stop || a.state === 'fault'
      || a.state === 'emergency_stop' || a.state === 'link_lost' || a.state === 'safety_stop');
    $('alarm-count').textContent = alarmed.length ? `(${alarmed.length})` : '';
    syncRows($('alarm-list'), alarmed, (a) => a.id, (a) => `<td>${a.id}</td>`
      + `<td>${esc(a.state ? name(a.state) : '?')}${a.e_stop ? esc(t(' · e-stop')) : ''}</td>`
      + `<td class="bad">${esc(a.alarms.join(', '))}${a.alarm_count > a.alarms.length ? ' …' : ''}</td>`,
    (tr, a) => { tr.dataset.agv = String(a.id); });
    if (S.selected !== null) renderDetail();
  }

  for (const id of ['fleet-list', 'alarm-list', 'wait-list']) {
    $(id).addEventListener('click', (e) => {
      const row = e.target.closest('tr[data-agv]');
      if (row) select(Number(row.dataset.agv));
    });
  }
  $('task-list').addEventListener('click', (e) => {
    const row = e.target.closest('tr[data-agv]');
    if (row && row.dataset.agv) select(Number(row.dataset.agv));
  });

  function renderTasks() {
    syncRows($('task-list'), S.tasks, (k) => k.id, (k) => `<td>${k.id}</td><td>${esc(t(k.kind))}</td>`
      + `<td>${esc(nodeLabel(k.destination))}</td><td>${k.agv ?? '—'}</td><td${k.state === 'failed' ? ' class="bad"' : ''}`
      + ` title="${esc(k.error || '')}">${esc(t(k.state))}${k.wait ? ` (${esc(rcsWaits.describe(k.wait))})` : ''}</td>`,
    (tr, k) => {
      tr.dataset.task = String(k.id);
      tr.dataset.state = k.state;
      tr.dataset.agv = k.agv === null || k.agv === undefined ? '' : String(k.agv);
    });
  }

  // The waits, longest first (as the server sorts them).
  function renderWaits() {
    $('wait-count').textContent = S.waits.length ? `(${S.waits.length})` : '';
    syncRows($('wait-list'), S.waits, (w) => w.task_id, (w) => `<td>${w.agv_id ?? '—'}</td>`
      + `<td>${w.task_id}</td><td class="why-${esc(w.reason)}">${esc(rcsWaits.describe(w))}</td>`
      + `<td>${esc(rcsWaits.duration(w.waited_ms))}</td>`, (tr, w) => {
      tr.dataset.agv = w.agv_id === null || w.agv_id === undefined ? '' : String(w.agv_id);
      tr.dataset.reason = w.reason;
    });
  }

  function summary(ev) {
    const d = ev.detail || {};
    const parts = [];
    for (const k of ['state', 'from', 'to', 'command', 'result', 'task_id', 'reason', 'grant_id', 'error']) {
      if (d[k] !== undefined && d[k] !== null && typeof d[k] !== 'object') parts.push(`${k} ${d[k]}`);
    }
    return parts.join(' · ');
  }

  const renderEventsSoon = throttle(() => renderEvents(), 250);
  const pollTasksSoon = throttle(() => pollTasks(), 500);
  const pollSpaceSoon = throttle(() => pollSpace(), 300);

  function renderEvents() {
    $('event-list').innerHTML = S.events.map((ev) => `<li><time>${esc(time(ev.at_ms))}</time>`
      + `<b>${esc(ev.kind)}</b>${ev.agv_id !== undefined ? `AGV ${ev.agv_id} ` : ''}`
      + `<span class="muted">${esc(summary(ev))}</span></li>`).join('');
  }

  // ---- hooks for tests and scripts ---------------------------------------------------------

  window.rcsDashboard = {
    /** Screen position (relative to the canvas) of a node of the shown map. */
    nodeScreen(id) {
      const n = S.mapDetail.get(S.mapId)?.nodeById.get(id);
      return n ? toScreen(n.x, n.y) : null;
    },
    /** Screen position (relative to the canvas) of an AGV on the shown map. */
    agvScreen(id) {
      const a = S.agvs.get(id);
      if (!a || a.to.map !== S.mapId) return null;
      return toScreen(a.to.x, a.to.y);
    },
    /** The live snapshot of an AGV. */
    agv(id) { return S.agvs.get(id)?.data ?? null; },
    /** The wait arrows drawn on the shown map: `[{ from: agv, to: agv or door node, reason }]`. */
    waitArrows() {
      return S.arrows.map((a) => ({ from: a.agv, to: a.target, reason: a.reason }));
    },
    /** The labels drawn in the last frame (`{ text, kind, x, y, w, h }`, canvas px) and how
     * many AGVs were on screen. */
    labels() {
      return { labels: (S.labels || []).map(({ text, kind, x, y, w, h }) => ({ text, kind, x, y, w, h })), agvs: S.agvBoxes || 0 };
    },
    /** The screen boxes of the AGVs on screen (what map labels keep off). */
    agvBoxes() {
      const now = performance.now();
      const out = [];
      for (const [id, a] of S.agvs) {
        if (a.to.map !== S.mapId) continue;
        const pts = footprintCorners(a, interpolate(a, now)).map(([x, y]) => toScreen(x, y));
        const xs = pts.map((q) => q[0]);
        const ys = pts.map((q) => q[1]);
        out.push({ id, x: Math.min(...xs), y: Math.min(...ys), w: Math.max(...xs) - Math.min(...xs), h: Math.max(...ys) - Math.min(...ys) });
      }
      return out;
    },
    /** Switches the language (`en`, `zh`) as the header's selector does. */
    setLang(lang) { switchLang(lang); },
    /** Strings shown in Chinese without a translation so far. */
    untranslated() { return rcsI18n.missing(); },
    /** How many overlays (reservations, grants) the shown map has. */
    overlays() { return S.space.length; },
    /** Costs since the last call: canvas draw and live-update handling times (ms), frames
     * drawn per second, live updates and bytes per second. Resets the counters. */
    perf() {
      const q = (list, p) => {
        if (!list.length) return 0;
        const sorted = [...list].sort((a, b) => a - b);
        return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
      };
      const secs = (performance.now() - PERF.since) / 1000;
      const out = {
        seconds: secs,
        fps: PERF.drawnFrames / secs,
        draw_ms_p50: q(PERF.draws, 0.5),
        draw_ms_p95: q(PERF.draws, 0.95),
        draw_ms_max: q(PERF.draws, 1),
        update_ms_p50: q(PERF.handles, 0.5),
        update_ms_p95: q(PERF.handles, 0.95),
        updates_per_s: PERF.updates / secs,
        bytes_per_s: PERF.bytes / secs,
        agvs: S.agvs.size,
        drawn: Number(canvas.dataset.agvs || 0),
      };
      Object.assign(PERF, { draws: [], handles: [], bytes: 0, updates: 0, drawnFrames: 0, since: performance.now() });
      return out;
    },
  };

  // ---- language ----------------------------------------------------------------------------

  // Everything drawn or listed again in the language chosen.
  function switchLang(lang) {
    rcsI18n.setLang(lang);
    $('lang').value = rcsI18n.lang();
    if (S.linkUp !== undefined) setLink(S.linkUp);
    if (S.maps.length) mapOptions();
    for (const o of $('state-filter').options) {
      if (!['', 'online', 'offline'].includes(o.value)) o.textContent = name(o.value);
    }
    if (S.token && S.name) $('who').textContent = t('{name} · {role}', { name: S.name, role: t(S.role) });
    legend();
    hidePopup();
    S.dirty = true;
    S.listDirty = true;
    renderLists();
    renderTasks();
    renderWaits();
    renderEvents();
    renderDetail();
  }
  $('lang').addEventListener('change', (e) => switchLang(e.target.value));

  // ---- boot --------------------------------------------------------------------------------

  rcsI18n.apply();
  $('lang').value = rcsI18n.lang();
  resize();
  requestAnimationFrame(frame);
  // A token brought along by a failover (pollCluster): kept in this tab, out of the address bar.
  const handed = new URLSearchParams(location.hash.slice(1)).get('token');
  if (handed) {
    sessionStorage.setItem(TOKEN_KEY, handed);
    history.replaceState(null, '', location.pathname + location.search);
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    login(saved).catch(() => logout(''));
  } else {
    $('token').focus();
  }
})();
