//! Shapes on a map: `geo` multipolygons built from points, discs, oriented rectangles,
//! corridors and the regions of the wire format (docs/protocol.md), which are checked first (a
//! region from an AGV may be anything).

use geo::{Area, Coord, LineString, MultiPolygon, Polygon};
use protocol::message::Region;

/// A shape on a map.
pub type Shape = MultiPolygon<f64>;

/// Sides of the polygons that stand for circles (circumscribed: they contain the circle).
const CIRCLE_SIDES: usize = 8;

/// A closed polygon from points (the ring is closed here, in a vector of exactly its size:
/// `geo` closing it would double the vector, and piece shapes are kept by the thousand).
pub fn polygon(points: &[[f64; 2]]) -> Polygon<f64> {
    ring(points.iter().copied())
}

/// A closed polygon from the points of `points` (an exact-size iterator), in one allocation of
/// exactly its size.
fn ring(points: impl ExactSizeIterator<Item = [f64; 2]>) -> Polygon<f64> {
    let mut coords: Vec<Coord<f64>> = Vec::with_capacity(points.len() + 1);
    coords.extend(points.map(|p| Coord { x: p[0], y: p[1] }));
    if let (Some(&first), Some(&last)) = (coords.first(), coords.last())
        && first != last
    {
        coords.push(first);
    }
    Polygon::new(LineString::new(coords), Vec::new())
}

/// A polygon containing the circle of `radius` around `(x, y)`.
pub fn disc(x: f64, y: f64, radius: f64) -> Polygon<f64> {
    let (outer, unit) = &*OCTAGON;
    let r = radius / outer;
    ring(unit.iter().map(|(c, s)| [x + r * c, y + r * s]))
}

/// The circumscribing factor and the corner directions of the polygons that stand for
/// circles, computed once (each disc took as many sines and cosines).
static OCTAGON: std::sync::LazyLock<(f64, [(f64, f64); CIRCLE_SIDES])> =
    std::sync::LazyLock::new(|| {
        let outer = (std::f64::consts::PI / CIRCLE_SIDES as f64).cos();
        let unit = std::array::from_fn(|i| {
            let t = std::f64::consts::TAU * i as f64 / CIRCLE_SIDES as f64;
            (t.cos(), t.sin())
        });
        (outer, unit)
    });

/// The rectangle `front`/`rear` along `theta` and `left`/`right` across it, around `(x, y)`.
pub fn oriented_rect(
    x: f64,
    y: f64,
    theta: f64,
    front: f64,
    rear: f64,
    left: f64,
    right: f64,
) -> Polygon<f64> {
    polygon(&rect_corners(x, y, theta, front, rear, left, right))
}

/// The corners of [`oriented_rect`], in its order (front right, front left, rear left, rear
/// right).
pub fn rect_corners(
    x: f64,
    y: f64,
    theta: f64,
    front: f64,
    rear: f64,
    left: f64,
    right: f64,
) -> [[f64; 2]; 4] {
    let (s, c) = theta.sin_cos();
    let at = |along: f64, across: f64| [x + along * c - across * s, y + along * s + across * c];
    [
        at(front, -right),
        at(front, left),
        at(-rear, left),
        at(-rear, -right),
    ]
}

/// A corridor: every point within `half_width` of the polyline (segment rectangles and discs
/// at the joints).
pub fn corridor(points: &[[f64; 2]], half_width: f64) -> Shape {
    let mut parts = Vec::with_capacity((2 * points.len()).saturating_sub(1));
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b[0] - a[0]).hypot(b[1] - a[1]);
        if len > 1e-9 {
            let theta = (b[1] - a[1]).atan2(b[0] - a[0]);
            parts.push(oriented_rect(
                a[0], a[1], theta, len, 0.0, half_width, half_width,
            ));
        }
    }
    for p in points {
        parts.push(disc(p[0], p[1], half_width));
    }
    MultiPolygon::new(parts)
}

/// Why a region from the wire is not a usable shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Non-finite coordinates, a self-intersecting or degenerate polygon.
    #[error("malformed region")]
    Invalid,
}

/// The shape of a protocol region.
pub fn region_shape(region: &Region) -> Result<Shape, ShapeError> {
    use geo::Validation as _;
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    let shape = match region {
        Region::Rectangle {
            center,
            length,
            width,
        } => {
            let (l, w) = (f64::from(*length) / 2.0, f64::from(*width) / 2.0);
            if !finite(&[center.x, center.y, center.theta, l, w]) {
                return Err(ShapeError::Invalid);
            }
            MultiPolygon::new(vec![oriented_rect(
                center.x,
                center.y,
                center.theta,
                l,
                l,
                w,
                w,
            )])
        }
        Region::Polygon { points } => {
            if !points.iter().all(|p| finite(&[p.x, p.y])) {
                return Err(ShapeError::Invalid);
            }
            let p = polygon(&points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>());
            if !p.is_valid() || p.unsigned_area() < 1e-6 {
                return Err(ShapeError::Invalid);
            }
            MultiPolygon::new(vec![p])
        }
        Region::Circle { center, radius } => {
            if !finite(&[center.x, center.y, f64::from(*radius)]) {
                return Err(ShapeError::Invalid);
            }
            MultiPolygon::new(vec![disc(center.x, center.y, f64::from(*radius))])
        }
        Region::Corridor { points, half_width } => {
            if !points.iter().all(|p| finite(&[p.x, p.y])) || !half_width.is_finite() {
                return Err(ShapeError::Invalid);
            }
            corridor(
                &points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                f64::from(*half_width),
            )
        }
    };
    Ok(shape)
}
