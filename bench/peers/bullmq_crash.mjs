// The BullMQ peer of `python -m bench crash`: the email job as a BullMQ user would write it, one job per email,
// retried on a failed send (4 attempts, exponential backoff from 1 s, as BullMQ's docs show), its Message-ID from
// the job's id (a job run again re-sends the same one). A worker that dies holds its active jobs until their lock
// expires; another worker's stalled-job check (every `stalledInterval`, 30 s) moves them back to waiting once
// (`maxStalledCount` 1), then fails them. The job's id is its recipient, so what Redis still holds can be read.
//
//   REDIS_PORT=38001 COUNT=300 node bullmq_crash.mjs enqueue     # the backlog, then exit
//   REDIS_PORT=38001 SMTP_PORT=38025 node bullmq_crash.mjs worker  # runs until killed
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";
import nodemailer from "nodemailer";

const QUEUE = "crash";
const redis = () => new IORedis({ host: "127.0.0.1", port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null });
const subject = "Welcome";
const text = (who) => `Hi ${who},\n\nWelcome aboard.\n`;

if (process.argv[2] === "enqueue") {
  const queue = new Queue(QUEUE, { connection: redis() });
  const count = Number(process.env.COUNT ?? 300);
  const jobs = Array.from({ length: count }, (_, i) => ({
    name: "email",
    data: { i, to: `reader${i}@example.com` },
    opts: { jobId: `reader${i}@example.com`, attempts: 4, backoff: { type: "exponential", delay: 1000 } },
  }));
  for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
  console.log(JSON.stringify({ enqueued: count }));
  process.exit();
} else {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1", port: Number(process.env.SMTP_PORT), secure: false, ignoreTLS: true,
    pool: true, maxConnections: 2,
  });
  new Worker(QUEUE, async (job) => {
    await transport.sendMail({
      from: "Bench <bench@conveyor.localhost>", to: job.data.to, subject, text: text(`Reader ${job.data.i}`),
      messageId: `<${job.id}.bullmq@conveyor.localhost>`,
    });
  }, { connection: redis(), concurrency: 2 });
}
