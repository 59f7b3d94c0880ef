//! `/orders/{id}/qrcode.png` and `.svg`: the order's code, drawn locally from the URL
//! WeChat gave for its ticket (no call to `showqrcode`). Browsers may cache an image
//! until a minute before its ticket expires; the ETag changes with the ticket.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use qrcode::{Color, EcLevel, QrCode};
use sha1::{Digest, Sha1};

use super::limit::Throttle;
use crate::quote::orders::{cached_order, parse_order_id};
use crate::quote::tickets::{MIN_REMAINING_MS, ticket_for_order};
use crate::{AppError, AppState, now_ms};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders/{id}/qrcode.png", get(png))
        .route("/orders/{id}/qrcode.svg", get(svg))
}

/// Pixels per module and the quiet zone around the code, in modules (the standard's 4).
const SCALE: usize = 8;
const QUIET: usize = 4;

async fn png(
    _: Throttle,
    state: State<AppState>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    image(state, id, headers, "image/png", encode_png).await
}

async fn svg(
    _: Throttle,
    state: State<AppState>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    image(state, id, headers, "image/svg+xml", |code| {
        Ok(code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build()
            .into_bytes())
    })
    .await
}

async fn image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    content_type: &'static str,
    draw: impl FnOnce(&QrCode) -> anyhow::Result<Vec<u8>>,
) -> Result<Response, AppError> {
    // The shopper's page loads this; through the cache, the scan that follows finds
    // the order without reading it again.
    let order = cached_order(&state, parse_order_id(&id)?).await?;
    let live = ticket_for_order(&state, order.id).await?;
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha1::digest(live.url.as_bytes()))[..16]
    );
    let max_age = ((live.expires_at_ms - MIN_REMAINING_MS - now_ms()) / 1000).max(0);
    let cache = format!("public, max-age={max_age}");
    if headers
        .get(IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(ETAG, etag), (CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let code = QrCode::with_error_correction_level(live.url.as_bytes(), EcLevel::M)
        .map_err(|e| anyhow::anyhow!("encoding the ticket URL: {e}"))?;
    let body = draw(&code)?;
    Ok((
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (ETAG, etag),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response())
}

/// A grayscale PNG: dark modules black, light modules and quiet zone white.
pub fn encode_png(code: &QrCode) -> anyhow::Result<Vec<u8>> {
    let modules = code.width();
    let side = (modules + 2 * QUIET) * SCALE;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_a_square_with_a_quiet_zone() {
        let code = QrCode::new(b"http://weixin.qq.com/q/abc").unwrap();
        let bytes = encode_png(&code).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let side = (code.width() + 8) * SCALE;
        assert_eq!((info.width as usize, info.height as usize), (side, side));
        assert!(
            buf[..side * QUIET * SCALE].iter().all(|p| *p == 255),
            "quiet zone is white"
        );
        // The top-left finder pattern starts right after the quiet zone.
        assert_eq!(buf[(QUIET * SCALE) * side + QUIET * SCALE], 0);
    }
}
