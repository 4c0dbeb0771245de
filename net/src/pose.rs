//! Quantised poses: positions in whole millimetres, rotations as a yaw in 1/65536 turns
//! or as a smallest-three quaternion in 32 bits, scale as unit or three floats, and their
//! byte coding against a base pose (the zero pose, or the one a recipient already has).
//! docs/protocol.md ("Compact motion") specifies the bytes; tests/vectors/ holds examples.

use std::f64::consts::{FRAC_1_SQRT_2, TAU};

use crate::WireTransform;

/// Millimetres per metre: positions travel as whole millimetres.
pub const UNITS_PER_METRE: f64 = 1000.0;

/// A rotation as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QRot {
    /// A turn about the vertical (+Y) axis only, in 1/65536 of a full turn,
    /// counter-clockwise seen from above (right-handed).
    Yaw(u16),
    /// Any other rotation: smallest three components, see [`QRot::packed`].
    Packed(u32),
}

/// A scale as it travels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QScale {
    /// `[1, 1, 1]`.
    Unit,
    /// Anything else, exactly.
    Explicit([f32; 3]),
}

/// A pose as it travels: what a client has of an avatar or a moving object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QPose {
    /// Position in millimetres.
    pub pos: [i32; 3],
    /// Rotation.
    pub rot: QRot,
    /// Scale.
    pub scale: QScale,
}

/// Why coded pose bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoseError {
    /// The bytes ended inside a pose.
    #[error("compact motion ends in the middle of a pose")]
    Truncated,
    /// A varint is longer than its type allows.
    #[error("compact motion holds a varint that overflows")]
    Overflow,
    /// A flags byte uses a reserved value.
    #[error("compact motion holds a pose with reserved flags {0:#04x}")]
    ReservedFlags(u8),
    /// A pose is coded against one the recipient does not have.
    #[error("compact motion codes index {0} against a pose this client was never sent")]
    NoBase(u32),
    /// A position difference leaves the 32-bit millimetre range.
    #[error("compact motion moves index {0} outside the coordinate range")]
    OutOfRange(u32),
}

const POS_X: u8 = 1;
const ROT_SHIFT: u8 = 3;
const ROT_YAW: u8 = 1;
const ROT_PACKED: u8 = 2;
const SCALE_SHIFT: u8 = 5;
const SCALE_UNIT: u8 = 1;
const SCALE_EXPLICIT: u8 = 2;
/// Flags bit 7: coded against the recipient's last pose of the index, not the zero pose.
pub(crate) const RELATIVE: u8 = 0x80;

impl QPose {
    /// At the origin, yaw 0, unit scale: the base of absolute coding.
    pub const ZERO: Self = Self {
        pos: [0; 3],
        rot: QRot::Yaw(0),
        scale: QScale::Unit,
    };

    /// The travelling form of `t`: positions rounded to the nearest millimetre (half away
    /// from zero, saturating at the 32-bit range, about ±2,147 km), a rotation about +Y
    /// only (x and z below 1e-6 after normalising) as a yaw, any other as smallest three.
    pub fn quantize(t: &WireTransform) -> Self {
        let pos = t.pos.map(|v| {
            (f64::from(v) * UNITS_PER_METRE)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        });
        let scale = if t.scale == [1.0; 3] {
            QScale::Unit
        } else {
            QScale::Explicit(t.scale)
        };
        Self {
            pos,
            rot: QRot::quantize(t.rot),
            scale,
        }
    }

    /// The transform this pose stands for.
    pub fn transform(&self) -> WireTransform {
        WireTransform {
            pos: self.pos.map(|v| (f64::from(v) / UNITS_PER_METRE) as f32),
            rot: self.rot.quaternion(),
            scale: match self.scale {
                QScale::Unit => [1.0; 3],
                QScale::Explicit(s) => s,
            },
        }
    }

    /// Appends the flags byte and fields of `self` coded against `base` (`None`: against
    /// [`QPose::ZERO`], flags bit 7 clear).
    pub fn write(&self, base: Option<&QPose>, out: &mut Vec<u8>) {
        let relative = base.is_some();
        let base = base.unwrap_or(&Self::ZERO);
        let at = out.len();
        out.push(0);
        let mut flags = if relative { RELATIVE } else { 0 };
        for axis in 0..3 {
            let diff = i64::from(self.pos[axis]) - i64::from(base.pos[axis]);
            if diff != 0 {
                flags |= POS_X << axis;
                write_varint(out, zigzag(diff));
            }
        }
        if self.rot != base.rot {
            match self.rot {
                QRot::Yaw(yaw) => {
                    flags |= ROT_YAW << ROT_SHIFT;
                    let diff = yaw.wrapping_sub(base.yaw()) as i16;
                    write_varint(out, zigzag(i64::from(diff)));
                }
                QRot::Packed(bits) => {
                    flags |= ROT_PACKED << ROT_SHIFT;
                    out.extend_from_slice(&bits.to_le_bytes());
                }
            }
        }
        if self.scale != base.scale {
            match self.scale {
                QScale::Unit => flags |= SCALE_UNIT << SCALE_SHIFT,
                QScale::Explicit(s) => {
                    flags |= SCALE_EXPLICIT << SCALE_SHIFT;
                    for v in s {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        out[at] = flags;
    }

    /// Reads a pose written by [`QPose::write`]; `base_of` gives the recipient's pose of
    /// `index` when the flags say the pose is relative.
    pub fn read(
        input: &mut &[u8],
        index: u32,
        base_of: impl FnOnce() -> Option<QPose>,
    ) -> Result<Self, PoseError> {
        let flags = take_byte(input)?;
        let rot_kind = (flags >> ROT_SHIFT) & 3;
        let scale_kind = (flags >> SCALE_SHIFT) & 3;
        if rot_kind == 3 || scale_kind == 3 {
            return Err(PoseError::ReservedFlags(flags));
        }
        let base = if flags & RELATIVE != 0 {
            base_of().ok_or(PoseError::NoBase(index))?
        } else {
            Self::ZERO
        };
        let mut pose = base;
        for axis in 0..3 {
            if flags & (POS_X << axis) != 0 {
                let diff = unzigzag(read_varint(input)?);
                pose.pos[axis] = i32::try_from(i64::from(base.pos[axis]) + diff)
                    .map_err(|_| PoseError::OutOfRange(index))?;
            }
        }
        pose.rot = match rot_kind {
            ROT_YAW => {
                let diff = unzigzag(read_varint(input)?);
                let diff = i16::try_from(diff).map_err(|_| PoseError::Overflow)?;
                QRot::Yaw(base.yaw().wrapping_add(diff as u16))
            }
            ROT_PACKED => QRot::Packed(u32::from_le_bytes(take::<4>(input)?)),
            _ => base.rot,
        };
        pose.scale = match scale_kind {
            SCALE_UNIT => QScale::Unit,
            SCALE_EXPLICIT => {
                let mut s = [0.0; 3];
                for v in &mut s {
                    *v = f32::from_le_bytes(take::<4>(input)?);
                }
                QScale::Explicit(s)
            }
            _ => base.scale,
        };
        Ok(pose)
    }

    /// The yaw a yaw difference is taken from: this pose's, or 0 for a packed rotation.
    fn yaw(&self) -> u16 {
        match self.rot {
            QRot::Yaw(yaw) => yaw,
            QRot::Packed(_) => 0,
        }
    }
}

impl QRot {
    /// The travelling form of the quaternion `[x, y, z, w]` (normalised first; a zero
    /// quaternion, which the server never holds, becomes the identity).
    pub fn quantize(q: [f32; 4]) -> Self {
        let [x, y, z, w] = q.map(f64::from);
        let norm_sq = x * x + y * y + z * z + w * w;
        if !(norm_sq.is_finite() && norm_sq > 0.0) {
            return Self::Yaw(0);
        }
        // |x| and |z| below 1e-6 of the norm; atan2 needs no normalising.
        if x * x < 1e-12 * norm_sq && z * z < 1e-12 * norm_sq {
            let turns = (2.0 * y.atan2(w)) / TAU;
            return Self::Yaw((turns * 65536.0).round().rem_euclid(65536.0) as u16);
        }
        let norm = norm_sq.sqrt();
        Self::Packed(Self::packed([x, y, z, w].map(|c| c / norm)))
    }

    /// Smallest three: bits 31–30 name the largest-magnitude component (0 x, 1 y, 2 z,
    /// 3 w), which is made positive by negating the whole quaternion if needed and left out;
    /// the other three, in x y z w order, follow in bits 29–20, 19–10 and 9–0, each
    /// `round((c·√2 + 1) / 2 · 1023)`.
    fn packed(q: [f64; 4]) -> u32 {
        let largest = (0..4)
            .max_by(|&a, &b| q[a].abs().total_cmp(&q[b].abs()))
            .expect("four components");
        let sign = if q[largest] < 0.0 { -1.0 } else { 1.0 };
        let mut bits = (largest as u32) << 30;
        let mut shift = 20;
        for (i, c) in q.iter().enumerate() {
            if i == largest {
                continue;
            }
            let unit = ((c * sign / FRAC_1_SQRT_2 + 1.0) / 2.0).clamp(0.0, 1.0);
            bits |= ((unit * 1023.0).round() as u32) << shift;
            shift -= 10;
        }
        bits
    }

    /// The quaternion `[x, y, z, w]` this stands for.
    pub fn quaternion(&self) -> [f32; 4] {
        match *self {
            Self::Yaw(yaw) => {
                let half = f64::from(yaw) / 65536.0 * TAU / 2.0;
                [0.0, half.sin() as f32, 0.0, half.cos() as f32]
            }
            Self::Packed(bits) => {
                let largest = (bits >> 30) as usize;
                let mut q = [0.0_f64; 4];
                let mut shift = 20;
                let mut sum = 0.0;
                for (i, c) in q.iter_mut().enumerate() {
                    if i == largest {
                        continue;
                    }
                    let unit = f64::from((bits >> shift) & 1023) / 1023.0;
                    *c = (unit * 2.0 - 1.0) * FRAC_1_SQRT_2;
                    sum += *c * *c;
                    shift -= 10;
                }
                q[largest] = (1.0 - sum).max(0.0).sqrt();
                q.map(|c| c as f32)
            }
        }
    }
}

/// Zigzag: 0, -1, 1, -2, … → 0, 1, 2, 3, …
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// LEB128, as postcard writes unsigned integers: 7 bits a byte, low bits first, the high
/// bit set on every byte but the last.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn read_varint(input: &mut &[u8]) -> Result<u64, PoseError> {
    let mut v = 0_u64;
    for shift in (0..64).step_by(7) {
        let byte = take_byte(input)?;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(PoseError::Overflow)
}

fn take_byte(input: &mut &[u8]) -> Result<u8, PoseError> {
    let (&first, rest) = input.split_first().ok_or(PoseError::Truncated)?;
    *input = rest;
    Ok(first)
}

fn take<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], PoseError> {
    let (head, rest) = input.split_first_chunk::<N>().ok_or(PoseError::Truncated)?;
    *input = rest;
    Ok(*head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(pose: &QPose, base: Option<&QPose>) -> Vec<u8> {
        let mut out = Vec::new();
        pose.write(base, &mut out);
        out
    }

    #[test]
    fn a_walking_step_costs_five_bytes_against_the_last_pose() {
        let before = QPose::quantize(&WireTransform {
            pos: [12.5, 0.0, -40.25],
            rot: [0.0, 0.38268343, 0.0, 0.9238795],
            scale: [1.0; 3],
        });
        assert_eq!(before.rot, QRot::Yaw(8192), "45° is an eighth of a turn");
        let mut after = before;
        after.pos[0] += 140;
        after.pos[2] -= 30;
        let bytes = coded(&after, Some(&before));
        assert_eq!(bytes, [RELATIVE | 0b101, 0x98, 0x02, 0x3b]);
        let read = QPose::read(&mut &bytes[..], 7, || Some(before)).expect("reads");
        assert_eq!(read, after);
        assert_eq!(
            QPose::read(&mut &bytes[..], 7, || None),
            Err(PoseError::NoBase(7))
        );
    }

    #[test]
    fn rotations_and_scales_survive_their_coding() {
        let turns = [
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, -0.70710677, 0.0, 0.70710677],
            [0.18257418, 0.36514837, 0.5477226, 0.73029673],
            [-0.5, 0.5, -0.5, -0.5],
        ];
        for rot in turns {
            let t = WireTransform {
                pos: [-1.0006, 2000.0, 0.0004],
                rot,
                scale: [1.0, 2.5, 1.0],
            };
            let q = QPose::quantize(&t);
            let back = q.transform();
            // q and -q are the same rotation.
            let dot: f32 = back.rot.iter().zip(rot).map(|(a, b)| a * b).sum();
            assert!(dot.abs() > 0.9999, "{rot:?} came back as {:?}", back.rot);
            assert_eq!(
                back.pos,
                [-1.001, 2000.0, 0.0],
                "millimetres, half away from zero"
            );
            assert_eq!(back.scale, t.scale);
            let bytes = coded(&q, None);
            assert_eq!(QPose::read(&mut &bytes[..], 0, || None), Ok(q));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for bytes in [&[][..], &[0x18], &[0x60], &[0x01, 0xff], &[0x10, 1, 2]] {
            assert!(
                QPose::read(&mut &bytes[..], 0, || None).is_err(),
                "{bytes:?}"
            );
        }
        let far = QPose {
            pos: [i32::MAX, 0, 0],
            ..QPose::ZERO
        };
        let bytes = coded(
            &QPose {
                pos: [-2, 0, 0],
                ..QPose::ZERO
            },
            Some(&QPose::ZERO),
        );
        assert!(QPose::read(&mut &bytes[..], 3, || Some(far)).is_ok());
        let step_out = coded(
            &QPose {
                pos: [2, 0, 0],
                ..QPose::ZERO
            },
            Some(&QPose::ZERO),
        );
        assert_eq!(
            QPose::read(&mut &step_out[..], 3, || Some(far)),
            Err(PoseError::OutOfRange(3))
        );
    }
}
