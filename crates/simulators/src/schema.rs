//! Shopify's real Admin schema for the pinned API version, from the introspection JSON that
//! the npm package `@shopify/dev-mcp` ships (installed by `scripts/setup.sh --for-tests`),
//! turned into SDL for `apollo-compiler`. Nothing here is written by hand: a document that
//! validates here validates against Shopify.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use serde_json::Value;

pub fn introspection_path() -> PathBuf {
    let file = format!(
        "schema/node_modules/@shopify/dev-mcp/dist/data/admin_{}.json.gz",
        returnhub_connectors::API_VERSION
    );
    // Kept beside the connectors that it checks (`npm ci` in crates/connectors/schema).
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../connectors")
        .join(file)
}

/// The schema, parsed once per test binary.
pub fn admin_schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = introspection_path();
        let file = std::fs::File::open(&path).unwrap_or_else(|e| {
            panic!(
                "Shopify's Admin schema is missing ({}: {e}). Run `scripts/setup.sh --for-tests` \
                 (or `cd crates/connectors/schema && npm install --ignore-scripts`).",
                path.display()
            )
        });
        let mut json = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut json)
            .expect("the introspection file is gzip");
        let value: Value = serde_json::from_str(&json).expect("the introspection file is JSON");
        let sdl = sdl_from_introspection(&value["data"]["__schema"]);
        Schema::parse_and_validate(sdl, "shopify-admin.graphql")
            .unwrap_or_else(|e| panic!("the converted schema does not validate: {e}"))
    })
}

/// Validates an executable document against the Admin schema; the error lists every problem.
pub fn validate(source: &str, name: &str) -> Result<Valid<ExecutableDocument>, String> {
    ExecutableDocument::parse_and_validate(admin_schema(), source, name)
        .map_err(|e| e.errors.to_string())
}

/// Checks a request's variables against the operation's variable definitions, as Shopify
/// does before running it: every required variable given, every value of its type, input
/// objects with only their own fields (all required ones present) and enums with their values.
pub fn check_variables(
    document: &Valid<ExecutableDocument>,
    operation: Option<&str>,
    variables: &Value,
) -> Result<(), String> {
    let operation = document
        .operations
        .get(operation)
        .map_err(|e| e.message().to_string())?;
    let values: apollo_compiler::response::JsonMap = match variables {
        Value::Null => Default::default(),
        other => serde_json::from_value(other.clone())
            .map_err(|e| format!("the variables are not an object: {e}"))?,
    };
    apollo_compiler::request::coerce_variable_values(admin_schema(), operation, &values)
        .map(|_| ())
        .map_err(|e| e.message().to_string())
}

const BUILT_IN_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];
const BUILT_IN_DIRECTIVES: &[&str] = &["skip", "include", "deprecated", "specifiedBy"];

fn type_ref(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().expect("a named type").to_owned(),
    }
}

fn args(out: &mut String, args: &Value) {
    let Some(args) = args.as_array().filter(|a| !a.is_empty()) else {
        return;
    };
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write!(
            out,
            "{}: {}",
            a["name"].as_str().unwrap(),
            type_ref(&a["type"])
        )
        .unwrap();
        if let Some(default) = a["defaultValue"].as_str() {
            write!(out, " = {default}").unwrap();
        }
    }
    out.push(')');
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

/// SDL for an introspection result (`__schema`).
pub fn sdl_from_introspection(schema: &Value) -> String {
    let mut out = String::with_capacity(4 << 20);
    write!(
        out,
        "schema {{ query: {}",
        schema["queryType"]["name"].as_str().unwrap()
    )
    .unwrap();
    if let Some(m) = schema["mutationType"]["name"].as_str() {
        write!(out, " mutation: {m}").unwrap();
    }
    if let Some(s) = schema["subscriptionType"]["name"].as_str() {
        write!(out, " subscription: {s}").unwrap();
    }
    out.push_str(" }\n");
    for d in schema["directives"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        if BUILT_IN_DIRECTIVES.contains(&name) {
            continue;
        }
        write!(out, "directive @{name}").unwrap();
        args(&mut out, &d["args"]);
        if d["isRepeatable"].as_bool() == Some(true) {
            out.push_str(" repeatable");
        }
        let locations: Vec<&str> = d["locations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        writeln!(out, " on {}", locations.join(" | ")).unwrap();
    }
    for t in schema["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") {
            continue;
        }
        match t["kind"].as_str().unwrap() {
            "SCALAR" => {
                if !BUILT_IN_SCALARS.contains(&name) {
                    writeln!(out, "scalar {name}").unwrap();
                }
            }
            kind @ ("OBJECT" | "INTERFACE") => {
                let keyword = if kind == "OBJECT" {
                    "type"
                } else {
                    "interface"
                };
                write!(out, "{keyword} {name}").unwrap();
                let interfaces = names(&t["interfaces"]);
                if !interfaces.is_empty() {
                    write!(out, " implements {}", interfaces.join(" & ")).unwrap();
                }
                out.push_str(" {\n");
                for f in t["fields"].as_array().unwrap() {
                    write!(out, "  {}", f["name"].as_str().unwrap()).unwrap();
                    args(&mut out, &f["args"]);
                    writeln!(out, ": {}", type_ref(&f["type"])).unwrap();
                }
                out.push_str("}\n");
            }
            "UNION" => {
                writeln!(
                    out,
                    "union {name} = {}",
                    names(&t["possibleTypes"]).join(" | ")
                )
                .unwrap();
            }
            "ENUM" => {
                writeln!(
                    out,
                    "enum {name} {{ {} }}",
                    names(&t["enumValues"]).join(" ")
                )
                .unwrap();
            }
            "INPUT_OBJECT" => {
                let one_of = if t["isOneOf"].as_bool() == Some(true) {
                    " @oneOf"
                } else {
                    ""
                };
                writeln!(out, "input {name}{one_of} {{").unwrap();
                for f in t["inputFields"].as_array().unwrap() {
                    write!(
                        out,
                        "  {}: {}",
                        f["name"].as_str().unwrap(),
                        type_ref(&f["type"])
                    )
                    .unwrap();
                    if let Some(default) = f["defaultValue"].as_str() {
                        write!(out, " = {default}").unwrap();
                    }
                    out.push('\n');
                }
                out.push_str("}\n");
            }
            other => panic!("unknown type kind {other} of {name}"),
        }
    }
    out
}
