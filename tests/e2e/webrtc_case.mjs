// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) against a running livecartd:
//   node webrtc_case.mjs whep --base http://127.0.0.1:PORT --room R [--seconds 6] [--shot out.png]
//        [--pin RUNG]   (pins the viewer to a rung, e.g. 480p, once playing)
//   node webrtc_case.mjs whip --base ... --room R --key K [--seconds 8] [--pin RUNG]   (publishes the
//        fake camera via WHIP in one page and plays it via WHEP in a second page)
// Prints one JSON line with what the pages measured (getStats of the playing page).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = Object.fromEntries(process.argv.slice(3).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const mode = process.argv[2];
const base = args.base;
const seconds = Number(args.seconds ?? 6);

const profile = mkdtempSync(join(tmpdir(), 'lc-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  viewport: { width: 390, height: 844 },
});
await context.grantPermissions(['camera', 'microphone'], { origin: base });

async function player(page, room, pin) {
  await page.goto(`${base}/`);
  return page.evaluate(async ({ room, seconds, pin }) => {
    const { whepPlay, videoStats } = await import('/js/webrtc.js');
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true; video.width = 360;
    document.body.append(video);
    const t0 = performance.now();
    const s = await whepPlay(`/whep/${room}`, video);
    const pinned = pin ? await s.pin(pin) : null;
    let firstFrameMs = null;
    const samples = [];
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      const st = await videoStats(s.pc);
      if (st && st.framesDecoded > 0 && firstFrameMs === null) firstFrameMs = performance.now() - t0;
      if (st) samples.push(st);
    }
    const last = samples.at(-1) ?? {};
    const mid = samples[Math.floor(samples.length / 2)] ?? {};
    const transport = [...(await s.pc.getStats()).values()].find((x) => x.type === 'transport');
    await s.stop();
    return { ...last, framesDecodedMid: mid.framesDecoded ?? 0, firstFrameMs, dtlsState: transport?.dtlsState,
      videoWidth: video.videoWidth, videoHeight: video.videoHeight, pinned };
  }, { room, seconds, pin });
}

let out;
try {
  if (mode === 'whep') {
    const page = await context.newPage();
    out = await player(page, args.room, args.pin);
    if (args.shot) await page.screenshot({ path: args.shot });
  } else if (mode === 'whip') {
    const pubPage = await context.newPage();
    await pubPage.goto(`${base}/`);
    const pubInfo = await pubPage.evaluate(async ({ room, key }) => {
      const { whipPublish } = await import('/js/webrtc.js');
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
      window.__pub = await whipPublish(`/whip/${room}`, key, media);
      return { resource: window.__pub.resource };
    }, { room: args.room, key: args.key });
    await new Promise((r) => setTimeout(r, 1500));
    if (args.pin) { // the ladder builds its rungs once the publisher's video is decoded: wait for it
      const deadline = Date.now() + 60000;
      for (;;) {
        const res = await fetch(`${base}/api/rooms/${args.room}`);
        const room = res.ok ? await res.json() : null;
        const names = room?.room?.renditions ?? room?.renditions ?? [];
        if (names.includes(args.pin)) break;
        if (Date.now() > deadline) throw new Error(`rung ${args.pin} never appeared: ${JSON.stringify(room)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const page = await context.newPage();
    out = await player(page, args.room, args.pin);
    out.publisher = pubInfo;
    await pubPage.evaluate(() => window.__pub.stop());
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (e) {
  out = { error: String(e && e.message || e) };
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
