//! The `pharos` binary: command line, config, logging, and the wiring of the pipeline
//! (sources → stores → evaluators → alerts → receivers, with the web layer reading the
//! stores).

mod config;
mod logging;
mod series_writer;
mod serve;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// glibc's malloc spent a fifth of the ingest CPU in malloc/free across tokio's worker
// threads (perf, bench/errors.py); mimalloc's thread-local free lists take most of that away.
// Built without transparent huge pages: with them an idle Pharos sat at 47 MiB instead of 26.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pharos",
    version,
    about = "Monitoring for small teams: uptime, heartbeats and alerts in one binary."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Pharos: probes, heartbeats, alerts, API and UI.
    Serve(ServeArgs),
    /// Check a config file and exit; non-zero with file:line:column and the field on error.
    Check {
        #[arg(long, env = "PHAROS_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Parser)]
pub struct ServeArgs {
    /// The config file (pharos.yaml). Without one Pharos starts empty.
    #[arg(long, env = "PHAROS_CONFIG")]
    config: Option<PathBuf>,
    /// Address for the API and UI.
    #[arg(long, env = "PHAROS_LISTEN", default_value = "127.0.0.1:9800")]
    listen: SocketAddr,
    /// Where Pharos keeps its data.
    #[arg(long, env = "PHAROS_DATA_DIR", default_value = "./pharos-data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match config::Config::load(&config) {
            Ok(c) => {
                println!(
                    "{}: OK ({} monitors, {} receivers, {} maintenance windows)",
                    config.display(),
                    c.monitors.len(),
                    c.receivers.len(),
                    c.maintenance.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            logging::init();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("pharos: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(
                        operation = "startup",
                        error = format!("{e:#}"),
                        "pharos stopped"
                    );
                    eprintln!("pharos: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
