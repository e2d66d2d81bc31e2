/**
 * The bench's own HTTP reads (warm-up, capture, checks, counters): keep-alive GETs that
 * keep the raw status, headers and body of each answer.
 */
import { Agent, request as httpRequest } from 'node:http';

export interface RawAnswer {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: string;
}

/** The agent of the bench's own reads; destroyed at the end, before the servers stop. */
export const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 });

export function get(port: number, path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.end();
  });
}

/** GETs every path (16 at a time); returns the answers in order. */
export async function getAll(port: number, paths: string[], headers: Record<string, string>): Promise<RawAnswer[]> {
  const out: RawAnswer[] = new Array<RawAnswer>(paths.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < paths.length) {
        const i = next++;
        out[i] = await get(port, paths[i]!, headers);
      }
    }),
  );
  return out;
}

export function statusCounts(answers: RawAnswer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of answers) out[x.status] = (out[x.status] ?? 0) + 1;
  return out;
}

/** Headers a server writes by itself (uWS and Node both), left out of a captured answer. */
export const AUTOMATIC = new Set(['date', 'content-length', 'uwebsockets', 'connection', 'keep-alive', 'transfer-encoding']);

export function header(x: RawAnswer, name: string): string | undefined {
  for (let i = 0; i < x.rawHeaders.length; i += 2) if (x.rawHeaders[i]!.toLowerCase() === name) return x.rawHeaders[i + 1];
  return undefined;
}

/** Status line, headers and body as sent (approximately: HTTP/1.1, CRLFs). */
export function answerBytes(x: RawAnswer): number {
  let n = `HTTP/1.1 ${x.status} ${x.statusMessage}\r\n`.length + 2 + Buffer.byteLength(x.body);
  for (let i = 0; i < x.rawHeaders.length; i += 2) n += `${x.rawHeaders[i]}: ${x.rawHeaders[i + 1]}\r\n`.length;
  return n;
}
