//! Pictures the service draws itself: QR codes from the URL WeChat gave for a ticket
//! (so no call to `showqrcode`), and the default card picture.

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module and the quiet zone around the code, in modules (the standard's 4).
const SCALE: usize = 8;
const QUIET: usize = 4;

/// The code for `url` (what a ticket's code encodes), at error correction level M.
pub fn qr_code(url: &str) -> anyhow::Result<QrCode> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| anyhow::anyhow!("encoding the code's URL: {e}"))
}

/// A grayscale PNG: dark modules black, light modules and quiet zone white.
pub fn qr_png(code: &QrCode) -> anyhow::Result<Vec<u8>> {
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

/// An SVG of the code, at least 240 px, with its quiet zone.
pub fn qr_svg(code: &QrCode) -> Vec<u8> {
    code.render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build()
        .into_bytes()
}

/// The default card picture: a plain 900×500 banner in the pages' colours (WeChat shows
/// news pictures at about 1.8:1).
pub fn card_picture() -> anyhow::Result<Vec<u8>> {
    let (w, h) = (900usize, 500usize);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            // A diagonal gradient from WeChat green to a deeper teal.
            let t = (x + y) as f32 / (w + h) as f32;
            let lerp = |a: f32, b: f32| (a + (b - a) * t) as u8;
            pixels.extend_from_slice(&[lerp(7.0, 0.0), lerp(193.0, 120.0), lerp(96.0, 110.0)]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
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
        let bytes = qr_png(&code).unwrap();
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
