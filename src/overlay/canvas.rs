//! An `RgbImage` as an embedded-graphics draw target.
//!
//! Everything in the overlay that is lines, rectangles and text is drawn through
//! `DrawTarget`, so the same drawing code could paint a small SPI display directly;
//! this adapter is the one for frames held in memory.

use std::convert::Infallible;

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use image::{Rgb, RgbImage};

/// Draws onto a borrowed image; pixels outside it are dropped (clipped), never a panic.
pub struct Canvas<'a> {
    image: &'a mut RgbImage,
}

impl<'a> Canvas<'a> {
    pub fn new(image: &'a mut RgbImage) -> Self {
        Canvas { image }
    }

    /// The image coordinates of `p`, when it lies inside the image.
    fn index(&self, p: Point) -> Option<(u32, u32)> {
        let x = u32::try_from(p.x).ok()?;
        let y = u32::try_from(p.y).ok()?;
        (x < self.image.width() && y < self.image.height()).then_some((x, y))
    }
}

fn rgb(c: Rgb888) -> Rgb<u8> {
    Rgb([c.r(), c.g(), c.b()])
}

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.image.width(), self.image.height())
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<Rgb888>>,
    {
        for Pixel(p, c) in pixels {
            if let Some((x, y)) = self.index(p) {
                self.image.put_pixel(x, y, rgb(c));
            }
        }
        Ok(())
    }

    /// Rectangles (box outline, caption background) clip once instead of per pixel.
    fn fill_solid(&mut self, area: &Rectangle, color: Rgb888) -> Result<(), Infallible> {
        let area = area.intersection(&self.bounding_box());
        let Some(bottom_right) = area.bottom_right() else {
            return Ok(()); // empty
        };
        let c = rgb(color);
        // Both corners are inside the image after the intersection, so non-negative.
        for y in area.top_left.y..=bottom_right.y {
            for x in area.top_left.x..=bottom_right.x {
                self.image.put_pixel(x as u32, y as u32, c);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::primitives::{Line, PrimitiveStyle};

    const RED: Rgb888 = Rgb888::new(255, 0, 0);

    #[test]
    fn overlay_canvas_clips_shapes_partly_outside() {
        let mut img = RgbImage::from_pixel(10, 8, Rgb([1, 2, 3]));
        let mut canvas = Canvas::new(&mut img);
        assert_eq!(canvas.size(), Size::new(10, 8));
        // A rectangle hanging over the top-left corner, another far outside.
        Rectangle::new(Point::new(-5, -5), Size::new(8, 7))
            .into_styled(PrimitiveStyle::with_fill(RED))
            .draw(&mut canvas)
            .unwrap();
        Rectangle::new(Point::new(1000, -1000), Size::new(50, 50))
            .into_styled(PrimitiveStyle::with_fill(RED))
            .draw(&mut canvas)
            .unwrap();
        // A line leaving through the right edge, per-pixel path.
        Line::new(Point::new(5, 6), Point::new(40, 6))
            .into_styled(PrimitiveStyle::with_stroke(RED, 1))
            .draw(&mut canvas)
            .unwrap();
        for (x, y, p) in img.enumerate_pixels() {
            let inside_rect = x < 3 && y < 2;
            let on_line = y == 6 && x >= 5;
            let want = if inside_rect || on_line {
                Rgb([255, 0, 0])
            } else {
                Rgb([1, 2, 3])
            };
            assert_eq!(*p, want, "pixel ({x}, {y})");
        }
    }
}
