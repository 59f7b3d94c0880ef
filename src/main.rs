//! The `scanquote` binary: parses the command line and hands over to the library.

use clap::{Parser, Subcommand};
use scanquote::{App, Config};

/// glibc's allocator spent a seventh of the service's CPU under load (arena locks and
/// consolidation across the runtime's and SQLite's threads); mimalloc's per-thread
/// heaps take little of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keep a price quote by scanning a WeChat QR code.
///
/// Configuration comes from the environment and a `.env` file (see `.env.example`).
/// Without WeChat credentials the service runs in sandbox mode.
#[derive(Parser)]
#[command(name = "scanquote", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default): migrate the database, then serve HTTP.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// The console's admin token.
    AdminToken {
        #[command(subcommand)]
        action: AdminTokenAction,
    },
}

#[derive(Subcommand)]
enum AdminTokenAction {
    /// Replace a lost or leaked token with a new one (printed once) and end every
    /// console session; running instances take it within a second or two.
    Reset,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // `.env` first: it may say how to log (LOG_FORMAT).
    let _ = dotenvy::dotenv();
    let _logs = scanquote::logging::init();
    let cli = Cli::parse();
    match run(cli.command.unwrap_or(Command::Serve)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scanquote: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = Config::from_env().map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    match command {
        Command::Migrate => {
            let db = scanquote::db::connect(&config.database_url).await?;
            scanquote::db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::AdminToken {
            action: AdminTokenAction::Reset,
        } => {
            if config.admin_token.is_some() {
                anyhow::bail!(
                    "ADMIN_TOKEN is set in the environment (or .env): change it there and restart the service"
                );
            }
            let db = scanquote::db::connect(&config.database_url).await?;
            scanquote::db::migrate(&db).await?;
            let token = scanquote::http::admin::auth::AdminKey::reset(&db).await?;
            use secrecy::ExposeSecret;
            println!(
                "new admin token (shown only now, keep it): {}",
                token.expose_secret()
            );
            println!(
                "the old token and every console session have ended; running instances take the new one within a second or two"
            );
            Ok(())
        }
        Command::Serve => {
            use scanquote::logging::say;
            let mut app = App::build(config).await?;
            if let Some(token) = app.take_generated_admin_token() {
                use secrecy::ExposeSecret;
                say(&format!(
                    "ADMIN_TOKEN was not set; generated one (shown only now, keep it): {}",
                    token.expose_secret()
                ));
            }
            let base = &app.state().domain.base_url;
            say(&format!(
                "scanquote is listening on http://{}",
                app.address()
            ));
            if app.state().web.sandbox() {
                say(&format!(
                    "sandbox mode (no WeChat credentials): open {base} to create a quote,"
                ));
                say(&format!(
                    "then {base}sandbox/ to scan it as a sandbox user and read their inbox."
                ));
            } else {
                say(&format!(
                    "WeChat mode: set the server URL on the platform to {base}wechat"
                ));
            }
            say(&format!("site owners: {base}admin"));
            app.run_until_stopped(scanquote::shutdown_signal()).await
        }
    }
}
