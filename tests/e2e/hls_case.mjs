// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) playing a room's live HLS with
// hls.js (from npm, tests/e2e/node_modules: never a CDN):
//   node hls_case.mjs --base http://127.0.0.1:PORT --room R [--seconds 12]
// Prints one JSON line: how far the video played, stalls, the levels hls.js saw, its latency
// estimate and the browser's playback quality (dropped frames).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(args.seconds ?? 12);
const profile = mkdtempSync(join(tmpdir(), 'lc-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
let out;
try {
  const page = await context.newPage();
  // hls.js comes from npm (node_modules), handed to the page under livecartd's origin by Playwright
  // (the viewer page's CSP allows scripts of its own origin only; livecartd does not ship it yet).
  await page.route('**/__test__/hls.min.js',
    (route) => route.fulfill({ path: join(here, 'node_modules', 'hls.js', 'dist', 'hls.min.js'),
      contentType: 'text/javascript' }));
  await page.goto(`${args.base}/`);
  await page.addScriptTag({ url: `${args.base}/__test__/hls.min.js` });
  out = await page.evaluate(async ({ base, room, seconds }) => {
    if (!window.Hls || !Hls.isSupported()) return { error: 'hls.js not supported here' };
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true; video.width = 320;
    document.body.append(video);
    const hls = new Hls();
    const errors = [];
    let levels = [];
    let waiting = 0;
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) errors.push(`${d.type}/${d.details}`); });
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      levels = d.levels.map((l) => ({ height: l.height, bitrate: l.bitrate, codecs: `${l.videoCodec},${l.audioCodec}` }));
    });
    video.addEventListener('waiting', () => { waiting += 1; });
    const t0 = performance.now();
    hls.loadSource(`${base}/hls/${room}/master.m3u8`);
    hls.attachMedia(video);
    let firstPlayMs = null;
    let startTime = null;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end && errors.length === 0) {
      await new Promise((r) => setTimeout(r, 200));
      if (firstPlayMs === null && video.currentTime > 0) {
        firstPlayMs = performance.now() - t0;
        startTime = video.currentTime;
      }
    }
    const q = video.getVideoPlaybackQuality();
    const res = {
      firstPlayMs, played: startTime === null ? 0 : video.currentTime - startTime,
      playingFor: firstPlayMs === null ? 0 : (performance.now() - t0 - firstPlayMs) / 1000,
      waiting, errors, levels, latency: hls.latency, targetLatency: hls.targetLatency,
      totalFrames: q.totalVideoFrames, droppedFrames: q.droppedVideoFrames,
      videoWidth: video.videoWidth, videoHeight: video.videoHeight,
    };
    hls.destroy();
    return res;
  }, { base: args.base, room: args.room, seconds });
} catch (e) {
  out = { error: String(e && e.message || e) };
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
