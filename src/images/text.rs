//! Text on pictures: a code's name under it, ready to print, and the shop's name on
//! the card. Chinese needs a CJK font, which is not bundled (one is 15–20 MB and its
//! licence travels with it): `FONT_PATH` names one, else the usual places of Debian's
//! `fonts-noto-cjk` and `fonts-wqy-zenhei` are tried. Without one, pictures are drawn
//! without text and the start says so once.

use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};

/// Where Debian's CJK font packages put their fonts.
const KNOWN: [&str; 5] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// The font, loaded once; `None` when none was found.
pub fn font() -> Option<&'static FontVec> {
    static FONT: OnceLock<Option<FontVec>> = OnceLock::new();
    FONT.get_or_init(|| {
        let configured = std::env::var("FONT_PATH").ok().filter(|p| !p.is_empty());
        let candidates: Vec<String> = match configured {
            Some(path) => vec![path],
            None => KNOWN.iter().map(|p| p.to_string()).collect(),
        };
        for path in &candidates {
            let Ok(data) = std::fs::read(path) else { continue };
            match FontVec::try_from_vec_and_index(data, 0) {
                Ok(font) if font.glyph_id('报').0 != 0 => {
                    tracing::info!(font = path.as_str(), "pictures use this font for Chinese text");
                    return Some(font);
                }
                _ => tracing::warn!(font = path.as_str(), "not a font with Chinese glyphs"),
            }
        }
        tracing::warn!(
            "no CJK font found (set FONT_PATH, or install fonts-noto-cjk): codes and cards are drawn without text"
        );
        None
    })
    .as_ref()
}

/// An 8-bit coverage mask of `text` at `height` px, at most `max_width` px wide (the
/// text is scaled down to fit): its width, height and pixels, row by row.
pub fn mask(text: &str, height: f32, max_width: f32) -> Option<(usize, usize, Vec<u8>)> {
    let font = font()?;
    let width_at = |px: f32| {
        let scaled = font.as_scaled(PxScale::from(px));
        let mut width = 0.0;
        let mut last = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(prev) = last {
                width += scaled.kern(prev, id);
            }
            width += scaled.h_advance(id);
            last = Some(id);
        }
        width
    };
    let mut px = height;
    let natural = width_at(px);
    if natural > max_width && natural > 0.0 {
        px *= max_width / natural;
    }
    let scaled = font.as_scaled(PxScale::from(px));
    let (w, h) = (
        width_at(px).ceil() as usize + 2,
        (scaled.ascent() - scaled.descent()).ceil() as usize + 2,
    );
    let mut pixels = vec![0u8; w * h];
    let mut x = 1.0;
    let mut last = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(prev) = last {
            x += scaled.kern(prev, id);
        }
        let glyph = id.with_scale_and_position(px, point(x, 1.0 + scaled.ascent()));
        x += scaled.h_advance(id);
        last = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (
                bounds.min.x as i64 + gx as i64,
                bounds.min.y as i64 + gy as i64,
            );
            if (0..w as i64).contains(&px) && (0..h as i64).contains(&py) {
                let at = py as usize * w + px as usize;
                pixels[at] = pixels[at].max((coverage.clamp(0.0, 1.0) * 255.0) as u8);
            }
        });
    }
    Some((w, h, pixels))
}
