//! The `pharos` binary: command line, config, logging, and the wiring of the pipeline
//! (sources → stores → evaluators → alerts → receivers, with the web layer reading the
//! stores).

mod backup;
mod export;
mod health;
mod import;
mod logging;
mod series_writer;
mod serve;
mod ship;
mod token;
mod user;

use pharos::{config, lifecycle, syslog};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// glibc's malloc spent a fifth of the ingest CPU in malloc/free across tokio's worker
// threads (perf, bench/errors.py); mimalloc's thread-local free lists take most of that away.
// Built without transparent huge pages: with them an idle Pharos sat at 47 MiB instead of 26.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// This binary, as recorded in the data directory's format record and in backups.
const WRITTEN_BY: &str = concat!(
    "pharos ",
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PHAROS_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "pharos",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PHAROS_COMMIT"), ")"),
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
    /// Check a config file (and the rule files it names) and exit; non-zero with
    /// file:line:column and the field on error. `check rules FILE...` checks rule files alone.
    Check {
        #[arg(long, env = "PHAROS_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: Option<CheckWhat>,
    },
    /// Send log lines from stdin or files to Pharos (a small Promtail): `cmd 2>&1 |
    /// pharos ship --service NAME`, or `pharos ship --service NAME '/var/log/app/*.log'`.
    Ship(ship::ShipArgs),
    /// Add, list and reset users (name, password, role) in a data directory:
    /// `pharos user add ana --role admin` for a headless first start.
    User(user::UserArgs),
    /// Ask the running Pharos for a consistent backup of every store into DEST (a new
    /// directory on its machine), with a manifest and checksums.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory, refusing a damaged or partial one.
    Restore(backup::RestoreArgs),
    /// Write a Pharos config from an Uptime Kuma backup, a healthchecks.io export, an
    /// Alertmanager or a Prometheus config, naming what could not be carried over.
    Import(import::ImportArgs),
    /// Write what was made through the API or the UI (monitors, projects, scrape jobs) as
    /// pharos.yaml sections, for config as code.
    Export(export::ExportArgs),
    /// Ask a running Pharos for `/health/live` (or `--ready`: `/health/ready`); exit 0 on
    /// 200, else 1. The container image's HEALTHCHECK.
    Health(health::HealthArgs),
}

#[derive(Subcommand)]
enum CheckWhat {
    /// Check Prometheus rule files as `promtool check rules` does.
    Rules {
        /// Exit with 3 when the duplicate-rules lint finds something.
        #[arg(long)]
        lint_fatal: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        Command::Check {
            what: Some(CheckWhat::Rules { lint_fatal, files }),
            ..
        } => check_rules(&files, lint_fatal),
        Command::Check { config: None, .. } => {
            eprintln!("pharos check: pass --config <pharos.yaml>, or `pharos check rules FILE...`");
            ExitCode::from(2)
        }
        Command::Check {
            config: Some(config),
            ..
        } => match config::Config::load(&config) {
            Ok(c) => {
                println!(
                    "{}: OK ({} monitors, {} receivers, {} maintenance windows, {} rules, {} log rules)",
                    config.display(),
                    c.monitors.len(),
                    c.receivers.len(),
                    c.maintenance.len(),
                    c.loaded_rules.iter().map(|g| g.rules.len()).sum::<usize>(),
                    c.logs.rules.len()
                );
                print_duplicate_rules(&c.loaded_rules);
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Ship(args) => ship::main(args),
        Command::User(args) => user::main(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Import(args) => import::main(args),
        Command::Export(args) => export::main(args),
        Command::Health(args) => health::main(args),
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

/// `promtool check rules`: each file checked alone, every problem listed, the same words.
fn check_rules(files: &[PathBuf], lint_fatal: bool) -> ExitCode {
    let (mut failed, mut linted) = (false, false);
    for f in files {
        println!("Checking {}", f.display());
        let parsed = std::fs::read_to_string(f)
            .map_err(|e| vec![format!("{}: {e}", f.display())])
            .and_then(|text| {
                pharos_evaluate::rules::parse_rule_file(&text, f)
                    .map_err(|errs| errs.iter().map(|e| e.to_string()).collect())
            });
        match parsed {
            Ok(groups) => {
                if print_duplicate_rules(&groups) {
                    linted = true;
                } else {
                    let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                    println!("  SUCCESS: {n} rules found");
                }
            }
            Err(errors) => {
                failed = true;
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else if linted && lint_fatal {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// promtool's `duplicate-rules` lint: printed, not an error unless `--lint-fatal`.
fn print_duplicate_rules(groups: &[pharos_evaluate::rules::RuleGroupSpec]) -> bool {
    let dups = pharos_evaluate::rules::file::duplicate_rules(groups);
    if dups.is_empty() {
        return false;
    }
    eprintln!("  FAILED:");
    eprintln!("lint error {} duplicate rule(s) found.", dups.len());
    for (name, labels) in dups {
        eprintln!("Metric: {name}\nLabel(s):");
        for (k, v) in labels {
            eprintln!("\t{k}: {v}");
        }
    }
    eprintln!("Might cause inconsistency while recording expressions");
    true
}
