//! `pharos user`: adds people and lists them from the command line, for a headless first
//! start (no browser yet) and for resetting a password when every admin is locked out.
//! Works on the data directory directly, whether or not Pharos is running.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use pharos_model::access::Role;

#[derive(Args)]
pub struct UserArgs {
    /// Where Pharos keeps its data.
    #[arg(
        long,
        env = "PHAROS_DATA_DIR",
        default_value = "./pharos-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    what: UserCommand,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user. The password is read from PHAROS_USER_PASSWORD, or else from the
    /// first line of standard input (`pharos user add ana --role admin < secret`).
    Add {
        name: String,
        /// viewer, editor or admin.
        #[arg(long, default_value = "viewer")]
        role: Role,
    },
    /// Set a user's password (same sources as `add`) and end their sessions.
    Passwd { name: String },
    /// List users and their roles.
    List,
}

fn read_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("PHAROS_USER_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        return Err("no password: set PHAROS_USER_PASSWORD or give it on standard input".into());
    }
    Ok(p)
}

async fn run(args: UserArgs) -> Result<(), String> {
    let store = pharos_store::Store::open_alongside(&args.data_dir)
        .map(Arc::new)
        .map_err(|e| e.to_string())?;
    match args.what {
        UserCommand::Add { name, role } => {
            let password = read_password()?;
            let u = pharos_app::access::add_user(&store, &name, role, &password)
                .await
                .map_err(|e| e.to_string())?;
            println!("added {} ({})", u.name, u.role);
        }
        UserCommand::Passwd { name } => {
            let password = read_password()?;
            let hash = pharos_app::access::hash_password(&password).map_err(|e| e.to_string())?;
            let u = store
                .update_user(&name, None, Some(&hash))
                .map_err(|e| e.to_string())?;
            println!("password of {} changed; their sessions ended", u.name);
        }
        UserCommand::List => {
            for u in store.users().map_err(|e| e.to_string())? {
                println!("{}\t{}", u.name, u.role);
            }
        }
    }
    Ok(())
}

pub fn main(args: UserArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pharos user: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pharos user: {e}");
            ExitCode::FAILURE
        }
    }
}
