/**
 * Kubernetes objects checked against the Kubernetes schemas, offline, with the
 * `kubernetes-models` package (models generated from the Kubernetes 1.27 OpenAPI document):
 *
 * - `schemaErrors`: each model's validator (types, required fields, enumerations, formats);
 * - `unknownFieldErrors`: the TypeScript compiler over the same models' interfaces, one
 *   typed object literal per object, so an unknown or misspelt field anywhere is an excess
 *   property error. The validators alone accept unknown fields; together they are as
 *   strict as `kubeconform -strict`, which no registry reachable here ships.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import ts from 'typescript';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The module of `kubernetes-models` holding the model of `o`: `apps/v1/Deployment`, `v1/Service`. */
function modelPath(o: K8sObject): string {
  return `${o.apiVersion}/${o.kind}`;
}

const label = (o: K8sObject) => `${o.kind}/${o.metadata?.name ?? '?'}`;

type Model = new (data: unknown) => { validate(): void };

export async function schemaErrors(objects: readonly K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    let model: Model | undefined;
    try {
      const specifier = `kubernetes-models/${modelPath(o)}`;
      model = ((await import(/* @vite-ignore */ specifier)) as Record<string, Model>)[o.kind];
    } catch {
      // No such module: an unknown apiVersion or kind.
    }
    if (!model) {
      errors.push(`${label(o)}: no Kubernetes schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new model(o).validate();
    } catch (err) {
      errors.push(`${label(o)}: ${(err as Error).message}`);
    }
  }
  return errors;
}

export function unknownFieldErrors(objects: readonly K8sObject[]): string[] {
  // A file that exists nowhere but in this compiler host, where `kubernetes-models` resolves.
  const file = join(ROOT, 'test', 'deploy', '__rendered_manifests__.ts');
  const source = [
    ...objects.map((o, i) => `import type { I${o.kind} as T${i} } from 'kubernetes-models/${modelPath(o)}';`),
    ...objects.map((o, i) => `export const m${i}: T${i} = ${JSON.stringify(o)};`),
  ].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file?.fileName !== file || d.start === undefined) return text;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const o = line < objects.length ? objects[line] : objects[line - objects.length];
    return `${o ? label(o) : '?'}: ${text}`;
  });
}

/** Whether `selector` (matchLabels and matchExpressions) selects an object labelled `labels`. */
export function selects(
  selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const ok =
      e.operator === 'In' ? has && (e.values ?? []).includes(labels[e.key]!)
      : e.operator === 'NotIn' ? !has || !(e.values ?? []).includes(labels[e.key]!)
      : e.operator === 'Exists' ? has
      : e.operator === 'DoesNotExist' ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}
