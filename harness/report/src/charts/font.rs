//! The one font every chart uses, compiled into the binary.
//!
//! plotters' system-font backends need fontconfig and installed fonts;
//! a fresh CI machine or container often has neither, and a missing font
//! there means a panic or charts without text. So plotters is built with
//! only its `ab_glyph` rasteriser and this module hands it DejaVu Sans
//! (licence: `assets/fonts/LICENSE-DejaVu.txt`) under the family name the
//! charts ask for.
//!
//! plotters keeps registered fonts in a process-wide table (its API offers
//! nothing else), so registration happens once per process. plotters needs
//! the registration to build text styles and measure them; the glyphs
//! themselves are placed by [`super::backend`] from the same bytes.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::style::{FontStyle, register_font};

use super::FONT;
use crate::error::ReportError;

/// File name of the embedded font, for messages.
const NAME: &str = "DejaVuSans.ttf";

/// DejaVu Sans, as shipped by the DejaVu project.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Makes [`FONT`] available to plotters; cheap after the first call.
pub(crate) fn register() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        // Other styles (bold, italic) fall back to the normal face.
        register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ReportError::Font { name: NAME })
    }
}

/// The parsed font, for [`super::backend::ChartBackend`].
pub(crate) fn face() -> Result<&'static FontRef<'static>, ReportError> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or(ReportError::Font { name: NAME })
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;

    use super::*;
    use crate::charts::backend::ChartBackend;

    #[test]
    fn text_renders_with_the_embedded_font() {
        register().unwrap();
        let (w, h) = (200u32, 60u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let backend = BitMapBackend::with_buffer(&mut rgb, (w, h));
            let root = ChartBackend::new(backend, face().unwrap()).into_drawing_area();
            root.fill(&WHITE).unwrap();
            root.draw(&Text::new("µs/req 99.9%", (5, 10), (FONT, 24)))
                .unwrap();
            root.present().unwrap();
        }
        let dark = rgb.chunks(3).filter(|p| p.iter().all(|&c| c < 128)).count();
        assert!(dark > 100, "only {dark} dark pixels: no text drawn");
    }
}
