/**
 * deploy/k8s as `kubectl apply -k` would send it: rendered by `kubectl kustomize`, with the
 * Secrets of deploy/k8s/make-secrets.sh, checked against the Kubernetes schemas
 * (k8s-schema.ts), then against what issue 14 asks of it: gateways with readiness, preStop
 * and a disruption budget, two relays, the other roles, a scraper per source, three NATS
 * nodes with the shipped configuration, references that resolve, and network policies
 * that let scrapers reach NATS and nothing else in the cluster.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { schemaErrors, selects, unknownFieldErrors, type K8sObject } from './k8s-schema.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OVERLAY = 'deploy/k8s/overlays/production';
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'];

/** Rendered objects, read loosely once the schema checks have passed. */
type Any = any;

function yamlObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function render(path: string): K8sObject[] {
  try {
    return yamlObjects(execFileSync('kubectl', ['kustomize', path], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('kubectl not found: it renders deploy/k8s (apt-get install kubectl, or kubernetes-client)');
    throw new Error(`kubectl kustomize ${path} failed: ${e.stderr ?? e.message}`);
  }
}

/** The scraper sources that deploy/nats/accounts.conf gives a user. */
function sources(): string[] {
  const accounts = readFileSync(`${ROOT}/deploy/nats/accounts.conf`, 'utf8');
  return [...accounts.matchAll(/^\s*user: scraper-([a-z0-9-]+)$/gm)].map((m) => m[1]!);
}

describe('deploy - kubernetes', () => {
  let objects: K8sObject[];
  let secrets: K8sObject[];
  const find = (kind: string, name: string): Any => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    expect(o, `${kind}/${name}`).toBeDefined();
    return o;
  };
  const workloads = (): Any[] => objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const podLabels = (w: Any): Record<string, string> => w.spec.template.metadata.labels;

  beforeAll(() => {
    objects = render(OVERLAY);
    secrets = yamlObjects(
      execFileSync('sh', ['deploy/k8s/make-secrets.sh'], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, DATABASE_URL: 'postgres://navimpact:pw@db.internal:5432/navimpact', REDIS_URL: 'redis://:pw@redis.internal:6379' },
      }),
    );
  });

  it('k8s - the rendered overlay and the Secrets pass the Kubernetes schemas, with no unknown field', async () => {
    expect(objects.length).toBeGreaterThan(15);
    const all = [...objects, ...secrets];
    expect(await schemaErrors(all)).toEqual([]);
    expect(unknownFieldErrors(all)).toEqual([]);
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('navimpact');
  }, 60_000);

  it('k8s - the checks catch a misspelt field, a wrong type and a missing required field', async () => {
    const deployment = structuredClone(find('Deployment', 'gateway'));
    deployment.spec.template.spec.containers[0].readinessProbe.httpGett = deployment.spec.template.spec.containers[0].readinessProbe.httpGet;
    const pdb = structuredClone(find('PodDisruptionBudget', 'gateway'));
    pdb.spec.minAvailable = { one: 1 };
    const service = structuredClone(find('Service', 'gateway'));
    delete service.spec.ports[0].port;
    expect(unknownFieldErrors([deployment]).join('\n')).toMatch(/httpGett/);
    expect((await schemaErrors([pdb])).join('\n')).toMatch(/minAvailable/);
    expect((await schemaErrors([service])).join('\n')).toMatch(/port/);
  }, 60_000);

  it('k8s - gateways: two or more, ready on /health, a preStop hook for the drain, a disruption budget', () => {
    const gateway = find('Deployment', 'gateway');
    expect(gateway.spec.replicas).toBeGreaterThanOrEqual(2);
    const container = gateway.spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/health');
    expect(container.lifecycle.preStop).toBeDefined();
    expect(container.env).toContainEqual({ name: 'ROLES', value: 'gateway' });
    const pdbs = objects.filter((o: Any) => o.kind === 'PodDisruptionBudget' && selects(o.spec.selector, podLabels(gateway)));
    expect(pdbs).toHaveLength(1);
    expect((pdbs[0] as Any).spec.minAvailable).toBeGreaterThanOrEqual(1);
    // The grace period covers the preStop pause and the service's own shutdown deadline.
    const deadline = Number(/^(\d+)s$/.exec(container.env.find((e: Any) => e.name === 'SHUTDOWN_TIMEOUT').value)![1]);
    expect(gateway.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(deadline + Number(container.lifecycle.preStop.exec.command[1]));
  });

  it('k8s - two relays, an invalidator, ingest, and one scraper per source with its own NATS user', () => {
    expect(find('Deployment', 'relay').spec.replicas).toBe(2);
    for (const role of ['relay', 'invalidator', 'ingest']) expect(find('Deployment', role).spec.template.spec.containers[0].env).toContainEqual({ name: 'ROLES', value: role });
    expect(sources().length).toBeGreaterThanOrEqual(2);
    for (const source of sources()) {
      const scraper = find('Deployment', `scraper-${source}`);
      expect(scraper.spec.replicas).toBe(1);
      expect(scraper.spec.strategy.type).toBe('Recreate');
      const container = scraper.spec.template.spec.containers[0];
      expect(container.command).toEqual(['npm', 'run', 'scrape', '--', '--source', source]);
      expect(container.env).toContainEqual({ name: 'NATS_USER', value: `scraper-${source}` });
      expect(scraper.spec.template.spec.volumes[0].secret.secretName).toBe(`scraper-${source}`);
    }
  });

  it('k8s - NATS: three JetStream nodes on the shipped configuration, streams of three replicas', () => {
    const nats = find('StatefulSet', 'nats');
    expect(nats.spec.replicas).toBe(3);
    const command: string[] = nats.spec.template.spec.containers[0].command;
    expect(command.slice(0, 3)).toEqual(['nats-server', '-c', '/etc/nats/cluster.conf']);
    expect(command[command.indexOf('--routes') + 1]!.split(',')).toHaveLength(3);
    expect(nats.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    const config = objects.find((o: Any) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('nats-config')) as Any;
    for (const file of ['cluster.conf', 'accounts.conf']) {
      const shipped = readFileSync(`${ROOT}/deploy/nats/${file}`, 'utf8');
      expect(readFileSync(`${ROOT}/deploy/k8s/base/nats/${file}`, 'utf8'), `deploy/k8s/base/nats/${file} is a copy of deploy/nats/${file}: cp deploy/nats/${file} deploy/k8s/base/nats/`).toBe(shipped);
      expect(config.data[file]).toBe(shipped);
    }
    expect(config.data['cluster.conf']).toMatch(/^jetstream \{/m);
    const service = objects.find((o: Any) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('navimpact-config')) as Any;
    expect(service.data.NATS_STREAM_REPLICAS).toBe('3');
    expect(find('PodDisruptionBudget', 'nats').spec.maxUnavailable).toBe(1);
    // Every password accounts.conf uses comes from the nats-passwords Secret.
    const passwords = (secrets.find((s) => s.metadata.name === 'nats-passwords') as Any).stringData;
    for (const [, variable] of config.data['accounts.conf'].matchAll(/password: \$([A-Z0-9_]+)/g)) expect(passwords).toHaveProperty(variable);
  });

  it('k8s - every selector matches its pods, and every ConfigMap, Secret and key referenced exists', () => {
    const configMaps = new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));
    const secretKeys = new Map(secrets.map((s: Any) => [s.metadata.name, Object.keys(s.stringData)]));
    for (const w of workloads()) {
      expect(selects(w.spec.selector, podLabels(w)), `${w.metadata.name} selects its pods`).toBe(true);
      const pod = w.spec.template.spec;
      for (const c of pod.containers) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) expect(configMaps.has(from.configMapRef.name), from.configMapRef.name).toBe(true);
          if (from.secretRef) expect(secretKeys.has(from.secretRef.name), from.secretRef.name).toBe(true);
        }
        for (const m of c.volumeMounts ?? []) expect(pod.volumes.map((v: Any) => v.name).concat((w.spec.volumeClaimTemplates ?? []).map((v: Any) => v.metadata.name))).toContain(m.name);
        // A *_FILE variable names a file of a mounted Secret.
        for (const e of c.env ?? []) {
          if (!e.name.endsWith('_FILE')) continue;
          const mount = c.volumeMounts.find((m: Any) => e.value.startsWith(`${m.mountPath}/`));
          const volume = pod.volumes.find((v: Any) => v.name === mount?.name);
          const key = e.value.slice(mount.mountPath.length + 1);
          const keys = volume.secret.items ? volume.secret.items.map((i: Any) => i.path) : secretKeys.get(volume.secret.secretName);
          expect(keys, `${w.metadata.name} ${e.name}`).toContain(key);
        }
      }
      for (const v of pod.volumes ?? []) {
        if (v.configMap) expect(configMaps.has(v.configMap.name), v.configMap.name).toBe(true);
        if (v.secret) {
          expect(secretKeys.has(v.secret.secretName), v.secret.secretName).toBe(true);
          for (const item of v.secret.items ?? []) expect(secretKeys.get(v.secret.secretName)).toContain(item.key);
        }
      }
    }
    for (const s of objects.filter((o: Any) => o.kind === 'Service') as Any[]) {
      expect(workloads().some((w) => selects({ matchLabels: s.spec.selector }, podLabels(w))), `Service ${s.metadata.name} selects pods`).toBe(true);
    }
  });

  it('k8s - network policies: scrapers reach NATS and nothing else in the cluster; only NATS nodes reach the routes', () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as Any[];
    const pods = workloads().map((w) => ({ name: w.metadata.name as string, labels: podLabels(w) }));
    const nats = pods.filter((p) => p.labels['app.kubernetes.io/component'] === 'nats');
    for (const scraper of pods.filter((p) => p.labels['app.kubernetes.io/component'] === 'scraper')) {
      const mine = policies.filter((p) => selects(p.spec.podSelector, scraper.labels));
      // Default deny in both directions, and no rule lets anything in.
      expect(mine.some((p) => p.spec.policyTypes.includes('Egress') && (p.spec.egress ?? []).length === 0)).toBe(true);
      expect(mine.flatMap((p) => p.spec.ingress ?? [])).toEqual([]);
      for (const rule of mine.flatMap((p) => p.spec.egress ?? [])) {
        const ports = (rule.ports ?? []).map((p: Any) => p.port as number).sort((a: number, b: number) => a - b);
        for (const peer of rule.to) {
          if (peer.podSelector && !peer.namespaceSelector) {
            // Pods of this namespace: NATS, and only NATS, on the client port.
            const reached = pods.filter((p) => selects(peer.podSelector, p.labels)).map((p) => p.name);
            expect(reached, `${scraper.name} reaches`).toEqual(nats.map((p) => p.name));
            expect(ports).toEqual([4222]);
          } else if (peer.namespaceSelector) {
            // DNS in kube-system.
            expect(peer.namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'kube-system' });
            expect(peer.podSelector.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
            expect(ports).toEqual([53, 53]);
          } else {
            // The public internet, to scrape: web ports, and no private range (no
            // cluster, Postgres, Redis or cloud metadata address).
            expect(peer.ipBlock.except).toEqual(expect.arrayContaining(PRIVATE_RANGES));
            expect(ports).toEqual([80, 443]);
          }
        }
      }
    }
    const natsPolicy = policies.find((p) => p.metadata.name === 'nats');
    const routes = natsPolicy.spec.ingress.filter((r: Any) => r.ports.some((p: Any) => p.port === 6222));
    for (const rule of routes) for (const peer of rule.from) expect(pods.filter((p) => selects(peer.podSelector, p.labels)).map((p) => p.name)).toEqual(['nats']);
  });
});
