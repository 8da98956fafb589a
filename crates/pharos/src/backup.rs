//! `pharos backup DEST` and `pharos restore SRC --data-dir DIR`. A backup is taken by the
//! running Pharos (only it can copy its stores consistently while they take writes): the
//! command asks it through `POST /api/v1/backups` with an admin token and waits for the
//! answer. A restore needs no running Pharos: it checks the backup and writes a new data
//! directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

#[derive(Args)]
pub struct BackupArgs {
    /// The directory to write, on the machine Pharos runs on; it must not exist yet, and
    /// the user Pharos runs as must be able to create it.
    dest: PathBuf,
    /// The running Pharos.
    #[arg(long, env = "PHAROS_URL", default_value = "http://127.0.0.1:9800")]
    url: String,
    /// An admin token (a user's token with the admin role, or the admin token); without
    /// one, `admin_token` of --data-dir is read.
    #[arg(long, env = "PHAROS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where to find `admin_token` when no token is given.
    #[arg(long, env = "PHAROS_DATA_DIR", default_value = "./pharos-data")]
    data_dir: PathBuf,
    /// Give up waiting after this many seconds (the backup itself goes on).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A backup directory written by `pharos backup` or a scheduled backup.
    src: PathBuf,
    /// The data directory to create; it must not exist or be empty. Start Pharos on it
    /// with `--data-dir` afterwards.
    #[arg(long)]
    data_dir: PathBuf,
}

pub fn backup(args: BackupArgs) -> ExitCode {
    let dest = match std::path::absolute(&args.dest) {
        Ok(dest) => dest,
        Err(e) => {
            eprintln!("pharos backup: {}: {e}", args.dest.display());
            return ExitCode::from(2);
        }
    };
    let token = match args.token {
        Some(t) => t,
        None => match std::fs::read_to_string(args.data_dir.join("admin_token")) {
            Ok(t) => t.trim().to_string(),
            Err(e) => {
                eprintln!(
                    "pharos backup: no token: pass --token or PHAROS_TOKEN (an admin token), or --data-dir where admin_token is ({}: {e})",
                    args.data_dir.join("admin_token").display()
                );
                return ExitCode::from(2);
            }
        },
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pharos backup: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}/api/v1/backups", args.url.trim_end_matches('/'));
    let answer = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout))
            .build()?;
        let response = client
            .post(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "destination": dest }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((status, body))
    });
    match answer {
        Ok((status, body)) if status.is_success() => {
            println!(
                "backup written to {}: {} files, {} bytes in {:.1} s",
                body["path"].as_str().unwrap_or_default(),
                body["files"],
                body["bytes"],
                body["duration_seconds"].as_f64().unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            let why = body["error"]
                .as_str()
                .or_else(|| body["message"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string());
            eprintln!("pharos backup: {url} answered {status}: {why}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pharos backup: cannot reach Pharos at {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn restore(args: RestoreArgs) -> ExitCode {
    // The restored keys and databases are as private as `serve` keeps them.
    // SAFETY: umask only changes the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    match pharos_app::backup::restore::restore(&args.src, &args.data_dir) {
        Ok(r) => {
            println!(
                "restored {} files ({} bytes) into {}: the backup began {} ({}). Start Pharos with --data-dir {}",
                r.files,
                r.bytes,
                args.data_dir.display(),
                r.started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                r.written_by,
                args.data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pharos restore: {e}");
            ExitCode::FAILURE
        }
    }
}
