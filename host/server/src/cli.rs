//! The command line of the operator contract (shared/spec/operator-contract.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "dispatcher",
    version,
    about = "Dispatcher: a scripting and remote-control host for virtual-world regions"
)]
pub struct Cli {
    /// OpenSimulator-style INI configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (database, compiled scripts); default ./data.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage regions (scenes).
    #[command(subcommand)]
    Region(RegionCommand),
    /// Ask a running host for its bindings, scenes and messages.
    Info(ClientArgs),
    /// Act on objects of a running host.
    Object {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ObjectCommand,
    },
    /// Upload and manage scripts on a running host.
    Script {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ScriptCommand,
    },
    /// Grid mode (docs/grid.md): read the grid's state from its database.
    #[command(subcommand)]
    Grid(GridCommand),
    /// Install and manage extensions (third-party message domains) on a running host.
    Extension {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ExtensionCommand,
    },
}

/// How the client commands reach and authenticate with a running host.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// The host's synchronous binding.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9000/Dispatcher/", env = "DISPATCHER_URL")]
    pub url: String,
    /// Account, "First Last".
    #[arg(long, global = true, env = "DISPATCHER_USER")]
    pub user: Option<String>,
    /// Password (or set DISPATCHER_PASSWORD).
    #[arg(long, global = true)]
    pub password: Option<String>,
    /// Region (default: the host's first scene).
    #[arg(long, global = true, env = "DISPATCHER_REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ObjectCommand {
    /// List the ids of objects whose name matches PATTERN (a regular expression).
    Find { pattern: String },
    /// Rez a plain 1 m box owned by the caller; prints its object id.
    Create {
        name: String,
        /// Region coordinates X,Y,Z (default 128,128,25).
        #[arg(long, value_name = "X,Y,Z", default_value = "128,128,25")]
        position: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScriptCommand {
    /// Upload a WebAssembly component into an object; prints the script id.
    Upload {
        file: PathBuf,
        #[arg(long)]
        object: String,
        /// A grant such as objects:write or scope:region; repeat for several.
        #[arg(long = "grant")]
        grants: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        start_parameter: String,
        /// Upload without starting it.
        #[arg(long)]
        stopped: bool,
    },
    /// Make a script project: sources from a template, the WIT package, a
    /// README and one build command.
    New {
        name: String,
        /// rust, python or js.
        #[arg(long)]
        lang: String,
        /// touch, chat, timer or storage.
        #[arg(long, default_value = "touch")]
        template: String,
        /// Where the project folder goes.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build the project's component and check it as the host would.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build, upload, then rebuild and hot-swap on every save, streaming the
    /// script's log; Ctrl-C leaves the script running.
    Dev {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// An object you own.
        #[arg(long, conflicts_with = "create")]
        object: Option<String>,
        /// Create a box of this name for the script.
        #[arg(long)]
        create: Option<String>,
    },
    /// Replace a script's component in place (same id, object and storage);
    /// prints the new component's hash, or says it was rolled back.
    Update {
        script: String,
        file: PathBuf,
        /// Replace the grants (default: keep them); repeat for several.
        #[arg(long = "grant")]
        grants: Option<Vec<String>>,
        /// Replace the start parameter (default: keep it).
        #[arg(long)]
        start_parameter: Option<String>,
    },
    /// One line per script (of one object, or of the region).
    List {
        #[arg(long)]
        object: Option<String>,
    },
    /// One script's status.
    Status {
        script: String,
    },
    /// The script's log; --follow keeps reading.
    Logs {
        script: String,
        #[arg(long)]
        follow: bool,
    },
    Start {
        script: String,
    },
    Stop {
        script: String,
    },
    Reset {
        script: String,
    },
    /// Remove the script.
    Rm {
        script: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExtensionCommand {
    /// Install a `domain-extension` component; prints the extension id.
    Install {
        file: PathBuf,
        /// A region's name; omit for the whole host (a god only).
        #[arg(long)]
        scope: Option<String>,
        /// A grant such as objects:read, scope:region or act-as-installer; repeat for several.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// The `Config` text given to the extension.
        #[arg(long, default_value = "")]
        config: String,
        /// Install without starting it.
        #[arg(long)]
        stopped: bool,
    },
    /// One line per extension.
    List,
    /// One extension's status.
    Status {
        extension: String,
    },
    /// The extension's log; --follow keeps reading.
    Logs {
        extension: String,
        #[arg(long)]
        follow: bool,
    },
    /// Replace the component (the domain must stay; storage is kept).
    Update {
        extension: String,
        file: PathBuf,
        #[arg(long)]
        config: Option<String>,
    },
    Start {
        extension: String,
    },
    Stop {
        extension: String,
    },
    /// Remove the extension and its storage.
    Rm {
        extension: String,
    },
}

#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// HTTP port (0 picks a free one); overrides [Network] http_listener_port.
    #[arg(long)]
    pub http_port: Option<u16>,
    /// UDP port (0 picks a free one); overrides [Dispatcher] UDPPort.
    #[arg(long)]
    pub udp_port: Option<u16>,
    /// Address to listen on and advertise; overrides [Dispatcher] HostAddress.
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GridCommand {
    /// Hosts (name, URL, last heartbeat), region leases (owner, epoch, expiry)
    /// and the count of live capabilities, from `[Grid] DatabaseUrl`.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account and print its UUID.
    Create {
        #[arg(long)]
        first: String,
        #[arg(long)]
        last: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "")]
        email: String,
        /// Access level (200 and above are gods).
        #[arg(long, default_value_t = 0)]
        level: i32,
        #[arg(long)]
        uuid: Option<uuid::Uuid>,
        /// Do not create the standard inventory folders for the account.
        #[arg(long)]
        no_inventory: bool,
    },
    /// One line per account: UUID, name, email, level.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RegionCommand {
    /// Create a region with an estate owner and managers.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        uuid: Option<uuid::Uuid>,
        /// Estate owner, "First Last" (default: the first account).
        #[arg(long, value_name = "\"First Last\"")]
        owner: Option<String>,
        /// Estate manager, "First Last"; repeat for several.
        #[arg(long = "manager", value_name = "\"First Last\"")]
        managers: Vec<String>,
    },
    /// One line per region: UUID, name, owner.
    List,
    /// Load an OpenSim region archive (OAR) into a region, in one transaction.
    /// Refused while a host serves the data directory (use ImportOarRequest through it).
    Import {
        /// The archive (.oar, a gzipped tar).
        #[arg(long, value_name = "FILE")]
        oar: PathBuf,
        /// Region name (default: the only region, or the first one).
        #[arg(long)]
        region: Option<String>,
        /// Add the archive's objects and assets; keep everything else.
        #[arg(long)]
        merge: bool,
    },
    /// Write a region as an OpenSim region archive (OAR) OpenSim 0.9 loads.
    Export {
        #[arg(long, value_name = "FILE")]
        oar: PathBuf,
        #[arg(long)]
        region: String,
    },
}
