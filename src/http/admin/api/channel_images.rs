//! A channel code's pictures: a PNG to print (430, 860 or 1280 px wide, with its name
//! under it when asked), an SVG, and a zip of every listed code's PNG (named and
//! 860 px) and SVG, each file named by the code's name. Drawing runs off the
//! runtime's threads: a 1280 px code, or a zip of a hundred, takes a while.

use std::io::Write;

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use entity::{channel_code, qr_code};
use sea_orm::EntityTrait;
use zip::write::SimpleFileOptions;

use crate::quote::Domain;
use crate::quote::codes::channel::list::{Filter, list};
use crate::{AppError, images};

/// The PNG size asked for: one of [`images::PRINT_SIZES`], 430 when not given.
pub fn print_size(size: Option<u32>) -> Result<u32, AppError> {
    match size {
        None => Ok(images::PRINT_SIZES[0]),
        Some(s) if images::PRINT_SIZES.contains(&s) => Ok(s),
        Some(_) => Err(AppError::bad_field(
            "size",
            "尺寸须为 430、860 或 1280（像素宽）",
        )),
    }
}

/// What the code's QR code encodes.
async fn encoded(domain: &Domain, code: &channel_code::Model) -> Result<String, AppError> {
    Ok(qr_code::Entity::find_by_id(code.qr_code_id)
        .one(&domain.db)
        .await?
        .ok_or(AppError::NotFound)?
        .url)
}

/// A file name from a code's name: what a file system or a zip tool would choke on
/// becomes `_`.
fn file_name(name: &str, ext: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{safe}.{ext}")
}

/// `body` as a download named `filename` (UTF-8 names as RFC 6266 says).
fn download(body: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "inline; filename=\"{ascii}\"; filename*=UTF-8''{}",
        urlencoding::encode(filename)
    );
    (
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(AppError::Internal)
}

pub async fn png(
    domain: &Domain,
    code: &channel_code::Model,
    width: u32,
    label: bool,
) -> Result<Response, AppError> {
    let url = encoded(domain, code).await?;
    let name = code.name.clone();
    let png = blocking(move || {
        let qr = images::qr_code(&url)?;
        images::qr_print(&qr, width, label.then_some(name.as_str()))
    })
    .await?;
    Ok(download(png, "image/png", &file_name(&code.name, "png")))
}

pub async fn svg(domain: &Domain, code: &channel_code::Model) -> Result<Response, AppError> {
    let url = encoded(domain, code).await?;
    let svg = blocking(move || Ok(images::qr_svg(&images::qr_code(&url)?))).await?;
    Ok(download(
        svg,
        "image/svg+xml",
        &file_name(&code.name, "svg"),
    ))
}

/// Every code `filter` lists (deleted ones only when asked for), as a zip.
pub async fn zip(domain: &Domain, filter: &Filter) -> Result<Response, AppError> {
    let codes: Vec<(String, String)> = list(&domain.db, &domain.base_url, filter)
        .await?
        .into_iter()
        .filter(|c| filter.state.is_some() || c.deleted_at_ms.is_none())
        .map(|c| (c.name, c.url))
        .collect();
    // Deleted codes may share a name with each other or a live one: a zip holds each
    // name once, so a repeat gets a number.
    let mut seen = std::collections::HashMap::<String, u32>::new();
    let codes: Vec<(String, String)> = codes
        .into_iter()
        .map(|(name, url)| {
            let n = seen.entry(name.clone()).or_default();
            *n += 1;
            match *n {
                1 => (name, url),
                n => (format!("{name}（{n}）"), url),
            }
        })
        .collect();
    if codes.is_empty() {
        return Err(AppError::Conflict("没有可以下载的渠道码".into()));
    }
    let body = blocking(move || {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, url) in &codes {
            let qr = images::qr_code(url)?;
            out.start_file(file_name(name, "png"), stored)?;
            out.write_all(&images::qr_print(&qr, images::PRINT_SIZES[1], Some(name))?)?;
            out.start_file(file_name(name, "svg"), stored)?;
            out.write_all(&images::qr_svg(&qr))?;
        }
        Ok(out.finish()?.into_inner())
    })
    .await?;
    Ok(download(body, "application/zip", "渠道码.zip"))
}
