//! `crmsync init`: a complete, commented mapping file written from the
//! accounts' metadata, so a new user starts from a file that works on the
//! first `diff` instead of looking names up in two web UIs.
//!
//! This file owns the command's I/O (`run`): it reads the user's file
//! (holding only `[systems.*]`), reads each account's field catalog and
//! owners (reads only: init writes to no CRM), checks that what it made
//! loads, then prints it or writes it over the file (the old one kept as
//! `.bak`). Everything between is pure, metadata in and TOML text out
//! (`mapping_file`), and makes no request and touches no file:
//! `pairs.rs` drafts which objects pair and which fields go together,
//! `values.rs` chooses the value maps (owners, options by label, pipeline
//! and stage tables, links), `render.rs` lays the file out, `text.rs`
//! quotes names. Everything left out is named in a comment so the user can
//! add it. With more than two systems the first one in the file is the
//! hub: each other system gets its pairs with it.
//!
//! Its reads spend Pipedrive's daily token budget, which runs count in the
//! state directory: init holds the run lock while it reads, so a sync
//! running meanwhile (cron) never loses its count or init's; a held lock
//! skips init like any run (exit 8).

mod pairs;
mod render;
mod text;
mod values;

use pairs::objects_to_read;
use values::needs_owners;

use crate::config::{Config, ConfigError, Direction, SchemaPolicy, SystemKind};
use crate::connector::{self, FieldDescription};
use crate::exit::Outcome;
use crate::files;
use crate::model::{ObjectKind, Owner};
use crate::state::RunLock;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One account's metadata as `init` read it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The system's name in the mapping file.
    pub system: String,
    pub kind: SystemKind,
    /// Every field of each object read (see `objects_to_read`).
    pub objects: Vec<(ObjectKind, Vec<FieldDescription>)>,
    pub owners: Vec<Owner>,
}

impl Account {
    fn fields(&self, object: ObjectKind) -> &[FieldDescription] {
        self.objects
            .iter()
            .find(|(o, _)| *o == object)
            .map_or(&[], |(_, fields)| fields.as_slice())
    }
}

/// The systems of a mapping file in the order their tables appear, so "the
/// first system" means what the user sees; names not found (a dotted-key
/// definition) follow in name order.
fn systems_in_file_order(text: &str, names: &[String]) -> Vec<String> {
    let position = |name: &str| {
        let headers = [format!("[systems.{name}]"), format!("[systems.\"{name}\"]")];
        text.lines()
            .position(|line| headers.iter().any(|h| line.trim_start().starts_with(h)))
            .unwrap_or(usize::MAX)
    };
    let mut ordered = names.to_vec();
    ordered.sort_by_key(|name| (position(name), name.clone()));
    ordered
}

/// The mapping file: `systems_text` (the user's file holding the systems,
/// kept as written) followed by the generated pairs. `accounts[0]` is the
/// hub; every other account is paired with it.
/// With `schema` = create, every custom field of a side read from that the
/// side written lacks is mapped, for the first sync to create
/// (`schema = "create"` on those pairs).
pub fn mapping_file(
    systems_text: &str,
    accounts: &[Account],
    direction: Direction,
    schema: SchemaPolicy,
) -> String {
    let names: Vec<&str> = accounts.iter().map(|a| a.system.as_str()).collect();
    let drafts = pairs::draft(accounts, direction, schema);
    render::mapping_file(systems_text, &names, &drafts, direction)
}

/// `init`: reads the systems of the file at `path`, each account's field
/// metadata and owners (reads only), and prints the complete mapping file
/// (every pair going `direction`), or with `write` replaces the file with
/// it (the old one kept as `.bak`).
pub fn run(
    path: &Path,
    write: bool,
    direction: Direction,
    schema: SchemaPolicy,
) -> Result<Outcome> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "{}: cannot read the mapping file: {e}; create it with one [systems.NAME] table per account (README, Quick start)",
            path.display()
        ))
    })?;
    let config = Config::systems_from_str(&text, path)?;
    if !config.pairs.is_empty() {
        return Err(ConfigError(format!(
            "{}: already holds [[pairs]]; init writes the pairs itself: start from a file holding only [systems.*] (and state_dir)",
            path.display()
        ))
        .into());
    }
    let names: Vec<String> = config.systems.keys().cloned().collect();
    if names.len() < 2 {
        return Err(ConfigError(format!(
            "{}: init pairs accounts and needs at least two [systems.*] tables; found {}",
            path.display(),
            names.len()
        ))
        .into());
    }
    let order = systems_in_file_order(&text, &names);
    // Every token is checked before the first request.
    let systems: Vec<_> = order.iter().map(|name| config.system(name)).collect();
    // The reads' token spend goes into the same file as a sync's. Taken
    // before the connectors, so it is let go after they settle the spend
    // (locals drop in reverse order).
    let lock = RunLock::acquire(&config.state_dir)?;
    if let Some(holder) = &lock.taken_over {
        log::warn!(
            "the previous run ({holder}) ended without letting go of the lock (killed, or the machine stopped); the next sync recovers its work from the journal"
        );
    }
    let connectors = connector::connect(&systems)?;
    let mut accounts = Vec::new();
    for (name, connector) in order.iter().zip(&connectors) {
        let kind = config.system(name).kind;
        let objects = objects_to_read(kind)
            .into_iter()
            .map(|object| {
                let fields = connector
                    .catalog(object)
                    .with_context(|| format!("reading the fields of {name}.{object}"))?;
                Ok((object, fields))
            })
            .collect::<Result<Vec<_>>>()?;
        let owners = if needs_owners(&objects) {
            connector
                .owners()
                .with_context(|| format!("reading the owners of {name}"))?
        } else {
            Vec::new()
        };
        accounts.push(Account {
            system: name.clone(),
            kind,
            objects,
            owners,
        });
    }
    let file = mapping_file(&text, &accounts, direction, schema);
    // What init writes must load as it stands; if not, that is a bug here,
    // not a mistake of the user's (so not exit 2).
    if let Err(e) = Config::from_str(&file, path) {
        anyhow::bail!("the mapping file init made does not load ({e}); please report this");
    }
    if !write {
        print!("{file}");
        return Ok(Outcome::Done);
    }
    let mut backup = path.as_os_str().to_owned();
    backup.push(".bak");
    let backup = PathBuf::from(backup);
    files::write_atomic(&backup, text.as_bytes())?;
    files::write_atomic(path, file.as_bytes())?;
    log::info!(
        "wrote {} (the old file is kept as {}); review it, then run `crmsync diff`",
        path.display(),
        backup.display()
    );
    Ok(Outcome::Done)
}

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::fixtures::account;
    use super::*;

    #[test]
    fn three_systems_pair_each_with_the_first_and_the_file_loads() {
        let systems = "[systems.hub]\nkind = \"hubspot\"\ntoken_env = \"H\"\n\
            [systems.pd]\nkind = \"pipedrive\"\ntoken_env = \"P\"\nbase_url = \"https://x.pipedrive.com\"\n\
            [systems.eu]\nkind = \"hubspot\"\ntoken_env = \"E\"\n";
        let accounts = [
            account("hub", SystemKind::Hubspot),
            account("pd", SystemKind::Pipedrive),
            account("eu", SystemKind::Hubspot),
        ];
        let text = mapping_file(systems, &accounts, Direction::Both, SchemaPolicy::Existing);
        let config = Config::from_str(&text, Path::new("sync.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<(&str, String, String)> = config
            .pairs
            .iter()
            .map(|p| (p.name.as_str(), p.left.to_string(), p.right.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("contacts-pd", "hub.contacts".into(), "pd.persons".into()),
                ("deals-pd", "hub.deals".into(), "pd.deals".into()),
                ("contacts-eu", "hub.contacts".into(), "eu.contacts".into()),
                ("deals-eu", "hub.deals".into(), "eu.deals".into()),
            ]
        );
        let deals_pd = &config.pairs[1];
        assert_eq!(
            deals_pd.values["contact"],
            crate::config::ValueMap::Link("contacts-pd".into())
        );
        assert_eq!(config.pairs[0].match_field.as_deref(), Some("email"));
        assert!(text.contains("`hub` (the first system in this file) is the hub"));
        // A number and free text do not convert: left out, and said so.
        assert!(
            !deals_pd.fields.iter().any(|f| f.left == "amount"),
            "{text}"
        );
        assert!(
            text.contains("number and text values cannot convert"),
            "{text}"
        );
        // Read-only fields are listed, not mapped.
        assert!(text.contains("read-only (a one-way pair can read them): createdate"));
    }

    #[test]
    fn systems_keep_the_order_of_the_file() {
        let text = "[systems.zeta]\nkind = \"hubspot\"\n[systems.alpha]\n";
        assert_eq!(
            systems_in_file_order(text, &["alpha".into(), "zeta".into()]),
            ["zeta", "alpha"]
        );
    }
}
