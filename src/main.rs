//! The `scanquote` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

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
    /// Read the variables from this file too, as systemd's `EnvironmentFile=` gives
    /// them to the service (`/etc/scanquote/env`); variables already set win.
    #[arg(long, global = true, value_name = "PATH")]
    env_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default): migrate the database, then serve HTTP.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the setup before pointing WeChat at it: the database, the credentials
    /// (WeChat is asked), the callback URL, the clock. Exits non-zero on any ✗.
    Doctor,
    /// Copy the SQLite database to PATH while the service runs (for MySQL/MariaDB it
    /// prints the mariadb-dump command to use).
    Backup {
        path: std::path::PathBuf,
        /// Replace PATH if it exists.
        #[arg(long)]
        force: bool,
    },
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
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.env_file
        && let Err(e) = dotenvy::from_path(path)
    {
        eprintln!("scanquote: 读不了 --env-file {}：{e}", path.display());
        return ExitCode::FAILURE;
    }
    // The variables before logging starts: they may say how to log (LOG_FORMAT).
    let _ = dotenvy::dotenv();
    let _logs = scanquote::logging::init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Doctor => doctor().await,
        Command::Backup { path, force } => backup(&path, force).await,
        command => match run(command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scanquote: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Not through `Config`: the doctor reports a value `serve` would refuse, too.
async fn doctor() -> ExitCode {
    let report = scanquote::ops::doctor::examine(&|name| std::env::var(name).ok()).await;
    print!("{}", report.render());
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Only `DATABASE_URL` matters here: a backup is not refused for another variable.
async fn backup(path: &std::path::Path, force: bool) -> ExitCode {
    let url = scanquote::config::database_url(|name| std::env::var(name).ok());
    match scanquote::ops::backup::run(&url, path, force).await {
        Ok(copied) => {
            println!(
                "已备份到 {}（{:.1} MB：{} 个订单，{} 条消息记录）",
                copied.path.display(),
                copied.bytes as f64 / 1_048_576.0,
                copied.orders,
                copied.deliveries
            );
            println!(
                "恢复时：停止服务，把它复制成 DATABASE_URL 指向的文件（删掉旁边的 -wal 和 -shm 文件），再启动"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scanquote backup: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config =
        Config::from_env().map_err(|e| anyhow::anyhow!("配置有误（configuration error）：{e}"))?;
    match command {
        Command::Doctor | Command::Backup { .. } => unreachable!("main answers these"),
        Command::Migrate => {
            let db = scanquote::db::connect(&config.database_url).await?;
            scanquote::db::migrate(&db).await?;
            println!("数据库迁移已全部应用（migrations applied）");
            Ok(())
        }
        Command::AdminToken {
            action: AdminTokenAction::Reset,
        } => {
            if config.admin_token.is_some() {
                anyhow::bail!(
                    "ADMIN_TOKEN 是在环境变量（或 .env、--env-file）里设置的：请在那里改成新值，再重启服务"
                );
            }
            let db = scanquote::db::connect(&config.database_url).await?;
            scanquote::db::migrate(&db).await?;
            let token = scanquote::http::admin::auth::AdminKey::reset(&db).await?;
            use secrecy::ExposeSecret;
            println!(
                "新的管理员令牌（只显示这一次，请保存）：{}",
                token.expose_secret()
            );
            println!("旧令牌和所有已登录的控制台会话都已失效；运行中的实例一两秒内改用新令牌");
            Ok(())
        }
        Command::Serve => {
            use scanquote::logging::say;
            let mut app = App::build(config).await?;
            if let Some(token) = app.take_generated_admin_token() {
                use secrecy::ExposeSecret;
                say(&format!(
                    "没有设置 ADMIN_TOKEN，已生成控制台的管理员令牌（只显示这一次，请保存）：{}",
                    token.expose_secret()
                ));
            }
            let base = &app.state().domain.base_url;
            say(&format!("scanquote 已启动，监听 http://{}", app.address()));
            if app.state().web.sandbox() {
                say(&format!(
                    "沙盒模式（没有微信凭据）：打开 {base} 创建一个报价，"
                ));
                say(&format!(
                    "再到 {base}sandbox/ 以沙盒用户扫码，查看他收到的消息。"
                ));
            } else {
                say(&format!(
                    "微信模式：公众平台 → 设置与开发 → 基本配置 → 服务器配置 里的 服务器地址(URL) 填 {base}wechat"
                ));
            }
            say(&format!("店主控制台：{base}admin"));
            app.run_until_stopped(scanquote::shutdown_signal()).await
        }
    }
}
