/**
 * How many cases a property test tries: `full` in the whole suite, a fifth of it in the unit tier
 * (vitest.unit.config.ts sets CSP_SEAL_PROPERTY_RUNS=0.2) so that the tier stays quick on a busy machine while
 * every property still runs on hundreds of generated inputs.
 */
export function propertyRuns(full: number): number {
  const scale = Number(process.env.CSP_SEAL_PROPERTY_RUNS ?? '1')
  return Number.isFinite(scale) && scale > 0 ? Math.max(1, Math.round(full * Math.min(scale, 1))) : full
}
