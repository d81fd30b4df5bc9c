//! Fixtures shared by the tests, examples and benchmarks of the HOPE-rs packages, so that no test
//! file carries its own copy: the test PACS that `scripts/test` starts ([`orthanc`]) and the
//! command line of benchmark and workflow examples ([`args`]). A dev-dependency only; it depends on
//! no HOPE-rs crate, so every package can use it without a dependency cycle.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

pub mod args;
pub mod orthanc;

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
