import type http from 'node:http';

/**
 * What one request to Cosmos DB's REST API is, as billed: Cosmos charges request units
 * per data operation (a point read, a query page, a create, an upsert, a replace, a
 * patch, a delete, a transactional batch); `metadata` is the SDK reading the account,
 * databases, containers and partition key ranges, which it caches, and `queryplan` the
 * SDK asking the gateway how to run a query (a round trip, not billed): both are counted
 * apart. Used by `npm run bench -- --only azure` and the tests to count what the Azure
 * shape asks of Cosmos DB per message, per login, per page.
 */
export type CosmosOp = 'read' | 'query' | 'create' | 'upsert' | 'replace' | 'patch' | 'delete' | 'batch' | 'metadata' | 'queryplan';

const header = (headers: http.IncomingHttpHeaders, name: string) => String(headers[name] ?? '').toLowerCase();

export function classifyCosmosRequest(method: string, url: string, headers: http.IncomingHttpHeaders): { op: CosmosOp; container: string | null } {
  const path = decodeURIComponent(url.split('?')[0]).replace(/^\/+|\/+$/g, '');
  // dbs/{db}/colls/{coll}/docs[/{id}]
  const parts = path.split('/');
  const container = parts[2] === 'colls' && parts[3] ? parts[3] : null;
  if (parts[4] !== 'docs') return { op: 'metadata', container };
  const item = parts.length > 5;
  switch (method.toUpperCase()) {
    case 'GET':
      return { op: item ? 'read' : 'query', container }; // a GET on the collection is a read feed, billed as a query
    case 'POST':
      if (header(headers, 'x-ms-cosmos-is-query-plan-request') === 'true') return { op: 'queryplan', container };
      if (header(headers, 'x-ms-documentdb-isquery') === 'true' || header(headers, 'content-type').startsWith('application/query+json')) return { op: 'query', container };
      if (header(headers, 'x-ms-cosmos-is-batch-request') === 'true') return { op: 'batch', container };
      return { op: header(headers, 'x-ms-documentdb-is-upsert') === 'true' ? 'upsert' : 'create', container };
    case 'PUT':
      return { op: 'replace', container };
    case 'PATCH':
      return { op: 'patch', container };
    case 'DELETE':
      return { op: 'delete', container };
    default:
      return { op: 'metadata', container };
  }
}

/** Counts the requests an emulator serves, by operation and container. */
export class CosmosOpCounter {
  private counts = new Map<string, number>();

  /** Counts this request (wire it as the server's first 'request' listener). */
  record(req: http.IncomingMessage): void {
    const { op, container } = classifyCosmosRequest(req.method ?? 'GET', req.url ?? '/', req.headers);
    const key = op === 'metadata' || op === 'queryplan' ? op : `${container ?? '?'}.${op}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** The counts since the last take, and starts again from zero. */
  take(): CosmosOpCounts {
    const counts = this.counts;
    this.counts = new Map();
    const byKind = Object.fromEntries([...counts].filter(([k]) => k !== 'metadata' && k !== 'queryplan').sort(([a], [b]) => a.localeCompare(b)));
    const data = Object.values(byKind).reduce((s, n) => s + n, 0);
    return { data, metadata: counts.get('metadata') ?? 0, queryPlans: counts.get('queryplan') ?? 0, byKind };
  }
}

export interface CosmosOpCounts {
  /** Billed data operations (everything but metadata). */
  data: number;
  /** The SDK's account/database/container/partition-range reads. */
  metadata: number;
  /** Query plans the SDK asked the gateway for (one per query; not billed). */
  queryPlans: number;
  /** The billed operations by `container.op`. */
  byKind: Record<string, number>;
}
