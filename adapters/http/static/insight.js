/* convtrack insight tag (docs/api.md "Collection"): ES2017, no dependencies, no build step.
 * Replaces the snippet's queue (convtrack.q) with the real convtrack, replays the queued calls
 * in order and sends one fire per page load. It leaves no other global. */
(function (w, d) {
  'use strict';
  const stub = w.convtrack;
  if (stub && stub.loaded) return; // pasted twice: one page view, not two

  // The collector is on the host that served this script (docs/api.md), so its URL comes from
  // the script's own src: no second copy of CONVTRACK_PUBLIC_URL to keep in step with the
  // snippet. currentScript is set only while this code first runs, so it is read now.
  const me = d.currentScript;
  const collect = me && me.src ? new URL('collect', me.src).href : '';
  const loc = w.location;
  const landingClid = new URLSearchParams(loc.search).get('ct_clid') || '';
  const waiting = []; // track() calls made before init: sent once the tag id is known
  let tid = '';

  function uuid() {
    const c = w.crypto;
    if (c.randomUUID) return c.randomUUID(); // secure contexts only: http pages lack it
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; // RFC 9562 version 4 ...
    b[8] = (b[8] & 63) | 128; // ... and its variant
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
  }

  function cookieClid() {
    const m = d.cookie.match(/(?:^|;\s*)ct_clid=([^;]*)/);
    if (!m) return '';
    try { return decodeURIComponent(m[1]); } catch (e) { return m[1]; }
  }

  function clid() {
    // Stored at the first fire the visitor allows, not at load: no cookie without consent.
    if (landingClid && cookieClid() !== landingClid) {
      d.cookie = 'ct_clid=' + encodeURIComponent(landingClid) + '; Max-Age=7776000' + // 90 days
        '; Path=/; SameSite=Lax' + (loc.protocol === 'https:' ? '; Secure' : '');
    }
    return cookieClid() || landingClid; // the landing URL's own when cookies are blocked
  }

  function fire(aid, eid, value) {
    // Checked at every fire: a refusal given after load still stops everything.
    if (w.convtrackConsent === false || !collect) return;
    const body = { tid: tid, url: loc.href, eid: eid || uuid() };
    const c = clid();
    if (c) body.clid = c;
    if (aid) body.aid = String(aid);
    if (value) body.value = { amount_minor: value.amount_minor, currency: value.currency };
    const nav = w.navigator;
    let sent = false;
    // A string goes as text/plain, a CORS-safelisted type, so no preflight; and a beacon
    // outlives the page (thank-you pages are often closed at once).
    try { sent = !!(nav.sendBeacon && nav.sendBeacon(collect, JSON.stringify(body))); } catch (e) { }
    if (!sent) { // no sendBeacon, or its queue is full: the 1x1 GIF of GET /collect
      const q = new URLSearchParams({ tid: tid, url: body.url, eid: body.eid });
      if (c) q.set('clid', c);
      if (body.aid) q.set('aid', body.aid);
      if (value) { q.set('v', value.amount_minor); q.set('cur', value.currency); }
      new w.Image(1, 1).src = collect + '?' + q;
    }
  }

  function convtrack(command, arg) {
    try { // a tag must never break the page it is on: a bad call is ignored
      if (command === 'init' && arg && !tid) {
        tid = String(arg);
        fire(); // the page view
        waiting.splice(0).forEach((args) => convtrack.apply(null, args));
      } else if (command === 'track' && arg) {
        if (!tid) waiting.push(arguments);
        else fire(arg.action_id, arg.event_id && String(arg.event_id), arg.value);
      }
    } catch (e) { }
  }
  convtrack.loaded = true;
  w.convtrack = convtrack;
  ((stub && stub.q) || []).forEach((args) => convtrack.apply(null, args));
})(window, document);
