import { readFileSync } from 'node:fs';

/** A V8 .cpuprofile summarised: CPU by package (own time, and time with it on the stack) and the hottest functions. */
export interface ProfileSummary {
  readonly totalMs: number;
  /** Share of the profile's samples spent idle (waiting for I/O). */
  readonly idlePercent: number;
  /** Busy time only (idle left out), by package or area: own (self) time and time with it anywhere on the stack. */
  readonly byPackage: { name: string; selfPercent: number; onStackPercent: number }[];
  readonly topFunctions: { name: string; where: string; selfPercent: number }[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package (node_modules), node core area, Portolan library, or V8 pseudo-frame a frame belongs to. */
export function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) {
    const parts = url.slice('node:'.length).replace(/^internal\//, '').split('/');
    return `node:${parts[0].replace(/\.js$/, '')}`;
  }
  const lib = /\/libs\/([^/]+)\//.exec(url);
  if (lib) return `portolan:${lib[1]}`;
  if (/\/apps\//.test(url)) return 'portolan:apps';
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  return url;
}

export function summariseProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const onStack = new Map<string, number>();
  const functions = new Map<string, { where: string; ms: number }>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    total += ms;
    const area = areaOf(node.callFrame);
    if (area === '(idle)') {
      idle += ms;
      continue;
    }
    self.set(area, (self.get(area) ?? 0) + ms);
    const fn = `${node.callFrame.functionName || '(anonymous)'}`;
    const where = `${node.callFrame.url.replace(/^.*\/(node_modules|libs|apps)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
    const key = `${fn} ${where}`;
    functions.set(key, { where, ms: (functions.get(key)?.ms ?? 0) + ms });
    const seen = new Set<string>();
    for (let id: number | undefined = node.id, depth = 0; id !== undefined && depth < 500; id = parent.get(id), depth++) {
      const frame = byId.get(id);
      if (!frame) break;
      const a = areaOf(frame.callFrame);
      if (a === '(root)' || seen.has(a)) continue;
      seen.add(a);
      onStack.set(a, (onStack.get(a) ?? 0) + ms);
    }
  }
  const busy = Math.max(1e-9, total - idle);
  const pct = (ms: number) => Math.round((ms / busy) * 1000) / 10;
  const names = [...new Set([...self.keys(), ...onStack.keys()])];
  return {
    totalMs: Math.round(total),
    idlePercent: Math.round((idle / Math.max(1e-9, total)) * 1000) / 10,
    byPackage: names
      .map((name) => ({ name, selfPercent: pct(self.get(name) ?? 0), onStackPercent: pct(onStack.get(name) ?? 0) }))
      .sort((a, b) => b.selfPercent - a.selfPercent)
      .slice(0, 30),
    topFunctions: [...functions.entries()]
      .map(([key, v]) => ({ name: key.split(' ')[0], where: v.where, selfPercent: pct(v.ms) }))
      .sort((a, b) => b.selfPercent - a.selfPercent)
      .slice(0, top),
  };
}
