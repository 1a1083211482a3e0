//! Device autonomous-adjustment space: request, grant, deny, release, revoke.

use alloc::vec::Vec;
use bytes::{BufMut, BytesMut};

use crate::codec::{Reader, Wire, wire_enum, wire_struct};
use crate::error::{DecodeError, EncodeError};
use crate::types::{Point, Pose, SpaceLimit};

/// Largest polygon or corridor a region may have.
pub const MAX_REGION_POINTS: usize = 64;

/// A region of a map: a one-byte shape tag, then the shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// Tag 0: a rectangle centred on `center`, `length` along its heading and `width` across.
    Rectangle {
        /// Centre and heading.
        center: Pose,
        /// Length along the heading, m (> 0).
        length: f32,
        /// Width across the heading, m (> 0).
        width: f32,
    },
    /// Tag 1: a simple polygon, 3 to 64 vertices in order.
    Polygon {
        /// Vertices.
        points: Vec<Point>,
    },
    /// Tag 2: a circle.
    Circle {
        /// Centre.
        center: Point,
        /// Radius, m (> 0).
        radius: f32,
    },
    /// Tag 3: a corridor: a polyline of 2 to 64 points swept by a width.
    Corridor {
        /// Centre line.
        points: Vec<Point>,
        /// Half the corridor width, m (> 0).
        half_width: f32,
    },
}

impl Region {
    fn check(&self) -> Result<(), &'static str> {
        let positive = |v: f32| v > 0.0;
        let ok = match self {
            Region::Rectangle { length, width, .. } => positive(*length) && positive(*width),
            Region::Polygon { points } => (3..=MAX_REGION_POINTS).contains(&points.len()),
            Region::Circle { radius, .. } => positive(*radius),
            Region::Corridor { points, half_width } => {
                (2..=MAX_REGION_POINTS).contains(&points.len()) && positive(*half_width)
            }
        };
        if ok {
            Ok(())
        } else {
            Err("region dimensions or point count out of range")
        }
    }
}

impl Wire for Region {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        self.check()
            .map_err(|reason| EncodeError::InvalidValue { reason })?;
        match self {
            Region::Rectangle {
                center,
                length,
                width,
            } => {
                w.put_u8(0);
                center.encode(w)?;
                length.encode(w)?;
                width.encode(w)
            }
            Region::Polygon { points } => {
                w.put_u8(1);
                points.encode(w)
            }
            Region::Circle { center, radius } => {
                w.put_u8(2);
                center.encode(w)?;
                radius.encode(w)
            }
            Region::Corridor { points, half_width } => {
                w.put_u8(3);
                points.encode(w)?;
                half_width.encode(w)
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let region = match r.u8()? {
            0 => Region::Rectangle {
                center: Wire::decode(r)?,
                length: Wire::decode(r)?,
                width: Wire::decode(r)?,
            },
            1 => Region::Polygon {
                points: Wire::decode(r)?,
            },
            2 => Region::Circle {
                center: Wire::decode(r)?,
                radius: Wire::decode(r)?,
            },
            3 => Region::Corridor {
                points: Wire::decode(r)?,
                half_width: Wire::decode(r)?,
            },
            tag => {
                return Err(DecodeError::UnknownEnumValue {
                    name: "Region",
                    value: u32::from(tag),
                    offset,
                });
            }
        };
        region
            .check()
            .map_err(|reason| DecodeError::InvalidValue { reason, offset })?;
        Ok(region)
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for Region {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::arb::Gen;
        let positive = |u: &mut arbitrary::Unstructured<'_>| -> arbitrary::Result<f32> {
            Ok(f32::from(u.int_in_range(1u16..=10_000)?) / 100.0)
        };
        let points = |u: &mut arbitrary::Unstructured<'_>, min: usize| {
            (0..u.int_in_range(min..=8)?)
                .map(|_| Point::generate(u))
                .collect::<arbitrary::Result<Vec<_>>>()
        };
        Ok(match u.int_in_range(0..=3)? {
            0 => Region::Rectangle {
                center: Gen::generate(u)?,
                length: positive(u)?,
                width: positive(u)?,
            },
            1 => Region::Polygon {
                points: points(u, 3)?,
            },
            2 => Region::Circle {
                center: Gen::generate(u)?,
                radius: positive(u)?,
            },
            _ => Region::Corridor {
                points: points(u, 2)?,
                half_width: positive(u)?,
            },
        })
    }
}

wire_enum! {
    /// Why an AGV asks for a safe space.
    pub enum SpaceReason: u8 {
        /// Avoid an obstacle blocking its path.
        ObstacleAvoidance = 0,
        /// Adjust its position at a station (docking, fine positioning).
        DockingAdjustment = 1,
        /// Move a little to recover localisation.
        LocalisationRecovery = 2,
        /// Manual manoeuvre by an on-site operator.
        Manual = 3,
        /// Any other reason.
        Other = 255,
    }
}

wire_struct! {
    /// AGV → RCS: asks for a space to move in autonomously. Answered with a grant or a deny
    /// (possibly later, if the RCS queues the request).
    pub struct SpaceRequest {
        /// Map the region is on (must be the AGV's current map).
        pub map_id: u16,
        /// The region.
        pub region: Region,
        /// What the AGV will do inside.
        pub limit: SpaceLimit,
        /// How long it needs the space, ms.
        pub duration_ms: u32,
        /// Why.
        pub reason: SpaceReason,
    }
}

wire_struct! {
    /// RCS → AGV: grants a space. The AGV stays inside the region until it releases it or the
    /// grant expires or is revoked.
    pub struct SpaceGrant {
        /// Sequence number of the request.
        pub request_seq: u32,
        /// Grant id.
        pub grant_id: u32,
        /// Map.
        pub map_id: u16,
        /// The region granted (the one asked for, or a part of it).
        pub region: Region,
        /// What the AGV may do inside.
        pub limit: SpaceLimit,
        /// When the grant ends, UTC ms.
        pub expires_at_ms: u64,
    }
}

wire_enum! {
    /// Why a space request is denied.
    pub enum DenyReason: u8 {
        /// Another AGV's footprint is in the region.
        Occupied = 0,
        /// The region overlaps another AGV's reserved path.
        Reserved = 1,
        /// The region overlaps another grant.
        Granted = 2,
        /// The region touches a forbidden area.
        ForbiddenArea = 3,
        /// The map is not the AGV's current map.
        WrongMap = 4,
        /// The region or duration exceeds the site's limits (the RCS: an area over 25 m², a
        /// duration of 0 or over 120 s), or the region is not wholly inside the map's bounds.
        TooLarge = 5,
        /// The region is malformed (self-intersecting, degenerate).
        InvalidRegion = 6,
        /// Policy does not allow this AGV to move autonomously now.
        NotAllowed = 7,
    }
}

wire_struct! {
    /// RCS → AGV: denies a space request.
    pub struct SpaceDeny {
        /// Sequence number of the request.
        pub request_seq: u32,
        /// Why.
        pub reason: DenyReason,
        /// When the AGV may ask again, ms from now (0: do not retry the same region).
        pub retry_after_ms: u32,
    }
}

wire_struct! {
    /// AGV → RCS: gives a granted space back (acknowledged with an Ack).
    pub struct SpaceRelease {
        /// Grant id.
        pub grant_id: u32,
    }
}

wire_enum! {
    /// Why a grant is revoked.
    pub enum RevokeReason: u8 {
        /// An operator revoked it.
        Operator = 0,
        /// It expired.
        Expired = 1,
        /// Safety: the space is needed (e.g. an emergency route).
        Safety = 2,
    }
}

wire_struct! {
    /// RCS → AGV: takes a grant back; the AGV stops moving autonomously and acks.
    pub struct SpaceRevoke {
        /// Grant id.
        pub grant_id: u32,
        /// Why.
        pub reason: RevokeReason,
    }
}
