//! Fixtures shared by the tests, examples and benchmarks of the HOPE-rs packages, so that no test
//! file carries its own copy: the test PACS that `scripts/test` starts ([`orthanc`]), the
//! command line of benchmark and workflow examples ([`args`]), throwaway SoftHSM2 tokens
//! ([`pkcs11`]) and the simulation files of grid
//! tests ([`simulation`]). A dev-dependency only; it depends on
//! no HOPE-rs crate, so every package can use it without a dependency cycle.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

pub mod args;
pub mod orthanc;
pub mod pkcs11;
pub mod simulation;

/// Returns early with an error (a `Box<dyn Error>`) when a condition of an example does not hold:
/// the examples check what they compute without an error-handling dependency.
#[macro_export]
macro_rules! ensure {
    ($cond:expr $(,)?) => {
        if !$cond {
            return Err(concat!("check failed: ", stringify!($cond)).into());
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// What the examples' `main` returns.
pub type ExampleResult = Result<(), Box<dyn std::error::Error>>;

/// A TOML-like text from (key, value) pairs, for property tests of configuration parsers: a key
/// that starts with `[` is a table header on its own line, any other is `key = value`.
pub fn toml_lines<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| {
            if k.starts_with('[') {
                format!("{k}\n")
            } else {
                format!("{k} = {v}\n")
            }
        })
        .collect()
}
