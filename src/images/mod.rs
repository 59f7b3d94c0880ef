//! Pictures the service draws itself: QR codes from the URL WeChat gave for a ticket
//! (so no call to `showqrcode`), at screen size or ready to print with their name under
//! them, and the default card picture with the shop's name ([`text`] draws the words).

pub mod text;

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

/// An RGB picture being drawn.
struct Canvas {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn filled(w: usize, h: usize, color: [u8; 3]) -> Canvas {
        Canvas {
            w,
            h,
            rgb: color.repeat(w * h),
        }
    }

    /// `text` in `color`, `height` px tall, centred on `cx` with its top at `top`, at
    /// most `max_width` wide. Nothing is drawn without a font.
    fn text(
        &mut self,
        text: &str,
        height: f32,
        max_width: f32,
        cx: usize,
        top: usize,
        color: [u8; 3],
    ) {
        let Some((w, h, mask)) = text::mask(text, height, max_width) else {
            return;
        };
        let left = cx.saturating_sub(w / 2);
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (left + x, top + y);
                let a = mask[y * w + x] as u32;
                if a == 0 || px >= self.w || py >= self.h {
                    continue;
                }
                let at = (py * self.w + px) * 3;
                for (c, target) in self.rgb[at..at + 3].iter_mut().zip(color) {
                    *c = ((*c as u32 * (255 - a) + target as u32 * a) / 255) as u8;
                }
            }
        }
    }

    fn png(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.rgb)?;
        writer.finish()?;
        Ok(out)
    }
}

/// The sizes a code is offered in to print: 430, 860 and 1280 px wide (WeChat's own
/// download sizes are 8, 12 and 15 cm at common print resolutions).
pub const PRINT_SIZES: [u32; 3] = [430, 860, 1280];

/// The code `width` px wide (modules as large as fit, centred), with `label` printed
/// under it when given and a font is found.
pub fn qr_print(code: &QrCode, width: u32, label: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let width = width as usize;
    let modules = code.width();
    let scale = (width / (modules + 2 * QUIET)).max(1);
    let label = label.filter(|l| !l.trim().is_empty() && text::font().is_some());
    let label_h = if label.is_some() { width / 6 } else { 0 };
    let mut canvas = Canvas::filled(width, width + label_h, [255, 255, 255]);
    let offset = (width - modules * scale) / 2;
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules, i / modules);
            for y in offset + my * scale..offset + (my + 1) * scale {
                let row = (y * width + offset + mx * scale) * 3;
                canvas.rgb[row..row + scale * 3].fill(0);
            }
        }
    }
    if let Some(label) = label {
        let height = label_h as f32 * 0.55;
        let top = width - QUIET * scale / 2;
        canvas.text(
            label.trim(),
            height,
            width as f32 * 0.9,
            width / 2,
            top,
            [0, 0, 0],
        );
    }
    canvas.png()
}

/// The default card picture: a 900×500 banner in the pages' colours (WeChat shows news
/// pictures at about 1.8:1), with the shop's name and "报价已保存" on it when the name
/// is known and a font is found.
pub fn card_picture(shop_name: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let (w, h) = (900usize, 500usize);
    let mut canvas = Canvas::filled(w, h, [0, 0, 0]);
    for y in 0..h {
        for x in 0..w {
            // A diagonal gradient from WeChat green to a deeper teal.
            let t = (x + y) as f32 / (w + h) as f32;
            let lerp = |a: f32, b: f32| (a + (b - a) * t) as u8;
            let at = (y * w + x) * 3;
            canvas.rgb[at..at + 3].copy_from_slice(&[
                lerp(7.0, 0.0),
                lerp(193.0, 120.0),
                lerp(96.0, 110.0),
            ]);
        }
    }
    if let Some(name) = shop_name.map(str::trim).filter(|n| !n.is_empty()) {
        canvas.text(name, 96.0, 800.0, w / 2, 150, [255, 255, 255]);
        canvas.text("您的报价已保存", 44.0, 800.0, w / 2, 300, [225, 245, 235]);
    }
    canvas.png()
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

    fn size_of(png_bytes: &[u8]) -> (u32, u32) {
        let info = png::Decoder::new(std::io::Cursor::new(png_bytes.to_vec()))
            .read_info()
            .unwrap();
        (info.info().width, info.info().height)
    }

    #[test]
    fn a_printable_code_is_the_width_asked_with_its_name_under_it() {
        let code = QrCode::new(b"http://weixin.qq.com/q/abc").unwrap();
        for width in PRINT_SIZES {
            assert_eq!(
                size_of(&qr_print(&code, width, None).unwrap()),
                (width, width)
            );
        }
        if text::font().is_none() {
            assert!(std::env::var_os("CI").is_none(), "CI installs a CJK font");
            return;
        }
        let labelled = qr_print(&code, 860, Some("地推-01 张三")).unwrap();
        let (w, h) = size_of(&labelled);
        assert_eq!(w, 860);
        assert!(h > 860, "room for the name");
        std::fs::create_dir_all("target/screenshots").unwrap();
        std::fs::write("target/screenshots/code-860-label.png", &labelled).unwrap();
        let card = card_picture(Some("好家装修")).unwrap();
        assert_ne!(card, card_picture(None).unwrap(), "the name is drawn");
        std::fs::write("target/screenshots/card-picture.png", &card).unwrap();
    }
}
