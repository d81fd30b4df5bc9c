//! The `hope` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hope::core::metaimage;

/// HOPE-rs: hospital e-health and medical-physics tools.
///
/// Subcommands arrive with their crates: deid, encrypt, catalog, simulate, plan, run, worker...
#[derive(Debug, Parser)]
#[command(name = "hope", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Describe a MetaImage file (.mhd or .mha): geometry, element type and data location.
    Info {
        /// The header file.
        file: PathBuf,
    },
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Info { file } => {
            let h = metaimage::read_header(&file)
                .with_context(|| format!("cannot describe {}", file.display()))?;
            let g = &h.grid;
            println!("file:        {}", file.display());
            println!("dims:        {:?} ({} voxels)", g.dims(), g.voxel_count());
            println!("spacing:     {} mm", g.spacing());
            println!("origin:      {} mm", g.origin());
            let d = g.direction();
            println!("directions:  {} {} {}", d[0], d[1], d[2]);
            println!(
                "element:     {} ({} bytes)",
                h.element_type.name(),
                h.element_type.size()
            );
            println!(
                "byte order:  {}",
                if h.big_endian {
                    "big-endian"
                } else {
                    "little-endian"
                }
            );
            println!("compressed:  {}", h.compressed);
            match &h.data {
                metaimage::DataLocation::Local { offset } => {
                    println!("data:        in the header file at byte {offset}")
                }
                metaimage::DataLocation::File(p) => println!("data:        {}", p.display()),
            }
            Ok(())
        }
    }
}
