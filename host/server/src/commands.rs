//! Subcommand dispatch for the binary.

use std::path::PathBuf;

use anyhow::{bail, Context};
use dispatcher_store::{NewAccount, NewRegion, Store};

use crate::cli::{Cli, Command, GridCommand, RegionCommand, ScriptCommand, ServeArgs, UserCommand};
use crate::config::{self, HostConfig};
use crate::datalock::{DataLock, LockError};

/// Load the configuration file and apply the global flags.
fn configure(config_file: Option<&PathBuf>, data_dir: Option<&PathBuf>) -> anyhow::Result<HostConfig> {
    let loaded = config::load(config_file.map(|p| p.as_path()))?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut config = loaded.config;
    if let Some(dir) = data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

fn apply_serve_flags(config: &mut HostConfig, args: &ServeArgs) {
    if let Some(p) = args.http_port {
        config.http_port = p;
    }
    if let Some(p) = args.udp_port {
        config.dispatcher.udp_port = p;
    }
    if let Some(h) = &args.host {
        config.listen_host = h.clone();
        config.dispatcher.host_address = h.clone();
    }
}

/// The host's store: the data directory's SQLite, or in grid mode the
/// grid's PostgreSQL (`[Grid] DatabaseUrl`).
fn open_store(config: &HostConfig) -> anyhow::Result<Store> {
    if config.grid.is_grid() {
        return crate::serve::open_grid_store(config);
    }
    Store::open(&config.data_dir).with_context(|| format!("cannot open the data directory {}", config.data_dir.display()))
}

/// Take the data directory's lock for a command that writes the store
/// (standalone mode only: the grid's store is PostgreSQL). A serving host
/// holding it refuses the command before anything is written.
fn lock_for_writing(config: &HostConfig, role: &str) -> anyhow::Result<Option<DataLock>> {
    if config.grid.is_grid() {
        return Ok(None);
    }
    match DataLock::acquire(&config.data_dir, role) {
        Ok(lock) => Ok(Some(lock)),
        Err(LockError::Held { dir, holder }) if holder.is_host() => {
            let advice = if role == "region import" {
                "stop the host first, or send the archive through it: ImportOarRequest (Python client: `Session.import_oar`, see docs/oar.md)"
            } else {
                "stop the host first, then run the command again"
            };
            bail!(
                "`dispatcher {role}` refused: the data directory {} is served by {holder}; nothing was written. {advice}",
                dir.display()
            )
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("`dispatcher {role}` refused; nothing was written"))),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = configure(cli.config.as_ref(), cli.data_dir.as_ref())?;
    match cli.command {
        Command::Serve(args) => {
            apply_serve_flags(&mut config, &args);
            crate::serve::run(config)
        }
        Command::Grid(GridCommand::Status) => grid_status(&config),
        Command::User(cmd) => {
            let _lock = match cmd {
                UserCommand::Create { .. } => lock_for_writing(&config, "user create")?,
                UserCommand::List => None,
            };
            user(&open_store(&config)?, cmd)
        }
        Command::Region(RegionCommand::Import { oar, region, merge }) => {
            let _lock = lock_for_writing(&config, "region import")?;
            crate::oar::import(&open_store(&config)?, &config, &oar, region.as_deref(), merge)
        }
        Command::Region(RegionCommand::Export { oar, region }) => crate::oar::export(&open_store(&config)?, &oar, &region),
        Command::Region(cmd) => {
            let _lock = match cmd {
                RegionCommand::Create { .. } => lock_for_writing(&config, "region create")?,
                _ => None,
            };
            region(&open_store(&config)?, cmd)
        }
        Command::Info(client) => crate::client::info(&client),
        Command::Object { client, command } => crate::client::object(&client, &command),
        Command::Script { client, command } => authoring(&client, &command),
        Command::Extension { client, command } => crate::client::extension(&client, &command),
    }
}

/// The author's loop (`new`, `build`, `dev`); other script commands are
/// plain client requests.
fn authoring(args: &crate::cli::ClientArgs, cmd: &ScriptCommand) -> anyhow::Result<()> {
    use crate::client::Session;
    // A closed pipe (`| head`) is not worth a panic.
    let say = |line: std::path::Display<'_>| {
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    };
    match cmd {
        ScriptCommand::New { name, lang, template, dir } => {
            let project = crate::author::new_project(dir, name, lang, template)?;
            say(project.dir.display());
            eprintln!(
                "next: cd {} && dispatcher script build   (then `dispatcher script dev --object ID`)",
                project.dir.display()
            );
            Ok(())
        }
        ScriptCommand::Build { dir } => {
            let project = crate::author::Project::open(dir)?;
            let path = crate::author::build_verbose(&project, &dispatcher_scripting::ScriptingLimits::default())?;
            say(path.display());
            Ok(())
        }
        ScriptCommand::Dev { dir, object, create } => {
            let target = match (object, create) {
                (Some(o), None) => crate::dev::Target::Object(o),
                (None, Some(n)) => crate::dev::Target::Create(n),
                _ => bail!("give --object ID (an object you own) or --create NAME (a new box)"),
            };
            let session = Session::open(args, &["RemoteControl", "Scripting"])?;
            let result = crate::dev::dev(&session, dir, target);
            session.close();
            result
        }
        _ => crate::client::script(args, cmd),
    }
}

fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            first,
            last,
            password,
            email,
            level,
            uuid,
            no_inventory,
        } => {
            let account = store.create_account(&NewAccount {
                id: uuid,
                first_name: first,
                last_name: last,
                password,
                email,
                level,
            })?;
            if !no_inventory {
                store.create_inventory(&dispatcher_scene::Inventory::standard(account.id, &mut uuid::Uuid::new_v4))?;
            }
            println!("{}", account.id);
        }
        UserCommand::List => {
            for a in store.list_accounts()? {
                println!("{}  {} {}  {}  {}", a.id, a.first_name, a.last_name, a.email, a.level);
            }
        }
    }
    Ok(())
}

fn find_account(store: &Store, name: &str) -> anyhow::Result<uuid::Uuid> {
    match store.account_by_full_name(name)? {
        Some(a) => Ok(a.id),
        None => bail!("no account named {name:?}; create it first with `dispatcher user create`"),
    }
}

fn region(store: &Store, cmd: RegionCommand) -> anyhow::Result<()> {
    match cmd {
        RegionCommand::Create {
            name,
            uuid,
            owner,
            managers,
        } => {
            let owner = match owner {
                Some(n) => find_account(store, &n)?,
                None => match store.list_accounts()?.first() {
                    Some(a) => a.id,
                    None => bail!("no accounts exist; create the estate owner first with `dispatcher user create`"),
                },
            };
            let managers = managers
                .iter()
                .map(|m| find_account(store, m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let region = store.create_region(&NewRegion {
                id: uuid,
                name,
                owner,
                managers,
            })?;
            println!("{}", region.id);
        }
        RegionCommand::Import { .. } | RegionCommand::Export { .. } => bail!("archive commands are handled by crate::oar"),
        RegionCommand::List => {
            for r in store.list_regions()? {
                let owner = store
                    .account_by_id(r.owner)?
                    .map(|a| format!("{} {}", a.first_name, a.last_name))
                    .unwrap_or_else(|| r.owner.to_string());
                println!("{}  {}  {}", r.id, r.name, owner);
            }
        }
    }
    Ok(())
}

/// `dispatcher grid status`: read hosts, leases and capabilities from the grid's database.
fn grid_status(config: &HostConfig) -> anyhow::Result<()> {
    let Some(url) = config.grid.database_url.as_deref() else {
        bail!("[Grid] DatabaseUrl is not set; `grid status` reads the grid's database (pass --config FILE)");
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let status = runtime.block_on(dispatcher_grid::status::status_of(url))?;
    println!("{status}");
    Ok(())
}
