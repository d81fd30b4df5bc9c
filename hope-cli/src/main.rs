//! The `hope` command line of HOPE-rs (see the package README and `hope --help`).

mod cli;

/// mimalloc keeps freed memory for reuse where glibc's per-thread arenas give it back to the
/// kernel after every large free: with glibc, page faults took two thirds of `hope deid`'s time on
/// 512 KiB CT slices (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hope::core::metaimage;
use hope::crypto::acl::{Grant, Right};

/// HOPE-rs: hospital e-health and medical-physics tools.
#[derive(Debug, Parser)]
#[command(name = "hope", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More operational log on stderr: -v for information (the default of the servers), -vv for
    /// debugging, -vvv for everything. RUST_LOG, when set, overrides (e.g. RUST_LOG=hope=debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Errors only in the operational log (audit logs are not affected).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

impl Cli {
    /// Operational logging through `tracing` on stderr: the level from -q/-v, warnings by default
    /// (information for the long-running servers), or RUST_LOG when it is set.
    fn init_logging(&self) {
        use std::io::IsTerminal;
        let server = matches!(
            self.command,
            Command::Keyserver { .. }
                | Command::Gateway(cli::gateway::GatewayCommand::Serve { .. })
                | Command::Catalog {
                    command: cli::catalog::CatalogCommand::Serve { .. },
                    ..
                }
        );
        let level = match (self.quiet, self.verbose, server) {
            (true, _, _) => "error",
            (false, 0, false) => "warn",
            (false, 0, true) | (false, 1, _) => "info",
            (false, 2, _) => "debug",
            (false, _, _) => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    }
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Describe a MetaImage file (.mhd or .mha): geometry, element type and data location.
    Info {
        /// The header file.
        file: PathBuf,
    },
    /// Run a key server (mutual TLS; the configuration names cert, key, CA, CRL, storage, audit log).
    Keyserver {
        /// Server configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Encrypt files or a directory; each file gets its own key, split k-of-n over the key servers.
    Encrypt {
        /// Client configuration file (TOML): threshold, certificate, CA, key servers.
        #[arg(long)]
        keys: PathBuf,
        /// Grant the right to decrypt: user:NAME or group:NAME (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Object id the file is bound to (single file only; default: its path relative to INPUT).
        #[arg(long)]
        object_id: Option<String>,
        /// Plaintext bytes per authenticated segment.
        #[arg(long, default_value_t = hope::crypto::container::DEFAULT_SEGMENT_SIZE)]
        segment_size: u32,
        /// Input file or directory.
        input: PathBuf,
        /// Output file or directory (files get the suffix .hope).
        output: PathBuf,
    },
    /// Decrypt .hope files or a directory of them, fetching key shares from k servers.
    Decrypt {
        /// Client configuration file (TOML).
        #[arg(long)]
        keys: PathBuf,
        /// Object id the file was bound to (single file only; default: its relative path).
        #[arg(long)]
        object_id: Option<String>,
        /// Input file or directory.
        input: PathBuf,
        /// Output file or directory.
        output: PathBuf,
    },
    /// Manage keys on the key servers: grants, revocation, re-sharing, audit verification.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The metadata catalog: collections, schemas, entries, queries, permissions, audit.
    Catalog {
        #[command(flatten)]
        target: cli::catalog::Target,
        #[command(subcommand)]
        command: cli::catalog::CatalogCommand,
    },
    /// DICOM image series: inspect them, convert them to MetaImage.
    #[command(subcommand)]
    Series(cli::series::SeriesCommand),
    /// Run a Monte Carlo dose simulation described in a file, locally.
    Simulate(cli::simulate::SimulateArgs),
    /// SPECT: simulate acquisitions (phantom, activity, camera, orbit) and reconstruct them.
    #[command(subcommand)]
    Spect(cli::spect::SpectCommand),
    /// Run a simulation split into tasks (threads, processes) with exact merging; resumable.
    Run(cli::grid::RunArgs),
    /// Run one task of a split run (started by the process and Slurm executors).
    Worker(cli::grid::WorkerArgs),
    /// Plan a split run: jobs, timeout and expected makespans on a modelled cluster.
    Plan(cli::grid::PlanArgs),
    /// List split runs (id, author, times, status, progress), or show one in detail.
    Jobs(cli::grid::JobsArgs),
    /// Merge the stored results of a split run and write its outputs.
    Merge(cli::grid::MergeArgs),
    /// De-identify DICOM files (PS3.15 Annex E, keyed pseudonyms).
    #[command(subcommand)]
    Deid(cli::deid::DeidCommand),
    /// Certificates for trying HOPE-rs out.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// PACS access: C-ECHO, C-FIND, C-GET/C-MOVE, C-STORE, or QIDO-RS, WADO-RS, STOW-RS.
    #[command(subcommand)]
    Pacs(cli::gateway::PacsCommand),
    /// The hospital gateway: serve it, or (as a job) list and fetch what it exposes.
    #[command(subcommand)]
    Gateway(cli::gateway::GatewayCommand),
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Allow a user or group to fetch a key's shares (on every server).
    Grant {
        /// Client configuration file.
        #[arg(long)]
        keys: PathBuf,
        /// Also allow managing the key.
        #[arg(long)]
        admin: bool,
        /// Key id, or an encrypted file.
        key: String,
        /// user:NAME or group:NAME.
        subject: String,
    },
    /// Remove a user's or group's grant (on every server).
    Revoke {
        /// Client configuration file.
        #[arg(long)]
        keys: PathBuf,
        /// Key id, or an encrypted file.
        key: String,
        /// user:NAME or group:NAME.
        subject: String,
    },
    /// Show a key's owner and grants.
    Show {
        /// Client configuration file.
        #[arg(long)]
        keys: PathBuf,
        /// Key id, or an encrypted file.
        key: String,
    },
    /// Register fresh shares of an encrypted file's key on every configured server (re-sharing,
    /// e.g. after a key server was replaced); needs k current shares.
    Register {
        /// Client configuration file.
        #[arg(long)]
        keys: PathBuf,
        /// The encrypted file.
        file: String,
    },
    /// Delete a key's shares everywhere (crypto-shredding of the files encrypted with it).
    Delete {
        /// Client configuration file.
        #[arg(long)]
        keys: PathBuf,
        /// Key id, or an encrypted file.
        key: String,
    },
    /// Verify a key server's, the gateway's or a catalog service's audit log chain.
    VerifyAudit {
        /// The audit log's MAC key file (default: the log's path with `.key`).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The audit log (JSON lines).
        log: PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
enum PkiCommand {
    /// Write a demonstration CA, key-server configurations and user certificates into DIR.
    Init {
        /// Output directory.
        dir: PathBuf,
        /// Number of key servers (n).
        #[arg(long, default_value_t = 3)]
        servers: u8,
        /// Shares needed (k).
        #[arg(long, default_value_t = 2)]
        threshold: u8,
        /// Port of the first server; the others follow.
        #[arg(long, default_value_t = 7443)]
        base_port: u16,
        /// A user, as NAME or NAME:GROUP (repeatable).
        #[arg(long = "user", default_value = "alice")]
        users: Vec<String>,
        /// Also a hospital gateway on this loopback port: its certificate
        /// (`gateway-server.pem`), a project key (`project.key`), a ready server configuration
        /// (`gateway-server.toml`, for `hope gateway serve --config`; it needs a user named
        /// `gateway`, whose key-server configuration it uses, and lets the groups of the other
        /// users read) and each user's gateway client configuration (`USER-gateway.toml`).
        #[arg(long)]
        gateway_port: Option<u16>,
        /// A user whose key is generated on a smart card or token (non-extractable), as NAME or
        /// NAME:GROUP (repeatable): the certificate is issued by the demonstration CA, stored on
        /// the token beside the key and written to NAME.pem; NAME.toml names the key by its
        /// `pkcs11:` URI. Needs --token and --pkcs11-module.
        #[arg(long = "token-user", requires_all = ["token", "pkcs11_module"])]
        token_users: Vec<String>,
        /// The token of the --token-user keys, as a `pkcs11:` URI (e.g.
        /// `pkcs11:token=HOPE%20demo`).
        #[arg(long, requires = "token_users")]
        token: Option<String>,
        /// The token's PKCS#11 module (OpenSC: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so;
        /// SoftHSM2: /usr/lib/softhsm/libsofthsm2.so; or the card vendor's).
        #[arg(long, requires = "token_users")]
        pkcs11_module: Option<PathBuf>,
        /// A file holding the token's user PIN (without it the PIN is asked on the terminal);
        /// written into the token users' configurations as `pin_file`.
        #[arg(long, requires = "token_users")]
        pin_file: Option<PathBuf>,
        /// The algorithm of the keys generated on the token: ec-p256, ec-p384, rsa-2048,
        /// rsa-3072 or rsa-4096.
        #[arg(long, default_value = "ec-p256", requires = "token_users")]
        key_type: String,
        /// The PACS the gateway reads (DIMSE address), for `gateway-server.toml`.
        #[arg(long, default_value = "127.0.0.1:4242", requires = "gateway_port")]
        pacs: String,
        /// The PACS's AE title, for `gateway-server.toml`.
        #[arg(long, default_value = "ORTHANC", requires = "gateway_port")]
        pacs_aet: String,
        /// The gateway's own AE title towards the PACS (the PACS must know it).
        #[arg(long, default_value = "HOPEGW", requires = "gateway_port")]
        pacs_calling_aet: String,
    },
}

fn grants(specs: &[String]) -> anyhow::Result<Vec<Grant>> {
    specs
        .iter()
        .map(|s| {
            Ok(Grant {
                subject: hope::core::Subject::parse(s)?,
                right: Right::Get,
            })
        })
        .collect()
}

/// Runs the command; an error is printed with its causes, control characters escaped (an error
/// may quote what a server or a file said).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                let text = format!("{e:?}");
                let lines: Vec<String> = text.lines().map(cli::text::terminal_safe).collect();
                eprintln!("Error: {}", lines.join("\n"));
            }
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn run() -> anyhow::Result<()> {
    use cli::crypto;
    let cli = Cli::parse();
    cli.init_logging();
    // A key on a smart card without a PIN file: the PIN is asked on the terminal.
    hope::crypto::token::set_pin_prompt(std::sync::Arc::new(cli::crypto::TerminalPin));
    match cli.command {
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
        Command::Keyserver { config } => crypto::keyserver(&config),
        Command::Encrypt {
            keys,
            grants: g,
            object_id,
            segment_size,
            input,
            output,
        } => crypto::encrypt(
            &keys,
            &input,
            &output,
            &grants(&g)?,
            object_id.as_deref(),
            segment_size,
        ),
        Command::Decrypt {
            keys,
            object_id,
            input,
            output,
        } => crypto::decrypt(&keys, &input, &output, object_id.as_deref()),
        Command::Keys(k) => match k {
            KeysCommand::Grant {
                keys,
                admin,
                key,
                subject,
            } => crypto::grant(&keys, &key, &subject, admin),
            KeysCommand::Revoke { keys, key, subject } => crypto::revoke(&keys, &key, &subject),
            KeysCommand::Show { keys, key } => crypto::show(&keys, &key),
            KeysCommand::Register { keys, file } => crypto::register(&keys, &file),
            KeysCommand::Delete { keys, key } => crypto::delete(&keys, &key),
            KeysCommand::VerifyAudit { log, key } => crypto::verify_audit(&log, key.as_deref()),
        },
        Command::Series(c) => cli::series::run(c),
        Command::Deid(c) => cli::deid::run(c),
        Command::Pacs(c) => cli::gateway::pacs(c),
        Command::Gateway(c) => cli::gateway::gateway(c),
        Command::Simulate(a) => cli::simulate::run(a),
        Command::Spect(c) => cli::spect::run(c),
        Command::Run(a) => cli::grid::run(a),
        Command::Worker(a) => cli::grid::worker(a),
        Command::Plan(a) => cli::grid::plan(a),
        Command::Jobs(a) => cli::grid::jobs(a),
        Command::Merge(a) => cli::grid::merge(a),
        Command::Catalog { target, command } => cli::catalog::run(&target, command),
        Command::Pki(PkiCommand::Init {
            dir,
            servers,
            threshold,
            base_port,
            users,
            token_users,
            token,
            pkcs11_module,
            pin_file,
            key_type,
            gateway_port,
            pacs,
            pacs_aet,
            pacs_calling_aet,
        }) => crypto::pki_init(
            &dir,
            crypto::PkiOptions {
                servers,
                threshold,
                base_port,
                users: &users,
                token: match (token, pkcs11_module) {
                    (Some(uri), Some(module)) => Some(crypto::TokenEnrolment {
                        uri: uri
                            .parse()
                            .with_context(|| "--token: expected a pkcs11: URI".to_string())?,
                        module,
                        pin_file,
                        algorithm: key_type
                            .parse()
                            .map_err(|e| anyhow::anyhow!("--key-type {e}"))?,
                        users: &token_users,
                    }),
                    _ => None,
                },
                gateway: gateway_port.map(|port| crypto::GatewayDemo {
                    port,
                    pacs: &pacs,
                    pacs_aet: &pacs_aet,
                    calling_aet: &pacs_calling_aet,
                }),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
