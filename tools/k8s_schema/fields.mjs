// Unknown-field check for kubernetes-models objects. The models' JSON-schema
// validators accept properties they do not know, so a misspelt optional
// field (`readinesProbe`) would pass. Their TypeScript declarations list
// every property, though: this walks an object alongside them and reports
// each property no declaration names.
//
// The declarations are regular (generated): one `export interface` per file,
// properties `"name"?: Type;`, types made of primitives, string-literal
// unions, `Array<T>`, maps `{ [key: string]: T; }`, inline object literals
// and interface names imported from sibling files. A type it cannot read
// ends the walk below that point (never a false report).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, resolve as resolvePath } from "node:path";

const parsed = new Map();  // d.ts path -> { imports, props } (props null: no interface)

// Splits an interface/object body into "name"?: type entries at depth 0.
function parseProps(body) {
  const props = new Map();
  let depth = 0, start = 0;
  const entries = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{" || c === "<" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ">" || c === ")" || c === "]") depth--;
    else if (c === ";" && depth === 0) {
      entries.push(body.slice(start, i));
      start = i + 1;
    }
  }
  for (const entry of entries) {
    const m = entry.trim().match(/^"([^"]+)"\??\s*:\s*([\s\S]+)$/);
    if (m) props.set(m[1], m[2].trim());
  }
  return props;
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

function parseDeclarations(path) {
  if (parsed.has(path)) return parsed.get(path);
  let text;
  try {
    text = stripComments(readFileSync(path, "utf8"));
  } catch {
    parsed.set(path, { imports: new Map(), props: null });
    return parsed.get(path);
  }
  const imports = new Map();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      imports.set(name, m[2]);
    }
  }
  let props = null;
  const head = text.match(/export interface \w+(?: extends [\w, ]+)?\s*\{/);
  if (head) {
    let depth = 1, i = head.index + head[0].length;
    const start = i;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}") depth--;
    }
    props = parseProps(text.slice(start, i - 1));
    if (/ extends [\w, ]*TypeMeta/.test(head[0])) {
      props.set("apiVersion", "string");
      props.set("kind", "string");
    }
  }
  const entry = { imports, props };
  parsed.set(path, entry);
  return entry;
}

// The .d.ts path of an import specifier seen in `fromPath`.
function declarationPath(specifier, fromPath) {
  let js;
  if (specifier.startsWith(".")) {
    js = resolvePath(dirname(fromPath), specifier);
  } else {
    try {
      js = fileURLToPath(import.meta.resolve(specifier));
    } catch {
      return null;
    }
  }
  return js.replace(/\.js$/, "") + ".d.ts";
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// Walks `value` as type `type` (declared in `file`); pushes unknown paths.
function walk(value, type, file, path, out) {
  type = type.trim();
  const array = type.match(/^Array<([\s\S]+)>$/);
  if (array) {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, array[1], file, `${path}[${i}]`, out));
    }
    return;
  }
  if (type.startsWith("{") && type.endsWith("}")) {
    if (!isPlainObject(value)) return;
    const body = type.slice(1, -1);
    const map = body.trim().match(/^\[key: string\]\s*:\s*([\s\S]+?);?\s*$/);
    if (map) {
      for (const [k, v] of Object.entries(value)) walk(v, map[1], file, `${path}.${k}`, out);
      return;
    }
    walkProps(value, parseProps(body), file, path, out);
    return;
  }
  if (/^[A-Za-z_]\w*$/.test(type)) {
    const { imports } = parseDeclarations(file);
    const specifier = imports.get(type);
    if (!specifier || !isPlainObject(value)) return;
    const target = declarationPath(specifier, file);
    if (!target) return;
    const { props } = parseDeclarations(target);
    if (props) walkProps(value, props, target, path, out);
  }
  // Primitives, literal unions, aliases (IntOrString, Quantity): done.
}

function walkProps(value, props, file, path, out) {
  for (const [key, v] of Object.entries(value)) {
    const type = props.get(key);
    const child = path ? `${path}.${key}` : key;
    if (type === undefined) out.push(child);
    else walk(v, type, file, child, out);
  }
}

// Unknown field paths of `object`, whose model module is `moduleUrl` (the
// URL of the model's .js file).
export function unknownFields(object, moduleUrl) {
  const file = fileURLToPath(moduleUrl).replace(/\.js$/, "") + ".d.ts";
  const { props } = parseDeclarations(file);
  if (!props) throw new Error(`no declarations in ${file}`);
  const out = [];
  walkProps(object, props, file, "", out);
  return out;
}

