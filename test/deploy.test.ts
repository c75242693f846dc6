/**
 * deploy/: what can be checked without a container engine or a cluster. Every YAML file parses, the
 * compose file mounts paths that exist, the Kubernetes manifests are well-formed and agree with the
 * daemon's default ports and HTTP endpoints, the embedded configs pass flowgauge's own parser, the
 * Dockerfile exposes the default ports, and promtool accepts the compose Prometheus config.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { DEFAULT_HTTP_PORT, DEFAULT_NETFLOW_PORTS, DEFAULT_SFLOW_PORT } from '../src/config/defaults.js';
import { parseConfig } from '../src/config/load.js';
import { repoRoot } from './helpers/corpus.js';

const deployDir = path.join(repoRoot, 'deploy');
const k8sDir = path.join(deployDir, 'kubernetes');
const UDP_PORTS = [...DEFAULT_NETFLOW_PORTS, DEFAULT_SFLOW_PORT].sort((a, b) => a - b);

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const promtool = which('promtool');
const kubectl = which('kubectl');

type Manifest = {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

function parseFile(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) expect(d.errors.map((e) => `${file}: ${e.message}`)).toEqual([]);
  return list.map((d) => d.toJS());
}

const manifests = new Map<string, Manifest>();
for (const file of yamlFiles(k8sDir)) {
  if (path.basename(file) === 'kustomization.yaml') continue;
  for (const doc of parseFile(file)) manifests.set(path.basename(file), doc as Manifest);
}
function byKind(kind: string, name?: string): Manifest {
  const m = [...manifests.values()].find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!m) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in deploy/kubernetes`);
  return m;
}

function expectValidConfig(text: string, source: string): void {
  const result = parseConfig(text, source, {});
  expect(result.errors.map((e) => e.toString())).toEqual([]);
  const config = result.config!;
  expect(config.listen.http).toBe(`0.0.0.0:${DEFAULT_HTTP_PORT}`);
  expect(config.listen.netflow).toEqual(DEFAULT_NETFLOW_PORTS.map((p) => `0.0.0.0:${p}`));
  expect(config.listen.sflow).toEqual([`0.0.0.0:${DEFAULT_SFLOW_PORT}`]);
  expect(config.stateDir).toBe('/var/lib/flowgauge');
}

describe('deploy/', () => {
  it('every YAML file parses without errors or duplicate keys', () => {
    const files = yamlFiles(deployDir);
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) expect(parseFile(f).length).toBeGreaterThan(0);
  });

  it('deploy/flowgauge.yaml passes the config parser', () => {
    expectValidConfig(readFileSync(path.join(deployDir, 'flowgauge.yaml'), 'utf8'), 'deploy/flowgauge.yaml');
  });

  it('the Dockerfile exposes the default ports, probes /healthz and runs the container config', () => {
    const dockerfile = readFileSync(path.join(deployDir, 'Dockerfile'), 'utf8');
    const expose = [...dockerfile.matchAll(/^EXPOSE\s+(.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/));
    expect(expose.sort()).toEqual(
      [`${DEFAULT_HTTP_PORT}/tcp`, ...UDP_PORTS.map((p) => `${p}/udp`)].sort(),
    );
    expect(dockerfile).toMatch(new RegExp(`HEALTHCHECK[\\s\\S]*http://127\\.0\\.0\\.1:${DEFAULT_HTTP_PORT}/healthz`));
    expect(dockerfile).toMatch(/^USER\s+1000:1000$/m);
    expect(dockerfile).toMatch(/^VOLUME\s+\["\/var\/lib\/flowgauge"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["--config", "\/etc\/flowgauge\/flowgauge.yaml"\]$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    // Every file the build copies from the context exists and is not excluded by .dockerignore.
    const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(3);
    for (const src of copied) {
      expect(existsSync(path.join(repoRoot, src)), src).toBe(true);
      expect(ignored.includes(src.split('/')[0]), `${src} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('compose mounts host paths that exist, where the Grafana provisioning files expect them', () => {
    const compose = parseYaml(readFileSync(path.join(deployDir, 'compose.yaml'), 'utf8')) as {
      services: Record<string, { volumes?: string[]; ports?: string[] }>;
    };
    const mounts = new Map<string, string>();
    for (const service of Object.values(compose.services)) {
      for (const v of service.volumes ?? []) {
        const [host, target] = v.split(':');
        if (!host.startsWith('.')) continue; // named volume
        expect(existsSync(path.resolve(deployDir, host)), `${v}`).toBe(true);
        mounts.set(target, path.resolve(deployDir, host));
      }
    }
    // The dashboard provider's path is mounted from grafana/dashboards.
    const provider = parseYaml(readFileSync(path.join(repoRoot, 'grafana/provisioning/dashboards/flowgauge.yml'), 'utf8')) as {
      providers: Array<{ options: { path: string } }>;
    };
    expect(mounts.get(provider.providers[0].options.path)).toBe(path.join(repoRoot, 'grafana', 'dashboards'));
    // The data source URL names the compose prometheus service.
    const ds = parseYaml(readFileSync(path.join(repoRoot, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: Array<{ url: string }>;
    };
    expect(Object.keys(compose.services)).toContain(new URL(ds.datasources[0].url).hostname);
    expect(mounts.get('/etc/prometheus/rules')).toBe(path.join(repoRoot, 'prometheus', 'rules'));
    expect(compose.services.flowgauge.ports?.sort()).toEqual(
      [`${DEFAULT_HTTP_PORT}:${DEFAULT_HTTP_PORT}/tcp`, ...UDP_PORTS.map((p) => `${p}:${p}/udp`)].sort(),
    );
    // The compose Prometheus scrapes the flowgauge service.
    const prom = parseYaml(readFileSync(path.join(deployDir, 'prometheus-compose.yml'), 'utf8')) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
    };
    expect(prom.scrape_configs[0].static_configs[0].targets).toEqual([`flowgauge:${DEFAULT_HTTP_PORT}`]);
  });

  it.skipIf(promtool === undefined && !process.env.CI)('promtool accepts the compose Prometheus config', () => {
    // Laid out as in the container: the config with rules/ beside it.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-deploy-'));
    try {
      cpSync(path.join(deployDir, 'prometheus-compose.yml'), path.join(dir, 'prometheus.yml'));
      cpSync(path.join(repoRoot, 'prometheus', 'rules'), path.join(dir, 'rules'), { recursive: true });
      const r = spawnSync(promtool ?? 'promtool', ['check', 'config', path.join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('Kubernetes manifests', () => {
    it('each has apiVersion, kind and metadata.name, in the flowgauge namespace', () => {
      expect(manifests.size).toBeGreaterThanOrEqual(6);
      for (const [file, m] of manifests) {
        expect(m.apiVersion, file).toMatch(/^[\w.]+(\/v\d\w*)?$|^v1$/);
        expect(m.kind, file).toMatch(/^[A-Z]\w+$/);
        expect(m.metadata?.name, file).toBeTruthy();
        if (m.kind !== 'Namespace') expect(m.metadata?.namespace, file).toBe('flowgauge');
      }
    });

    it('kustomization.yaml lists every manifest but the optional ServiceMonitor', () => {
      const k = parseYaml(readFileSync(path.join(k8sDir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
      const expected = [...manifests].filter(([, m]) => m.kind !== 'ServiceMonitor').map(([f]) => f);
      expect([...k.resources].sort()).toEqual(expected.sort());
      expect(byKind('ServiceMonitor').spec.endpoints[0].port).toBe('http-metrics');
    });

    it('the ConfigMap embeds a config that passes the config parser', () => {
      const cm = byKind('ConfigMap', 'flowgauge-config');
      expectValidConfig(cm.data!['flowgauge.yaml'], 'configmap flowgauge.yaml');
    });

    it('the Deployment probes /readyz and /healthz on the HTTP port, runs non-root with a read-only root', () => {
      const d = byKind('Deployment', 'flowgauge');
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p]));
      expect(ports['http-metrics']).toMatchObject({ containerPort: DEFAULT_HTTP_PORT, protocol: 'TCP' });
      const udp = c.ports.filter((p: any) => p.protocol === 'UDP').map((p: any) => p.containerPort).sort((a: number, b: number) => a - b);
      expect(udp).toEqual(UDP_PORTS);
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-metrics' });
      expect(c.resources.requests.cpu).toBeTruthy();
      expect(c.resources.limits.memory).toBeTruthy();
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      expect(c.args).toEqual(['--config', '/etc/flowgauge/flowgauge.yaml']);
      // The config and state_dir are mounted volumes that exist in the pod.
      const volumes = new Set(pod.volumes.map((v: any) => v.name));
      const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
      expect(volumes.has(mounts['/var/lib/flowgauge'])).toBe(true);
      expect(volumes.has(mounts['/etc/flowgauge'])).toBe(true);
      expect(pod.volumes.find((v: any) => v.name === mounts['/etc/flowgauge']).configMap.name).toBe('flowgauge-config');
      expect(d.spec.selector.matchLabels).toEqual(d.spec.template.metadata.labels);
    });

    it('the UDP Service keeps client addresses and per-exporter affinity; the metrics Service serves the HTTP port', () => {
      const deploymentLabels = byKind('Deployment').spec.template.metadata.labels;
      const udp = byKind('Service', 'flowgauge-flows');
      expect(udp.spec.externalTrafficPolicy).toBe('Local');
      expect(udp.spec.sessionAffinity).toBe('ClientIP');
      expect(udp.spec.ports.every((p: any) => p.protocol === 'UDP')).toBe(true);
      expect(udp.spec.ports.map((p: any) => p.port).sort((a: number, b: number) => a - b)).toEqual(UDP_PORTS);
      const metrics = byKind('Service', 'flowgauge-metrics');
      expect(metrics.spec.ports).toEqual([{ name: 'http-metrics', port: DEFAULT_HTTP_PORT, targetPort: 'http-metrics', protocol: 'TCP' }]);
      for (const s of [udp, metrics]) expect(deploymentLabels).toMatchObject(s.spec.selector);
      // The ServiceMonitor selects the metrics Service.
      expect(metrics.metadata!.labels).toMatchObject(byKind('ServiceMonitor').spec.selector.matchLabels);
      // Service targetPorts name container ports that exist.
      const names = new Set(byKind('Deployment').spec.template.spec.containers[0].ports.map((p: any) => p.name));
      for (const p of [...udp.spec.ports, ...metrics.spec.ports]) expect(names.has(p.targetPort)).toBe(true);
    });

    describe('the cloud poller (deploy/cloud-poller)', () => {
      const dir = path.join(deployDir, 'cloud-poller');
      const own = new Map<string, Manifest>();
      for (const file of yamlFiles(dir)) {
        if (path.basename(file) !== 'kustomization.yaml') own.set(path.basename(file), parseFile(file)[0] as Manifest);
      }
      const find = (kind: string): Manifest => [...own.values()].find((m) => m.kind === kind)!;

      it('lists its manifests in its kustomization, all in the flowgauge namespace', () => {
        const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; namespace: string };
        expect([...k.resources].sort()).toEqual([...own.keys()].sort());
        expect(k.namespace).toBe('flowgauge');
        for (const [file, m] of own) expect(m.metadata?.namespace, file).toBe('flowgauge');
      });

      it('embeds a config with cloud sources and no UDP listeners, which the config parser accepts', () => {
        const result = parseConfig(find('ConfigMap').data!['flowgauge.yaml'], 'cloud-poller configmap', {});
        expect(result.errors.map(String)).toEqual([]);
        const config = result.config!;
        expect(config.listen).toEqual({ http: `0.0.0.0:${DEFAULT_HTTP_PORT}`, netflow: [], sflow: [] });
        expect(config.cloudFlowLogs.length).toBeGreaterThan(0);
        expect(config.stateDir).toBe('/var/lib/flowgauge');
      });

      it('runs one pod with its own identity, its checkpoints on a claimed volume, and is not in the UDP Service', () => {
        const sts = find('StatefulSet');
        expect(sts.spec.replicas).toBe(1);
        const pod = sts.spec.template.spec;
        expect(pod.serviceAccountName).toBe(find('ServiceAccount').metadata!.name);
        const c = pod.containers[0];
        const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
        expect(sts.spec.volumeClaimTemplates.map((v: any) => v.metadata.name)).toContain(mounts['/var/lib/flowgauge']);
        expect(pod.volumes.find((v: any) => v.name === mounts['/etc/flowgauge']).configMap.name).toBe(find('ConfigMap').metadata!.name);
        expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        expect(sts.spec.selector.matchLabels).toMatchObject(find('Service').spec.selector);
        // The collectors' Services must not select the poller (it has no UDP listener).
        const labels = sts.spec.template.metadata.labels;
        for (const name of ['flowgauge-flows', 'flowgauge-metrics']) {
          const selector = byKind('Service', name).spec.selector as Record<string, string>;
          expect(Object.entries(selector).every(([k, v]) => labels[k] === v), name).toBe(false);
        }
        expect(find('Service').spec.ports).toEqual([{ name: 'http-metrics', port: DEFAULT_HTTP_PORT, targetPort: 'http-metrics', protocol: 'TCP' }]);
      });
    });

    it.skipIf(kubectl === undefined)('kubectl kustomize renders the kustomization', () => {
      const r = spawnSync(kubectl!, ['kustomize', k8sDir], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as Manifest).kind);
      expect(kinds.sort()).toEqual(['ConfigMap', 'Deployment', 'Namespace', 'Service', 'Service']);
    });
  });
});
