//! The command line of the operator contract (shared/spec/operator-contract.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "dispatcher", version, about = "Dispatcher: a scripting and remote-control host for virtual-world regions")]
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
}
