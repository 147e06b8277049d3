// Unit tests of adapters/http/static/insight.js (docs/api.md "Collection"), with node's own
// test runner and a hand-written fake browser: no npm dependencies. Each test evaluates the
// snippet's queue stub and the script with `vm` in a fresh context, as a page load would.
// Run: `node --test tests/js/*.test.mjs` (tests/adapters/test_insight_script.py runs it under pytest).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import vm from 'node:vm';

const SCRIPT = readFileSync(new URL('../../adapters/http/static/insight.js', import.meta.url), 'utf8');
const TAG = 'tag-1';
// Under pytest this is the snippet's own stub (adapters/http/tag_script_routes.py, for TAG);
// the copy only serves `node --test` run alone.
const STUB = process.env.CONVTRACK_SNIPPET_STUB ??
  "window.convtrack=window.convtrack||function(){(convtrack.q=convtrack.q||[]).push(arguments)};" +
  `convtrack('init',"${TAG}");`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DAYS_90 = 90 * 24 * 3600;

/** A cookie jar with document.cookie's string interface; `writes` keeps each raw assignment. */
function cookieJar(initial = {}) {
  const values = new Map(Object.entries(initial));
  const writes = [];
  return {
    values, writes,
    get: () => [...values].map(([name, value]) => `${name}=${value}`).join('; '),
    set(raw) {
      writes.push(raw);
      const [pair] = raw.split(';');
      const at = pair.indexOf('=');
      values.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    },
  };
}

/**
 * A fresh page: window, document, navigator, location, Image and crypto, nothing else.
 * beacon: 'accepts' | 'refuses' (sendBeacon returns false) | 'missing'.
 */
function page({ url = 'https://shop.example/thanks', src = 'https://ct.example/insight.js',
                beacon = 'accepts', cookies = cookieJar(), crypto } = {}) {
  const beacons = [];
  const images = [];
  const document = { currentScript: { src } };
  Object.defineProperty(document, 'cookie', { get: cookies.get, set: cookies.set });
  const navigator = {};
  if (beacon !== 'missing') {
    navigator.sendBeacon = function (target, data) {
      assert.equal(this, navigator, 'sendBeacon called detached would throw in a browser');
      beacons.push({ target, data });
      return beacon === 'accepts';
    };
  }
  class Image {
    constructor(width, height) { this.size = [width, height]; }
    set src(value) { images.push({ src: value, size: this.size }); }
  }
  const { href, search, protocol } = new URL(url);
  const window = {
    document, navigator, Image, URL, URLSearchParams,
    location: { href, search, protocol },
    crypto: crypto ?? { randomUUID: () => randomUUID(), getRandomValues: fill },
  };
  window.window = window;
  const context = vm.createContext(window);
  const run = (code) => vm.runInContext(code, context);
  return {
    window, cookies, beacons, images,
    stub: () => run(STUB),
    load: () => run(SCRIPT),
    /** The snippet then the script: a page load as the advertiser's page does it. */
    open() { run(STUB); run(SCRIPT); return this; },
    call: (...args) => window.convtrack(...args),
    /** The fires the collector received, as bodies (beacons) or queries (images). */
    bodies: () => beacons.filter((b) => b.data !== undefined).map((b) => JSON.parse(b.data)),
    queries: () => images.map((i) => Object.fromEntries(new URL(i.src).searchParams)),
  };
}

function fill(bytes) {
  bytes.set(randomBytes(bytes.length));
  return bytes;
}

test('a page load sends one fire with the tag id, the page URL and an event id', () => {
  const p = page({ url: 'https://shop.example/thanks?order=7' }).open();

  assert.equal(p.beacons.length, 1);
  assert.equal(p.beacons[0].target, 'https://ct.example/collect');
  const [body] = p.bodies();
  assert.deepEqual(Object.keys(body), ['tid', 'url', 'eid']);
  assert.equal(body.tid, TAG);
  assert.equal(body.url, 'https://shop.example/thanks?order=7');
  assert.match(body.eid, UUID);
  assert.equal(p.images.length, 0);
});

test('the beacon body is JSON text, which sendBeacon sends as text/plain without a preflight', () => {
  const p = page().open();

  assert.equal(typeof p.beacons[0].data, 'string');
  assert.doesNotThrow(() => JSON.parse(p.beacons[0].data));
});

test('every fire carries a fresh event id', () => {
  const first = page().open();
  first.call('track', { action_id: 'a1' });
  first.call('track', { action_id: 'a1' });
  const second = page().open();

  const eids = [...first.bodies(), ...second.bodies()].map((b) => b.eid);
  assert.equal(eids.length, 4);
  assert.equal(new Set(eids).size, 4);
  eids.forEach((eid) => assert.match(eid, UUID));
});

test('the event id comes from crypto.randomUUID when the page has it', () => {
  const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
  const p = page({ crypto: { randomUUID: () => ids.shift(), getRandomValues: fill } }).open();

  p.call('track', { action_id: 'a1' });

  assert.deepEqual(p.bodies().map((b) => b.eid.slice(-1)), ['1', '2']);
});

test('without crypto.randomUUID (http pages) the event id is a random version 4 uuid', () => {
  const eids = [1, 2, 3].map(() => page({ crypto: { getRandomValues: fill } }).open().bodies()[0].eid);

  eids.forEach((eid) => assert.match(eid, UUID));
  assert.equal(new Set(eids).size, 3);
});

test('calls made before the script arrives are replayed in order once it runs', () => {
  const p = page();
  p.stub();
  p.call('track', { action_id: 'a1' });
  p.call('track', { action_id: 'a2', event_id: 'order-9' });
  assert.equal(p.beacons.length, 0, 'the stub only queues');

  p.load();

  assert.deepEqual(p.bodies().map((b) => [b.aid, b.tid]), [[undefined, TAG], ['a1', TAG], ['a2', TAG]]);
  assert.equal(p.bodies()[2].eid, 'order-9');
});

test('a track call queued before the tag id waits for it, after the page view', () => {
  const p = page();
  p.window.convtrack = function () { (p.window.convtrack.q ||= []).push(arguments); };
  p.call('track', { action_id: 'a1' });
  p.call('init', TAG);

  p.load();

  assert.deepEqual(p.bodies().map((b) => [b.aid, b.tid]), [[undefined, TAG], ['a1', TAG]]);
});

test('after loading, convtrack sends at once', () => {
  const p = page().open();

  p.call('track', { action_id: 'a1' });

  assert.equal(p.beacons.length, 2);
});

test('a ct_clid on the landing URL is kept in a first-party cookie for 90 days', () => {
  const p = page({ url: 'https://shop.example/landing?ct_clid=clk_42&utm=x' }).open();

  assert.equal(p.cookies.values.get('ct_clid'), 'clk_42');
  const attributes = p.cookies.writes[0].split(';').slice(1).map((a) => a.trim().toLowerCase());
  assert.deepEqual(attributes.sort(), [`max-age=${DAYS_90}`, 'path=/', 'samesite=lax', 'secure']);
  assert.equal(p.bodies()[0].clid, 'clk_42');
});

test('on an http page the ct_clid cookie is not marked Secure, which the browser would refuse', () => {
  const p = page({ url: 'http://shop.example/landing?ct_clid=clk_42' }).open();

  assert.ok(!/secure/i.test(p.cookies.writes[0]));
  assert.equal(p.cookies.values.get('ct_clid'), 'clk_42');
});

test('later pages send the click id kept in the cookie with every fire', () => {
  const cookies = cookieJar();
  page({ url: 'https://shop.example/landing?ct_clid=clk_42', cookies }).open();

  const later = page({ url: 'https://shop.example/thanks', cookies }).open();
  later.call('track', { action_id: 'a1' });

  assert.deepEqual(later.bodies().map((b) => b.clid), ['clk_42', 'clk_42']);
  assert.equal(cookies.writes.length, 1, 'the cookie is written on landing only');
});

test('a new click id on the landing URL replaces the one in the cookie', () => {
  const cookies = cookieJar({ ct_clid: 'clk_old' });

  const p = page({ url: 'https://shop.example/landing?ct_clid=clk_new', cookies }).open();

  assert.equal(cookies.values.get('ct_clid'), 'clk_new');
  assert.equal(p.bodies()[0].clid, 'clk_new');
});

test('with cookies blocked the landing page still sends the click id from its URL', () => {
  const blocked = { values: new Map(), writes: [], get: () => '', set() {} };

  const p = page({ url: 'https://shop.example/landing?ct_clid=clk_42', cookies: blocked }).open();

  assert.equal(p.bodies()[0].clid, 'clk_42');
});

test('track sends the action id, the value and the given event id', () => {
  const cookies = cookieJar({ ct_clid: 'clk_42' });
  const p = page({ url: 'https://shop.example/cart', cookies }).open();

  p.call('track', { action_id: 'act_1', event_id: 'order-1001',
                    value: { amount_minor: 1999, currency: 'EUR' } });

  assert.deepEqual(p.bodies()[1], {
    tid: TAG, url: 'https://shop.example/cart', eid: 'order-1001', clid: 'clk_42', aid: 'act_1',
    value: { amount_minor: 1999, currency: 'EUR' },
  });
});

test('track without an event id gets a fresh one', () => {
  const p = page().open();

  p.call('track', { action_id: 'act_1' });

  assert.match(p.bodies()[1].eid, UUID);
  assert.notEqual(p.bodies()[1].eid, p.bodies()[0].eid);
});

test('with consent refused nothing is sent, neither beacon nor image, and no cookie is written', () => {
  for (const beacon of ['accepts', 'refuses', 'missing']) {
    const p = page({ url: 'https://shop.example/landing?ct_clid=clk_42', beacon });
    p.window.convtrackConsent = false;
    p.open();
    p.call('track', { action_id: 'a1', value: { amount_minor: 1, currency: 'EUR' } });

    assert.deepEqual([p.beacons.length, p.images.length, p.cookies.writes.length], [0, 0, 0], beacon);
  }
});

test('consent refused after the page view stops the later fires', () => {
  const p = page().open();

  p.window.convtrackConsent = false;
  p.call('track', { action_id: 'a1' });

  assert.equal(p.beacons.length, 1);
  assert.equal(p.images.length, 0);
});

test('only an explicit false refuses: an unset or other consent value sends', () => {
  for (const consent of [undefined, true, 0, null, 'no']) {
    const p = page();
    p.window.convtrackConsent = consent;
    p.open();
    assert.equal(p.beacons.length, 1, String(consent));
  }
});

test('when sendBeacon refuses, the fire goes as a 1x1 image with its fields in the query', () => {
  const cookies = cookieJar({ ct_clid: 'clk 42/é' });
  const p = page({ url: 'https://shop.example/cart?x=1&y=2', beacon: 'refuses', cookies }).open();

  p.call('track', { action_id: 'act_1', event_id: 'order-1',
                    value: { amount_minor: 1999, currency: 'EUR' } });

  assert.equal(p.beacons.length, 2, 'sendBeacon was tried first');
  assert.equal(p.images.length, 2);
  assert.deepEqual(p.images[1].size, [1, 1]);
  assert.ok(p.images[1].src.startsWith('https://ct.example/collect?'));
  const [view, tracked] = p.queries();
  assert.deepEqual(Object.keys(view), ['tid', 'url', 'eid', 'clid']);
  assert.deepEqual(tracked, { tid: TAG, url: 'https://shop.example/cart?x=1&y=2', eid: 'order-1',
                              clid: 'clk 42/é', aid: 'act_1', v: '1999', cur: 'EUR' });
});

test('without sendBeacon the fire goes as an image', () => {
  const p = page({ beacon: 'missing' }).open();

  assert.equal(p.images.length, 1);
  const [query] = p.queries();
  assert.deepEqual([query.tid, query.url], [TAG, 'https://shop.example/thanks']);
  assert.match(query.eid, UUID);
});

test('the collect URL sits beside the script, under the public URL path', () => {
  const p = page({ src: 'https://example.org/convtrack/insight.js?v=3' }).open();

  assert.equal(p.beacons[0].target, 'https://example.org/convtrack/collect');
});

test('the snippet pasted twice sends one page view, and track still works', () => {
  const p = page().open();

  p.stub();
  p.load();
  p.call('track', { action_id: 'a1' });

  assert.deepEqual(p.bodies().map((b) => [b.aid, b.tid]), [[undefined, TAG], ['a1', TAG]]);
});

test('the script leaves no global on the page but convtrack', () => {
  const p = page();
  const before = new Set(Object.keys(p.window));

  p.open();

  assert.deepEqual(Object.keys(p.window).filter((k) => !before.has(k)), ['convtrack']);
});

test('bad calls are ignored and never throw into the page', () => {
  const p = page().open();

  for (const args of [[], ['track'], ['track', null], ['nonsense', {}], ['init', 'other-tag']]) {
    assert.doesNotThrow(() => p.call(...args));
  }
  p.call('track', { action_id: 'a1' });
  assert.deepEqual(p.bodies().map((b) => b.tid), [TAG, TAG], 'a second init changes nothing');
});
