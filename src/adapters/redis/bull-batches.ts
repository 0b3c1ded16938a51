/**
 * @module
 * STORE=redis: asynchronous batches run on a BullMQ queue shared by every instance. Processing a
 * batch adds one job per range of ASYNC_BATCH_SLICE items (job id `<batch>.<run>.<first index>`, so
 * adding it twice is a no-op); any instance's worker takes a job and runs the range's pending items
 * slice by slice through the AsyncBatchRunner (outcomes recorded in the Redis store, one script per
 * slice). A job's lock lasts ASYNC_BATCH_JOB_LOCK_MS and is renewed while its worker lives: when an
 * instance is killed, its jobs' locks lapse, BullMQ's stalled-job check moves them back to waiting,
 * and another instance runs the items still pending (an item whose money moved but whose outcome
 * was not recorded replays its payment by name, see src/core/async-batch-runner.ts).
 *
 * The `async-batches` background pump keeps it going on every instance: it starts this instance's
 * worker, expires building batches, and every 30 s adds the jobs of every processing batch again
 * (no-ops while they exist), so a batch moved to processing by an instance that died before adding
 * its jobs still runs; it also emits the events batches owe (AsyncBatchRunner.sweepEvents). BullMQ
 * needs its own connections with maxRetriesPerRequest: null.
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { AsyncBatchRunner } from "../../core/async-batch-runner.js";
import type { Pump } from "../../ports/background.js";
import type { BatchRecord, BatchStore } from "../../ports/batches.js";
import type { Logger } from "../../ports/runtime.js";
import type { BatchQueue } from "../../services.js";

export interface BullBatchOptions {
  redisUrl: string;
  /** The store's key prefix: BullMQ's keys live under `{prefix}:v1:bull:`. */
  prefix: string;
  store: BatchStore;
  logger: Logger;
  /** Items per job. */
  chunkSize: number;
  /** Jobs one instance runs at once. */
  concurrency: number;
  lockMs: number;
  /** How often processing batches' jobs are added again (ms). */
  sweepMs?: number;
}

interface SliceJob {
  batchId: string;
  fromIndex: number;
  toIndex: number;
}

const QUEUE = "async-batches";

export function bullBatchQueue(opts: BullBatchOptions): (runner: AsyncBatchRunner) => BatchQueue {
  return (runner) => {
    const prefix = `{${opts.prefix}}:v1:bull`;
    const connection = () => {
      const r = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: false });
      r.on("error", (e: Error) => opts.logger.warn({ err: e.message }, "batch queue connection error"));
      return r;
    };
    let queue: Queue<SliceJob> | null = null;
    let worker: Worker<SliceJob> | null = null;
    const sweepMs = opts.sweepMs ?? 30_000;
    let lastSweep = 0;

    const queueOf = () => {
      if (!queue) {
        queue = new Queue<SliceJob>(QUEUE, { connection: connection(), prefix });
        queue.on("error", (e) => opts.logger.warn({ err: e.message }, "batch queue error"));
      }
      return queue;
    };

    const startWorker = () => {
      if (worker) return;
      worker = new Worker<SliceJob>(
        QUEUE,
        async (job) => {
          const { batchId, fromIndex, toIndex } = job.data;
          for (;;) {
            const r = await runner.runSlice(batchId, { fromIndex, toIndex });
            if (!r.more) return;
            if (r.retryAt !== undefined) await new Promise((res) => setTimeout(res, Math.max(0, r.retryAt! - Date.now())));
          }
        },
        {
          connection: connection(),
          prefix,
          concurrency: opts.concurrency,
          lockDuration: opts.lockMs,
          stalledInterval: opts.lockMs,
          // A job is taken over after every crash of the instance running it, however many.
          maxStalledCount: 1_000_000,
        },
      );
      worker.on("error", (e) => opts.logger.warn({ err: e.message }, "batch worker error"));
      worker.on("failed", (job, e) => opts.logger.warn({ job: job?.id, err: e.message }, "batch job failed; it is retried"));
    };

    const dispatch = async (b: BatchRecord) => {
      const jobs = [];
      for (let from = 0; from < b.totalCount; from += opts.chunkSize) {
        jobs.push({
          name: "slice",
          data: { batchId: b.batchId, fromIndex: from, toIndex: Math.min(b.totalCount, from + opts.chunkSize) },
          opts: {
            jobId: `${b.batchId}.${b.runGeneration}.${from}`,
            attempts: 1_000_000,
            backoff: { type: "exponential", delay: 500 },
            removeOnComplete: { age: 86_400 },
            removeOnFail: { age: 86_400 },
          },
        });
      }
      await queueOf().addBulk(jobs);
    };

    const pump = (): Pump => async (now) => {
      startWorker();
      await opts.store.expireBuilding(now, 100);
      await runner.sweepEvents();
      if (now - lastSweep >= sweepMs) {
        lastSweep = now;
        for (const id of await opts.store.batchesIn("processing", 1000)) {
          const b = await opts.store.getBatch(id);
          if (b && b.status === "processing") await dispatch(b);
        }
      }
      return null;
    };

    return { dispatch, pump };
  };
}
