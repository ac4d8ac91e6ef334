// The BullMQ peer of Conveyor's broadcast: one BullMQ job per email, a worker (concurrency 50) sending each over
// a pooled nodemailer transport to the same SMTP sink. Run by `python -m bench` (bench/peer.py), which starts
// redis-server and the sink. Prints {"seconds": ..., "sent": ...} measured from the first add to the last send.
//
//   REDIS_PORT=38001 SMTP_PORT=38025 COUNT=10000 node bench/peers/bullmq_send.mjs
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";
import nodemailer from "nodemailer";

// BullMQ 6 takes its Redis client from us under ESM; the worker's blocking connection needs no retry limit.
const redis = () => new IORedis({ host: "127.0.0.1", port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null });
const count = Number(process.env.COUNT ?? 10000);
const concurrency = Number(process.env.CONCURRENCY ?? 50);
const name = `bench-${process.pid}`;
const subject = "News from Conveyor";
const text = (who) => `Hi ${who},\n\nHere is what is new this week.\n\n— The Conveyor team\n`;
const html = (who) =>
  `<!doctype html>\n<html><body style="font-family: sans-serif">\n  <p>Hi ${who},</p>\n` +
  `  <p>Here is what is new this week.</p>\n  <p>— The Conveyor team</p>\n</body></html>\n`;

const transport = nodemailer.createTransport({
  host: "127.0.0.1", port: Number(process.env.SMTP_PORT), secure: false, ignoreTLS: true,
  pool: true, maxConnections: 10, maxMessages: Infinity,
});
const queue = new Queue(name, { connection: redis() });
let sent = 0;
let failed = 0;
let resolveDone;
const done = new Promise((resolve) => { resolveDone = resolve; });
const worker = new Worker(name, async (job) => {
  const who = `Reader ${job.data.i}`;
  await transport.sendMail({
    from: "Bench <bench@conveyor.localhost>", to: job.data.to, subject, text: text(who), html: html(who),
  });
}, { connection: redis(), concurrency });
const settle = () => { if (sent + failed === count) resolveDone(); };
worker.on("completed", () => { sent++; settle(); });
worker.on("failed", (job, err) => { failed++; console.error(`job ${job?.id} failed: ${err}`); process.exitCode = 1; settle(); });
await worker.waitUntilReady();

const began = performance.now();
const jobs = Array.from({ length: count }, (_, i) => ({
  name: "email", data: { i, to: `reader${i}@example.com` }, opts: { removeOnComplete: true },
}));
for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
await done;
const seconds = (performance.now() - began) / 1000;
console.log(JSON.stringify({ seconds, sent, failed }));  // stdout to a pipe is synchronous on Linux
// Exit without closing: a closing worker waits on its blocking Redis call, and the caller kills redis-server anyway.
process.exit();
