//! Prints mu/rho and mu_en/rho of a built-in material over an energy range, as hope-mc computes
//! them (for comparison with NIST tables).
//!
//! ```sh
//! cargo run --release -p hope-mc --example coefficients -- water
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "water".into());
    let m = hope_mc::Material::builtin(&name).unwrap();
    println!("{name} (density {} g/cm3)", m.density());
    println!("{:>10} {:>12} {:>12}", "E (keV)", "mu/rho", "mu_en/rho");
    for e in [
        10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0,
        600.0, 800.0, 1000.0, 1250.0, 1500.0, 2000.0,
    ] {
        println!(
            "{e:>10} {:>12.5} {:>12.5}",
            m.mu_rho(e * 1e3),
            m.mu_en_rho(e * 1e3)
        );
    }
}
