//! Embeds every JSON file under `scim-schemas/` so that adding a schema file needs no code change,
//! and rebuilds when `migrations/` changes (`embed_migrations!` cannot tell cargo to watch it).
// A build script fails the build by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use std::{env, fs, path::Path};

fn collect(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path.display().to_string());
        }
    }
}

fn main() {
    let root =
        Path::new(&env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("scim-schemas");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=migrations");
    let mut files = Vec::new();
    collect(&root, &mut files);
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let body: String = files
        .iter()
        .map(|f| format!("    ({f:?}, include_str!({f:?})),\n"))
        .collect();
    let code = format!("/// Every file of `scim-schemas/`, as (path, contents).\npub static EMBEDDED_SCHEMA_FILES: &[(&str, &str)] = &[\n{body}];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("out dir")).join("schemas.rs");
    fs::write(out, code).expect("write schemas.rs");
}
