/**
 * The run command's progress display: counters from the run's summary, a throughput measured over the
 * last seconds (the overall average would hide a run that stalls) and the ETA it implies.
 */

export interface Counters {
  total_requests: number;
  success_requests: number;
  failed_requests: number;
  timeout_requests: number;
}

export interface Progress {
  done: number;
  total: number;
  success: number;
  failed: number;
  timeout: number;
  /** Jobs finished per second over the window; null before two samples a moment apart. */
  rate: number | null;
  /** Seconds left at that rate; null while unknown, 0 when done. */
  etaSeconds: number | null;
}

/** Samples older than this leave the throughput window. */
export const RATE_WINDOW_MS = 10_000;

export class ProgressMeter {
  private samples: { t: number; done: number }[] = [];
  constructor(readonly total: number) {}

  snapshot(c: Counters, t = Date.now()): Progress {
    const done = c.success_requests + c.failed_requests + c.timeout_requests;
    this.samples.push({ t, done });
    while (this.samples.length > 2 && t - this.samples[1].t >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const span = (t - first.t) / 1000;
    const rate = span >= 0.2 ? (done - first.done) / span : null;
    const left = c.total_requests - done;
    const etaSeconds = left <= 0 ? 0 : rate ? left / rate : null;
    return {
      done,
      total: c.total_requests,
      success: c.success_requests,
      failed: c.failed_requests,
      timeout: c.timeout_requests,
      rate,
      etaSeconds,
    };
  }
}

/** 75 → "1:15", 3725 → "1:02:05"; "?" while unknown. */
export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "?";
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const rateText = (r: number | null) => (r === null ? "?" : r >= 100 ? r.toFixed(0) : r.toFixed(1));

/** One terminal line: `[█████░░░░░] 512/1000  51%  ✓ 500  ✗ 10  ⏱ 2  38.2 jobs/s  ETA 0:13` */
export function renderBar(p: Progress, width: number): string {
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const full = Math.round(frac * width);
  const bar = `${"█".repeat(full)}${"░".repeat(width - full)}`;
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  return (
    `[${bar}] ${p.done}/${p.total} ${pct}  ✓ ${p.success}  ✗ ${p.failed}  ⏱ ${p.timeout}  ` +
    `${rateText(p.rate)} jobs/s  ETA ${duration(p.etaSeconds)}`
  );
}

/** The same for logs (not a terminal): `progress 512/1000 (51%) success=500 failed=10 timeout=2 …` */
export function renderLine(p: Progress): string {
  const pct = p.total > 0 ? Math.floor(Math.min(1, p.done / p.total) * 100) : 100;
  return (
    `progress ${p.done}/${p.total} (${pct}%) success=${p.success} failed=${p.failed} timeout=${p.timeout} ` +
    `rate=${rateText(p.rate)}/s eta=${duration(p.etaSeconds)}`
  );
}
