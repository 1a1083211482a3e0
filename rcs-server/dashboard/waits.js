// rcs dashboard: explained waits (docs/traffic.md, "Explained waits"). What a wait from
// `GET /api/v1/waits` says in words, and the arrows from each waiting AGV to the AGV or lift
// door it waits for. Loaded after i18n.js and before app.js, which polls the waits and calls
// these.
'use strict';

window.rcsWaits = (() => {
  const COLOURS = {
    for_agv: '#f5a524',
    blocked_by_offline: '#e5484d',
    for_lift: '#d6409f',
    for_grant: '#f5a524',
    yielding: '#2b7de9',
  };

  const { t } = window.rcsI18n;

  /** A wait in words (in the dashboard's language). */
  function describe(w) {
    switch (w.reason) {
      case 'for_agv': return t('waits for AGV {agv} at node {node}', w);
      case 'blocked_by_offline': return t('blocked by offline AGV {agv} at node {node}', w);
      case 'for_lift': return t('waits for lift {lift}', w);
      case 'for_grant': return t('waits for grant {grant} of AGV {agv}', w);
      case 'offline': return t('its AGV is offline');
      case 'yielding': return t('lets AGV {to} pass', w);
      case 'settling': return t('settling');
      case 'charging': return t('its AGV charges first');
      default: return String(w.reason);
    }
  }

  /** A duration, ms, as `42 s` or `3 min 05 s`. */
  function duration(ms) {
    const s = Math.floor(ms / 1000);
    return s < 60 ? t('{s} s', { s })
      : t('{m} min {s} s', { m: Math.floor(s / 60), s: String(s % 60).padStart(2, '0') });
  }

  /** The AGV a wait points at, if any. */
  function targetAgv(w) {
    if (w.reason === 'yielding') return w.to;
    return ['for_agv', 'blocked_by_offline', 'for_grant'].includes(w.reason) ? w.agv : null;
  }

  /**
   * The arrows of `waits` on the shown map: `{ agv, target (AGV or door node), from, to,
   * colour, reason }`, `from` and `to` in world coordinates.
   * `agvAt(id)` gives an AGV's pose on the shown map (null elsewhere), `nodeAt(id)` a node of
   * the shown map (null elsewhere).
   */
  function arrows(waits, agvAt, nodeAt) {
    const out = [];
    for (const w of waits) {
      const from = w.agv_id === null || w.agv_id === undefined ? null : agvAt(w.agv_id);
      if (!from) continue;
      const other = targetAgv(w);
      const to = other !== null ? agvAt(other) : (w.door ? nodeAt(w.door) : null);
      if (!to) continue;
      out.push({
        agv: w.agv_id,
        target: other ?? w.door,
        from,
        to,
        colour: COLOURS[w.reason] || '#8a96a6',
        reason: w.reason,
      });
    }
    return out;
  }

  /** Draws `list` (from `arrows`) with `toScreen`, leaving `gap` px free at each end. */
  function draw(ctx, list, toScreen, gap) {
    for (const a of list) {
      const [x0, y0] = toScreen(a.from.x, a.from.y);
      const [x1, y1] = toScreen(a.to.x, a.to.y);
      const len = Math.hypot(x1 - x0, y1 - y0);
      if (len < 8) continue;
      const g = Math.min(gap, (len - 8) / 2);
      const [ux, uy] = [(x1 - x0) / len, (y1 - y0) / len];
      const [sx, sy] = [x0 + ux * g, y0 + uy * g];
      const [ex, ey] = [x1 - ux * g, y1 - uy * g];
      const head = () => {
        ctx.beginPath();
        ctx.moveTo(ex, ey);
        ctx.lineTo(ex - ux * 11 - uy * 6, ey - uy * 11 + ux * 6);
        ctx.lineTo(ex - ux * 11 + uy * 6, ey - uy * 11 - ux * 6);
        ctx.closePath();
      };
      // a dark outline first, so that it shows on footprints and paths of any colour
      for (const [colour, width] of [['rgba(10, 12, 16, .85)', 5], [a.colour, 2.5]]) {
        ctx.strokeStyle = colour;
        ctx.lineWidth = width;
        ctx.setLineDash(a.reason === 'blocked_by_offline' && width < 5 ? [6, 4] : []);
        ctx.beginPath();
        ctx.moveTo(sx, sy);
        ctx.lineTo(ex, ey);
        ctx.stroke();
        ctx.setLineDash([]);
        head();
        if (width === 5) ctx.stroke();
      }
      ctx.fillStyle = a.colour;
      head();
      ctx.fill();
    }
  }

  return { describe, duration, arrows, draw };
})();
