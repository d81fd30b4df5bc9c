//! `hope catalog ...`: the metadata catalog from the command line.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hope::catalog::acl::Subject;
use hope::catalog::dicom::{INSTANCE_ATTRIBUTES, entry_from_dicom, instance_schema};
use hope::catalog::remote::client::ClientSettings;
use hope::catalog::remote::federation::{Sites, Status, federate};
use hope::catalog::remote::server::{CatalogServer, ServerSettings};
use hope::catalog::{
    AttrType, Attribute, Catalog, Entry, Permission, Principal, QueryResult, Value,
};

use super::text::{shown, terminal_safe};

/// Where the catalog is and who is asking.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// SQLite catalog file (the embedded default).
    #[arg(
        long,
        env = "HOPE_CATALOG",
        default_value = "hope-catalog.db",
        global = true
    )]
    db: PathBuf,
    /// PostgreSQL URL instead of the SQLite file (postgresql://user@host:port/db).
    #[arg(long, env = "HOPE_CATALOG_POSTGRES", global = true)]
    postgres: Option<String>,
    /// The user acting; required, there is no default. Whoever can open the catalog file can act
    /// as anyone: its ACLs guard against mistakes, the file's permissions against people.
    #[arg(long = "as", env = "HOPE_USER", global = true)]
    user: Option<String>,
    /// A group of that user (repeatable).
    #[arg(long = "group", global = true)]
    groups: Vec<String>,
    /// A catalog service's client configuration (TOML: server, ca, cert, key): the commands run
    /// on the service, as the identity of the certificate (no --as).
    #[arg(
        long,
        value_name = "CLIENT_TOML",
        env = "HOPE_CATALOG_CLIENT",
        global = true
    )]
    client: Option<PathBuf>,
    /// The catalog service's address (host:port), instead of the client configuration's.
    #[arg(long, value_name = "HOST:PORT", global = true, requires = "client")]
    server: Option<String>,
}

impl Target {
    fn open(&self) -> anyhow::Result<(Catalog, Principal)> {
        if let Some(client) = &self.client {
            if self.user.is_some() || !self.groups.is_empty() {
                anyhow::bail!(
                    "--as and --group do not apply to a catalog service: it takes who you are \
                     from your certificate ({})",
                    client.display()
                );
            }
            let mut settings = ClientSettings::from_file(client)?;
            if let Some(server) = &self.server {
                settings.server.clone_from(server);
            }
            let cat = Catalog::connect(&settings)?;
            let me = cat
                .identities()
                .into_iter()
                .next()
                .context("the client configuration names no certificate")?;
            return Ok((cat, me));
        }
        let Some(name) = self.user.clone().filter(|u| !u.trim().is_empty()) else {
            anyhow::bail!(
                "say who is acting: --as NAME (or HOPE_USER=NAME); there is no default identity. \
                 Anyone who can open {} can act as anyone: its ACLs guard against mistakes, the \
                 file's permissions against people",
                self.postgres
                    .as_ref()
                    .map_or_else(|| self.db.display().to_string(), |_| "the database".into())
            );
        };
        let cat = match &self.postgres {
            Some(url) => {
                Catalog::open_postgres(url).context("cannot open the PostgreSQL catalog")?
            }
            None => Catalog::open_sqlite(&self.db)
                .with_context(|| format!("cannot open {}", self.db.display()))?,
        };
        Ok((
            cat,
            Principal {
                name,
                groups: self.groups.clone(),
            },
        ))
    }
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum CatalogCommand {
    /// Run a catalog service (mutual TLS; the configuration names listen, cert, key, CA, CRL,
    /// audit log, storage and the site's group mapping).
    Serve {
        /// Service configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Who the catalog service sees you as (name and groups), with --client.
    Whoami,
    /// Copy a collection subtree from a catalog service into this catalog (read-only copy,
    /// only differences written, resumable with --state).
    Replicate {
        /// The source service's client configuration (TOML).
        #[arg(long, value_name = "CLIENT_TOML")]
        source_client: PathBuf,
        /// The subtree at the source.
        #[arg(long)]
        source: String,
        /// Where the copy goes in this catalog.
        target: String,
        /// Where the position is kept between pages, for resuming an interrupted run.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Entries per page.
        #[arg(long, default_value_t = 2_000)]
        page: usize,
    },
    /// Send one query to several hospitals' catalog services at once and merge the answers,
    /// labelled by site, with every site's status (answered, refused, timed out, unreachable).
    Federate {
        /// The sites file (TOML: timeout_ms, and per [[site]] name, client, path, recursive).
        #[arg(long)]
        sites: PathBuf,
        /// The query, e.g. "select Sex, count(*) group by Sex".
        query: String,
        /// Output format of the merged table.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Create the catalog and its root collection `/`, owned by the acting user.
    Init,
    /// Create a collection.
    Mkdir {
        /// Collection path.
        path: String,
        /// Create missing parents too.
        #[arg(short, long)]
        parents: bool,
    },
    /// List the sub-collections of a collection.
    Ls {
        /// Collection path.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Show a collection's schema, or change it.
    Schema {
        /// Collection path.
        path: String,
        #[command(subcommand)]
        change: Option<SchemaChange>,
    },
    /// Add an entry (`NAME ATTR=VALUE ...`), or index a directory of de-identified DICOM files.
    Add {
        /// Collection path.
        path: String,
        /// Entry name.
        name: Option<String>,
        /// Values, as ATTR=VALUE (empty value: null).
        values: Vec<String>,
        /// Index every DICOM file under this directory (entry name: SOP Instance UID); an empty
        /// collection gets the standard instance schema.
        #[arg(long, conflicts_with_all = ["name", "values", "gateway"])]
        dicom: Option<PathBuf>,
        /// Index the series a hospital gateway exposes (pseudonymous; entry name: Series
        /// Instance UID), given its client configuration (TOML).
        #[arg(long, value_name = "CLIENT_TOML", conflicts_with_all = ["name", "values"])]
        gateway: Option<PathBuf>,
    },
    /// Show one entry.
    Get {
        /// Collection path.
        path: String,
        /// Entry name.
        name: String,
    },
    /// Run a query (see the query language in the hope-catalog docs).
    Query {
        /// Collection path.
        path: String,
        /// The query, e.g. "Modality = 'CT' and StudyDate >= 2024-01-01 order by StudyDate".
        query: String,
        /// Include every readable collection below, with compatible schemas.
        #[arg(short, long)]
        recursive: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Change owner, group, mode or inheritance of a collection.
    Chmod {
        /// Collection path.
        path: String,
        /// New owner.
        #[arg(long)]
        owner: Option<String>,
        /// Group of the collection ("" for none).
        #[arg(long = "set-group")]
        group: Option<String>,
        /// What the group may do: read, write, admin or none.
        #[arg(long)]
        group_perm: Option<String>,
        /// What everyone else may do: read, write, admin or none.
        #[arg(long)]
        other: Option<String>,
        /// Whether the parent's grants apply.
        #[arg(long)]
        inherit: Option<bool>,
    },
    /// Grant (or with `none`, remove) an ACL entry: SUBJECT is user:NAME or group:NAME.
    Acl {
        /// Collection path.
        path: String,
        /// user:NAME or group:NAME.
        subject: String,
        /// read, write, admin or none.
        permission: String,
    },
    /// Show the newest audit records (needs admin on /).
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SchemaChange {
    /// Add an attribute.
    Add {
        /// Name.
        name: String,
        /// int, float, text, timestamp, date, bool or uid.
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Entries must have a value (only on an empty collection).
        #[arg(long)]
        required: bool,
        /// Keep an index on it.
        #[arg(long)]
        indexed: bool,
    },
    /// Drop an attribute and its values.
    Drop {
        /// Name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns.
    Table,
    /// One JSON object per row.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Text(s) | Value::Uid(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Float(x) => (*x).into(),
        Value::Bool(b) => (*b).into(),
        other => plain(other).into(),
    }
}

/// The widest cell of a table (characters); longer values are cut, with a marker.
const MAX_CELL: usize = 200;

/// A table cell: terminal-safe, at most [`MAX_CELL`] characters.
fn cell(v: &Value) -> String {
    shown(&plain(v), MAX_CELL)
}

/// A CSV field: control characters other than line breaks and tabs escaped, quoted when it
/// holds a separator, a quote or a line break (CR too), and a leading `=`, `+`, `-`, `@`, tab or
/// CR neutralised with a `'` so that spreadsheets do not run it as a formula.
fn csv_field(s: &str) -> String {
    let mut t = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            t.push_str(&terminal_safe(&c.to_string()));
        } else {
            t.push(c);
        }
    }
    if t.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        t.insert(0, '\'');
    }
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t
    }
}

fn print(r: &QueryResult, format: Format) {
    match format {
        Format::Json => {
            for row in &r.rows {
                let obj: serde_json::Map<String, serde_json::Value> = r
                    .columns
                    .iter()
                    .cloned()
                    .zip(row.iter().map(json))
                    .collect();
                println!("{}", serde_json::Value::Object(obj));
            }
        }
        Format::Csv => {
            println!(
                "{}",
                r.columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for row in &r.rows {
                println!(
                    "{}",
                    row.iter()
                        .map(|v| csv_field(&plain(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = r
                .rows
                .iter()
                .map(|row| row.iter().map(cell).collect())
                .collect();
            let header: Vec<String> = r.columns.iter().map(|c| terminal_safe(c)).collect();
            let widths: Vec<usize> = r
                .columns
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    cells
                        .iter()
                        .map(|row| row[i].chars().count())
                        .chain([header[i].chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |row: Vec<String>| {
                row.iter()
                    .zip(&widths)
                    .map(|(c, w)| {
                        // Padded by hand: format widths stop at 65535.
                        let pad = w.saturating_sub(c.chars().count());
                        format!("{c}{}", " ".repeat(pad))
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            println!("{}", line(header.clone()));
            for row in cells {
                println!("{}", line(row));
            }
            println!(
                "({} row{})",
                r.rows.len(),
                if r.rows.len() == 1 { "" } else { "s" }
            );
        }
    }
}

/// Parses `ATTR=VALUE` according to the attribute's type.
fn parse_value(raw: &str, ty: AttrType) -> anyhow::Result<Value> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        AttrType::Int => Value::Int(
            raw.parse()
                .with_context(|| format!("`{raw}` is not an integer"))?,
        ),
        AttrType::Float => Value::Float(
            raw.parse()
                .with_context(|| format!("`{raw}` is not a number"))?,
        ),
        AttrType::Bool => Value::Bool(
            raw.parse()
                .with_context(|| format!("`{raw}` is not true or false"))?,
        ),
        AttrType::Date => Value::date(raw)?,
        AttrType::Timestamp => Value::timestamp(raw)?,
        AttrType::Uid => Value::uid(raw)?,
        AttrType::Text => Value::Text(raw.to_string()),
    })
}

/// The standard instance attributes of a DICOM file, as strings (pixel data is not read).
fn dicom_attributes(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let obj = hope::dicom::read_header(path)?;
    let mut out = BTreeMap::new();
    for key in INSTANCE_ATTRIBUTES
        .iter()
        .map(|(k, _, _)| *k)
        .chain(["SOPInstanceUID"])
    {
        if let Ok(Some(e)) = obj.element_by_name_opt(key)
            && let Ok(s) = e.to_str()
        {
            out.insert(key.to_string(), s.into_owned());
        }
    }
    Ok(out)
}

fn perm(s: &str) -> anyhow::Result<Option<Permission>> {
    Ok(Permission::parse(s)?)
}

pub(crate) fn run(target: &Target, cmd: CatalogCommand) -> anyhow::Result<()> {
    if let CatalogCommand::Serve { config } = &cmd {
        let settings = ServerSettings::from_file(config)?;
        let server = CatalogServer::bind(&settings)?;
        eprintln!(
            "hope catalog: serving on {} (configured {})",
            server.local_addr()?,
            settings.listen
        );
        server.serve();
        return Ok(());
    }
    if let CatalogCommand::Federate {
        sites,
        query,
        format,
    } = &cmd
    {
        let sites = Sites::from_file(sites)?;
        let f = federate(&sites, query);
        let answered = f
            .sites
            .iter()
            .filter(|s| s.status == Status::Answered)
            .count();
        for s in &f.sites {
            let why = match &s.status {
                Status::Refused(m) | Status::Unreachable(m) | Status::Failed(m) => m.as_str(),
                _ => "",
            };
            eprintln!(
                "{}\t{}\t{}",
                terminal_safe(&s.site),
                s.status.label(),
                terminal_safe(why)
            );
        }
        print(&f.merged, *format);
        if answered == 0 {
            anyhow::bail!("no site answered");
        }
        if answered < f.sites.len() {
            eprintln!(
                "warning: {answered} of {} sites answered: the merged table is incomplete",
                f.sites.len()
            );
        }
        return Ok(());
    }
    let (cat, me) = target.open()?;
    match cmd {
        CatalogCommand::Serve { .. } | CatalogCommand::Federate { .. } => {
            unreachable!("handled above")
        }
        CatalogCommand::Replicate {
            source_client,
            source,
            target,
            state,
            page,
        } => {
            let src = Catalog::connect(&ClientSettings::from_file(&source_client)?)?;
            let src_who = src
                .identities()
                .into_iter()
                .next()
                .context("the source's client configuration names no certificate")?;
            let options = hope::catalog::replication::Options { page, state };
            let from = hope::catalog::replication::Side {
                catalog: &src,
                who: &src_who,
                path: &source,
            };
            let to = hope::catalog::replication::Side {
                catalog: &cat,
                who: &me,
                path: &target,
            };
            let r = hope::catalog::replication::replicate(from, to, &options, &mut |_| Ok(()))?;
            println!(
                "{} collection(s) compared{}: {} created, {} removed; {} attribute change(s); \
                 entries {} added, {} updated, {} removed",
                r.collections,
                if r.resumed { " (resumed)" } else { "" },
                r.created,
                r.removed_collections,
                r.schema_changes,
                r.added,
                r.updated,
                r.removed
            );
        }
        CatalogCommand::Whoami => {
            let w = cat.whoami(&me)?;
            println!(
                "{} ({}) at {}",
                terminal_safe(&w.name),
                terminal_safe(&w.groups.join(", ")),
                cat.server().unwrap_or("-")
            );
        }
        CatalogCommand::Init => match cat.init(&me)? {
            hope::catalog::Initialised::Created => println!(
                "catalog ready ({}), / owned by {}",
                cat.backend_kind(),
                terminal_safe(&me.name)
            ),
            hope::catalog::Initialised::Existing { owner } => println!(
                "catalog already initialised ({}), / owned by {}: nothing changed",
                cat.backend_kind(),
                terminal_safe(&owner)
            ),
        },
        CatalogCommand::Mkdir { path, parents } => {
            if parents {
                cat.mkdir_all(&me, &path)?
            } else {
                cat.mkdir(&me, &path)?
            }
        }
        CatalogCommand::Ls { path } => {
            for c in cat.list(&me, &path)? {
                println!("{c}");
            }
        }
        CatalogCommand::Schema { path, change: None } => {
            for a in cat.schema(&me, &path)?.attributes {
                let flags = [
                    (!a.nullable).then_some("required"),
                    a.indexed.then_some("indexed"),
                ];
                let flags: Vec<&str> = flags.into_iter().flatten().collect();
                println!("{}\t{}\t{}", a.name, a.ty, flags.join(","));
            }
        }
        CatalogCommand::Schema {
            path,
            change:
                Some(SchemaChange::Add {
                    name,
                    ty,
                    required,
                    indexed,
                }),
        } => {
            let a = Attribute {
                name,
                ty: AttrType::parse(&ty)?,
                nullable: !required,
                indexed,
            };
            cat.add_attribute(&me, &path, a)?;
        }
        CatalogCommand::Schema {
            path,
            change: Some(SchemaChange::Drop { name }),
        } => cat.drop_attribute(&me, &path, &name)?,
        CatalogCommand::Add {
            path,
            dicom: Some(dir),
            ..
        } => ingest(&cat, &me, &path, &dir)?,
        CatalogCommand::Add {
            path,
            gateway: Some(client),
            ..
        } => {
            let settings = hope::gateway::GatewayClientSettings::from_file(&client)?;
            let rows = hope::gateway::GatewayClient::new(&settings)?.series()?;
            let n = hope::gateway::register_in_catalog(&cat, &me, &path, &rows, &settings.address)?;
            println!(
                "indexed {n} series from the gateway at {} into {path}",
                settings.address
            );
        }
        CatalogCommand::Add {
            path,
            name,
            values,
            dicom: None,
            gateway: None,
        } => {
            let name = name.context("an entry name (or --dicom DIR) is needed")?;
            let schema = cat.schema(&me, &path)?;
            let mut e = Entry::new(name);
            for kv in &values {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("`{kv}`: expected ATTR=VALUE"))?;
                let a = schema
                    .get(k)
                    .with_context(|| format!("{path} has no attribute `{k}`"))?;
                e = e.with(
                    k,
                    parse_value(v, a.ty).with_context(|| format!("attribute {k}"))?,
                );
            }
            cat.add(&me, &path, e)?;
        }
        CatalogCommand::Get { path, name } => {
            let e = cat.get(&me, &path, &name)?;
            println!("name\t{}", terminal_safe(&e.name));
            for (k, v) in &e.values {
                println!("{k}\t{}", terminal_safe(&plain(v)));
            }
        }
        CatalogCommand::Query {
            path,
            query,
            recursive,
            format,
        } => {
            let r = if recursive {
                cat.query_recursive(&me, &path, &query)?
            } else {
                cat.query(&me, &path, &query)?
            };
            print(&r, format);
        }
        CatalogCommand::Chmod {
            path,
            owner,
            group,
            group_perm,
            other,
            inherit,
        } => {
            let mut p = cat.permissions(&me, &path)?;
            if let Some(o) = owner {
                p.owner = o;
            }
            if let Some(g) = group {
                p.group = (!g.is_empty()).then_some(g);
            }
            if let Some(gp) = group_perm {
                p.group_permission = perm(&gp)?;
            }
            if let Some(o) = other {
                p.other_permission = perm(&o)?;
            }
            if let Some(i) = inherit {
                p.inherit = i;
            }
            cat.set_permissions(&me, &path, p)?;
        }
        CatalogCommand::Acl {
            path,
            subject,
            permission,
        } => {
            let subject = Subject::parse(&subject)
                .map_err(|e| anyhow::anyhow!("invalid ACL subject: {e}"))?;
            cat.grant(&me, &path, subject, perm(&permission)?)?;
        }
        CatalogCommand::Audit { limit } => {
            for r in cat.audit_log(&me, limit)? {
                let t = hope::catalog::Value::Timestamp(r.time_us);
                println!(
                    "{t}\t{}\t{}\t{}\t{}\t{}",
                    terminal_safe(&r.principal),
                    terminal_safe(&r.action),
                    terminal_safe(&r.target),
                    terminal_safe(&r.result),
                    terminal_safe(&r.detail)
                );
            }
        }
    }
    Ok(())
}

fn ingest(cat: &Catalog, me: &Principal, path: &str, dir: &Path) -> anyhow::Result<()> {
    if cat.schema(me, path)?.attributes.is_empty() {
        for a in instance_schema() {
            cat.add_attribute(me, path, a)?;
        }
    }
    let files = super::files::jobs(dir, dir, |n| Some(n.to_string()))?;
    let (mut entries, mut skipped) = (Vec::new(), 0usize);
    let bar = super::files::counter(Some(files.len() as u64), "reading headers", "files");
    for f in &files {
        match dicom_attributes(&f.input)
            .and_then(|a| Ok(entry_from_dicom(&a)?))
            .with_context(|| f.input.display().to_string())
        {
            Ok(e) => entries.push(e),
            Err(e) => {
                skipped += 1;
                bar.suspend(|| eprintln!("skipped: {}", terminal_safe(&format!("{e:#}"))));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let bar = super::files::counter(None, &format!("indexing {} entries", entries.len()), "");
    let n = cat.add_many(me, path, entries);
    bar.finish_and_clear();
    let n = n?;
    println!("indexed {n} instance(s) into {path}, skipped {skipped}");
    Ok(())
}
