//! The offline benchmark's baseline: read the same JSON files `diagnose --from` reads and
//! parse them into `serde_json::Value`, files in parallel, and nothing else.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cli::{EXIT_CLEAN, EXIT_ERROR};

pub fn run(paths: &[PathBuf]) -> u8 {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    let results: Vec<Result<usize, String>> = files
        .par_iter()
        .map(|f| {
            let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", f.display()))?;
            Ok(v.get("items")
                .and_then(|i| i.as_array())
                .map_or(1, Vec::len))
        })
        .collect();
    let mut objects = 0;
    for r in results {
        match r {
            Ok(n) => objects += n,
            Err(e) => {
                eprintln!("kaptain: error: {e}");
                return EXIT_ERROR;
            }
        }
    }
    println!("{objects} objects in {} files", files.len());
    EXIT_CLEAN
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                collect(&e.path(), out);
            }
        }
    } else if p.extension().is_some_and(|e| e == "json") && !p.ends_with("kaptain-snapshot.json") {
        out.push(p.to_path_buf());
    }
}
