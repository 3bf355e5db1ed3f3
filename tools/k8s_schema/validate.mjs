// Validates every object of the given multi-document YAML files (e.g. the
// output of `kubectl kustomize`) against the Kubernetes OpenAPI schema,
// offline, with the npm package kubernetes-models (plus its KEDA and
// prometheus-operator models for the CRDs we use). Installed next to this
// file by tools/setup.sh (package-lock.json pins the versions).
//
//   node tools/k8s_schema/validate.mjs FILE.yaml...
//
// Checks types, required fields, enums and formats (the models' schemas),
// and unknown field names (fields.mjs, from the models' type declarations:
// the schemas alone allow additional properties). An object whose
// apiVersion/kind has no model is an error (it would otherwise go
// unchecked).
//
// Prints one line per invalid object and a summary; exits 1 if any object is
// invalid or a file cannot be read, 2 on a usage or installation error.
import { readFileSync } from "node:fs";

// Where the model of apiVersion GROUP/VERSION, kind KIND lives, per package.
const PACKAGES = [
  "kubernetes-models",
  "@kubernetes-models/keda",
  "@kubernetes-models/prometheus-operator",
];

async function findModel(apiVersion, kind) {
  for (const pkg of PACKAGES) {
    let module;
    try {
      module = await import(`${pkg}/${apiVersion}/${kind}`);
    } catch (e) {
      if (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") {
        continue;
      }
      throw e;
    }
    const model = module[kind];
    // Only top-level kinds carry apiVersion/kind (core v1 "Probe" is the
    // container probe type, not an object kind).
    if (model && model.apiVersion === apiVersion && model.kind === kind) {
      return { Model: model, url: import.meta.resolve(`${pkg}/${apiVersion}/${kind}`) };
    }
  }
  return null;
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node validate.mjs FILE.yaml...");
    return 2;
  }
  let parseAllDocuments, unknownFields;
  try {
    ({ parseAllDocuments } = await import("yaml"));
    ({ unknownFields } = await import("./fields.mjs"));
    await import("kubernetes-models/v1/Service");
  } catch (e) {
    console.error(`the npm packages are not installed next to ${import.meta.url} ` +
      `(run tools/setup.sh): ${e.message}`);
    return 2;
  }
  let valid = 0;
  const invalid = [];
  const kinds = new Map();
  for (const file of files) {
    let docs;
    try {
      docs = parseAllDocuments(readFileSync(file, "utf8"));
    } catch (e) {
      invalid.push(`${file}: cannot read: ${e.message}`);
      continue;
    }
    for (const doc of docs) {
      if (doc.errors.length > 0) {
        invalid.push(`${file}: YAML error: ${doc.errors[0].message}`);
        continue;
      }
      const object = doc.toJS();
      if (object === null || object === undefined) continue;  // Empty document.
      const apiVersion = object.apiVersion, kind = object.kind;
      const name = `${file}: ${kind}/${object.metadata?.name ?? "?"} (${apiVersion})`;
      if (typeof apiVersion !== "string" || typeof kind !== "string") {
        invalid.push(`${name}: apiVersion and kind are required strings`);
        continue;
      }
      const found = await findModel(apiVersion, kind);
      if (found === null) {
        invalid.push(`${name}: no schema for this apiVersion/kind`);
        continue;
      }
      const errors = [];
      try {
        new found.Model(object).validate();
      } catch (e) {
        errors.push(e.message);
      }
      const unknown = unknownFields(object, found.url);
      if (unknown.length > 0) errors.push(`unknown field(s) ${unknown.join(", ")}`);
      if (errors.length > 0) {
        invalid.push(`${name}: ${errors.join("; ")}`);
      } else {
        valid++;
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
    }
  }
  for (const line of invalid) console.log(`INVALID ${line}`);
  const summary = [...kinds].map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(`${valid} valid, ${invalid.length} invalid (${summary})`);
  return invalid.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
