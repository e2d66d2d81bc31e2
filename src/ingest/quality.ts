/**
 * Data quality per source, for the day a site changes its markup and its scraper starts
 * reading the wrong element: every acknowledged record counted by source
 * (`navimpact_ingest_source_records_total{source}`) and every rejection by source and by
 * the field it names (`navimpact_ingest_rejections_total{source,field}`). The alert on a
 * source's rejection ratio (deploy/prometheus/rules/ingest-quality.yml) divides one by the
 * other.
 *
 * Labels stay bounded: sources are subject tokens a scraper may publish on (NATS
 * permissions), fields are the raw record's top-level fields, the database's column names
 * (a refused row) or `record` (the record as a whole: not JSON, not an object).
 */
import type { RecordError } from '../domain/scraped.js';
import type { Metrics } from '../observability/metrics.js';
import { sourceOf } from './decode.js';

/** The field label of a rejection's errors: each path's first segment, `record` for the record as a whole. */
export function rejectedFields(errors: readonly RecordError[]): string[] {
  return [...new Set(errors.map((e) => e.path.split('.')[0] || 'record'))];
}

/** Counts one acknowledged batch: its records by source, its rejections by source and field. */
export function countQuality(
  metrics: Pick<Metrics, 'ingestRejections' | 'ingestSourceRecords'>,
  subjects: readonly string[],
  rejections: readonly { source: string; errors: readonly RecordError[] }[],
): void {
  const bySource = new Map<string, number>();
  for (const subject of subjects) {
    const source = sourceOf(subject);
    bySource.set(source, (bySource.get(source) ?? 0) + 1);
  }
  for (const [source, n] of bySource) metrics.ingestSourceRecords.inc({ source }, n);
  for (const r of rejections) for (const field of rejectedFields(r.errors)) metrics.ingestRejections.inc({ source: r.source, field });
}
