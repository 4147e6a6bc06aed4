import { once } from 'node:events';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { EventFilter, eventWhere } from './event.filter';
import { EVENT_COLUMNS, EventRow, eventView } from './event.view';

/** Rows read per query while exporting. */
const PAGE = 5_000;

export const CSV_COLUMNS = ['occurredAt', 'observedAt', 'id', 'kind', 'planned', 'plannedChangeId', 'deviceId', 'deviceName', 'host', 'itemType', 'itemKey', 'protocol', 'port', 'trackerId', 'jobId', 'before', 'after', 'details'] as const;

/**
 * Writes every event matching `filter`, oldest first, page by page (keyset on time and id),
 * waiting for the client to drain before reading the next page: memory is one page whatever
 * the count. A client that goes away stops the export.
 */
export async function streamEvents(db: DataSource, filter: EventFilter, format: 'csv' | 'json', res: Response): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  res.status(200);
  res.setHeader('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="portolan-events-${stamp}.${format}"`);
  let closed = false;
  const gone = once(res, 'close').then(() => (closed = true));
  const write = async (text: string) => {
    if (!res.write(text) && !closed) await Promise.race([once(res, 'drain'), gone]);
  };
  await write(format === 'csv' ? `${CSV_COLUMNS.join(',')}\r\n` : '[');
  let after: { at: Date; id: string } | undefined;
  let first = true;
  while (!closed) {
    const { sql, params } = eventWhere(filter);
    let where = sql;
    if (after) {
      params.push(after.at, after.id);
      where = `${sql ? `${sql} AND` : 'WHERE'} (e.occurred_at, e.id) > ($${params.length - 1}, $${params.length})`;
    }
    params.push(PAGE);
    const rows: EventRow[] = await db.query(`SELECT ${EVENT_COLUMNS} FROM events e LEFT JOIN devices d ON d.id = e.device_id ${where} ORDER BY e.occurred_at, e.id LIMIT $${params.length}`, params);
    if (!rows.length) break;
    const out: string[] = [];
    for (const row of rows) {
      const view = eventView(row);
      if (format === 'csv') out.push(csvLine(view));
      else {
        out.push(`${first ? '\n' : ',\n'}${JSON.stringify(view)}`);
        first = false;
      }
    }
    await write(out.join(''));
    const last = rows[rows.length - 1];
    after = { at: last.occurred_at, id: last.id };
    if (rows.length < PAGE) break;
  }
  if (!closed) res.end(format === 'csv' ? '' : first ? ']\n' : '\n]\n');
}

function csvLine(v: ReturnType<typeof eventView>): string {
  const cells: unknown[] = [
    v.occurredAt.toISOString(),
    v.observedAt?.toISOString() ?? '',
    v.id,
    v.kind,
    v.planned,
    v.plannedChangeId,
    v.device.id,
    v.device.name,
    v.host,
    v.itemType,
    v.itemKey,
    v.protocol,
    v.port,
    v.trackerId,
    v.jobId,
    v.before && JSON.stringify(v.before),
    v.after && JSON.stringify(v.after),
    v.details && JSON.stringify(v.details),
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * RFC 4180 quoting; a text cell that a spreadsheet would run as a formula (starting with
 * = + - @, tab or CR) gets a leading apostrophe, since device output lands in these cells.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
