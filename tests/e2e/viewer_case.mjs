// A browser for tests/e2e/test_viewer_page.py and test_marketing_browser.py: Debian's headless Chromium driven by
// playwright-core, remote-controlled with one JSON request per line on stdin; one JSON answer
// per line on stdout ({"id", "ok": true, "result"} or {"id", "ok": false, "error"}).
//
//   {"id":1,"op":"open","name":"a","width":390,"height":844,"locale":"zh-CN","skewMs":0,"reducedMotion":"reduce"}
//   {"id":2,"op":"goto","name":"a","url":"http://127.0.0.1:PORT/r/demo#token=..."}
//   {"id":3,"op":"eval","name":"a","fn":"(arg) => document.title","arg":null}
//   {"id":4,"op":"wait","name":"a","fn":"(arg) => ...truthy when done...","arg":null,"ms":5000}
//   {"id":5,"op":"click"|"fill"|"press"|"select","name":"a","selector":"#x","value":"..."}
//   {"id":6,"op":"shot","name":"a","path":"/tmp/x","sizes":[[390,844],[1280,800]]}
//   {"id":7,"op":"errors","name":"a"}      page errors and console errors seen so far
//   {"id":8,"op":"quit"}
//
// Each name is its own browser context (own storage, locale, clock skew) in one browser.
// skewMs moves the page's Date.now() (the viewer's clock is wrong), to show that the page
// uses the server clock; reducedMotion ('reduce' or 'no-preference', the default) is what the
// page's prefers-reduced-motion says. Camera/microphone permission is granted because Chromium gathers
// no loopback ICE candidates without it (../shared/BROWSER-TESTING.md).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    '--allow-loopback-in-peer-connection'],
});
const pages = new Map(); // name -> {context, page, errors}

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function get(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page named ${name}`);
  return p;
}

const ops = {
  async open({ name, width = 390, height = 844, locale = 'en-US', skewMs = 0, origin, reducedMotion = 'no-preference' }) {
    const context = await browser.newContext({ viewport: { width, height }, locale, deviceScaleFactor: 1, reducedMotion });
    if (origin) await context.grantPermissions(['camera', 'microphone'], { origin });
    if (skewMs) {
      await context.addInitScript((skew) => {
        const real = Date.now.bind(Date);
        Date.now = () => real() + skew;
      }, skewMs);
    }
    const page = await context.newPage();
    const entry = { context, page, errors: [] };
    page.on('pageerror', (e) => entry.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') entry.errors.push(`console: ${m.text()}`); });
    pages.set(name, entry);
    return { name };
  },
  async goto({ name, url }) {
    const { page } = get(name);
    const r = await page.goto(url, { waitUntil: 'load' });
    return { status: r ? r.status() : null };
  },
  async eval({ name, fn, arg = null }) {
    return get(name).page.evaluate(`(${fn})(${JSON.stringify(arg)})`);
  },
  // Polls with evaluate (not waitForFunction, whose string predicates need 'unsafe-eval',
  // which the page's Content-Security-Policy rightly refuses).
  async wait({ name, fn, arg = null, ms = 10000 }) {
    const { page } = get(name);
    const expr = `(${fn})(${JSON.stringify(arg)})`;
    const end = Date.now() + ms;
    let last;
    for (;;) {
      last = await page.evaluate(expr);
      if (last) return last;
      if (Date.now() > end) throw new Error(`timeout after ${ms} ms (last value ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  },
  async click({ name, selector, timeout = 5000 }) {
    await get(name).page.click(selector, { timeout });
    return true;
  },
  async fill({ name, selector, value, timeout = 5000 }) {
    await get(name).page.fill(selector, value, { timeout });
    return true;
  },
  async press({ name, selector, key, timeout = 5000 }) {
    const { page } = get(name);
    if (selector) await page.press(selector, key, { timeout });
    else await page.keyboard.press(key);
    return true;
  },
  async select({ name, selector, value, timeout = 5000 }) {
    return get(name).page.selectOption(selector, value, { timeout });
  },
  async shot({ name, path, sizes = [[390, 844], [1280, 800]] }) {
    const { page } = get(name);
    const before = page.viewportSize();
    const files = [];
    for (const [w, h] of sizes) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(250);
      const file = `${path}-${w}x${h}.png`;
      await page.screenshot({ path: file });
      files.push(file);
    }
    await page.setViewportSize(before);
    return files;
  },
  async viewport({ name, width, height }) {
    await get(name).page.setViewportSize({ width, height });
    return true;
  },
  async errors({ name }) {
    return get(name).errors;
  },
  async close({ name }) {
    const p = get(name);
    pages.delete(name);
    await p.context.close();
    return true;
  },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    out({ id: null, ok: false, error: `bad request: ${e.message}` });
    continue;
  }
  if (req.op === 'quit') {
    out({ id: req.id, ok: true, result: true });
    break;
  }
  try {
    const fn = ops[req.op];
    if (!fn) throw new Error(`unknown op ${req.op}`);
    out({ id: req.id, ok: true, result: (await fn(req)) ?? null });
  } catch (e) {
    out({ id: req.id, ok: false, error: String(e?.message ?? e).split('\n').slice(0, 6).join('\n') });
  }
}
await browser.close();
