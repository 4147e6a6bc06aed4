/** Latencies of one measured phase (bounded), outcomes by kind, and the figures derived from them. */
export class LatencyRecorder {
  private readonly values: Float64Array;
  private count = 0;
  private dropped = 0;
  readonly outcomes = new Map<string, number>();

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity);
  }

  /** One answered or failed request; only `ok` ones enter the latency distribution. */
  record(outcome: string, ms: number, ok: boolean): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (!ok) return;
    if (this.count < this.capacity) this.values[this.count++] = ms;
    else this.dropped += 1;
  }

  get ok(): number {
    return this.count + this.dropped;
  }

  get total(): number {
    let sum = 0;
    for (const n of this.outcomes.values()) sum += n;
    return sum;
  }

  summary(): LatencySummary {
    const sorted = this.values.slice(0, this.count).sort();
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN);
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      samples: sorted.length,
      mean: r2(sum / Math.max(1, sorted.length)),
      p50: r2(at(0.5)),
      p90: r2(at(0.9)),
      p99: r2(at(0.99)),
      p999: r2(at(0.999)),
      max: r2(sorted.length ? sorted[sorted.length - 1] : NaN),
    };
  }
}

export interface LatencySummary {
  readonly samples: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

function r2(value: number): number {
  return Math.round(value * 100) / 100;
}
