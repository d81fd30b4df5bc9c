//! Helpers shared by the benchmark examples (included with `#[path]`, not an example itself).
#![allow(dead_code, clippy::unwrap_used)]

/// The value after `--name` on the command line.
pub(crate) fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The median of some timings.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Whether `--name` is on the command line.
pub(crate) fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The `hope` binary built beside this example (`target/<profile>/hope`), if it is there.
pub(crate) fn hope_exe() -> Option<std::path::PathBuf> {
    std::env::current_exe()
        .ok()?
        .parent()?
        .parent()
        .map(|dir| dir.join("hope"))
        .filter(|p| p.is_file())
}
