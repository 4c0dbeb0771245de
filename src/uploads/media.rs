//! What an upload may be: a self-contained glTF 2.0 binary (GLB) for models, checked by
//! parsing it; and for media, a declared content type that the bytes actually match.

use serde_json::{Value, json};

/// Why an upload was refused (each message says what to send instead).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum UploadError {
    /// The file is not a GLB at all.
    #[error(
        "not a GLB file: it must start with the glTF binary header (magic \"glTF\", version 2)"
    )]
    NotGlb,
    /// The GLB header, JSON chunk or document is invalid.
    #[error("invalid glTF 2.0 binary: {0}")]
    InvalidGltf(String),
    /// A buffer points outside the file or at a missing BIN chunk.
    #[error("buffer {index} needs {needed} bytes but the BIN chunk holds {available}")]
    BufferOutOfRange {
        /// Buffer index.
        index: usize,
        /// Its declared length.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The JSON chunk is larger than `max_gltf_json_bytes`.
    #[error("the GLB's JSON chunk is {size} bytes; at most {max} are accepted")]
    JsonTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The JSON chunk holds more values than `max_gltf_json_values`.
    #[error("the GLB's JSON holds {0}; simplify the model (fewer nodes, accessors, ...)")]
    TooComplex(crate::uploads::json_budget::BudgetError),
    /// A buffer refers to an external file.
    #[error("buffer {0} refers to an external file; upload a self-contained GLB")]
    ExternalBuffer(usize),
    /// The media kind is not one of the known ones.
    #[error("kind must be screenshot, avatar or attachment")]
    UnknownKind,
    /// The content type is not allowed for the kind.
    #[error("content type {0:?} is not allowed here; use {1}")]
    ContentType(String, &'static str),
    /// The bytes do not match the declared content type.
    #[error("the file is not a {0}")]
    Mismatch(&'static str),
}

/// How big a GLB's JSON may be. Parsing a glTF document takes memory in proportion to its
/// values (a few hundred bytes each), so both bounds are checked before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GlbLimits {
    /// Largest JSON chunk, in bytes.
    pub max_json_bytes: usize,
    /// Most JSON values in it.
    pub max_json_values: usize,
}

impl GlbLimits {
    /// The limits in `config`.
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            max_json_bytes: config.max_gltf_json_bytes,
            max_json_values: config.max_gltf_json_values,
        }
    }
}

/// Checks a model upload: GLB header, the JSON chunk's size and number of values, a valid
/// glTF 2.0 document, and every buffer inside the BIN chunk. Returns metadata for
/// `uploaded_models.metadata`.
pub(crate) fn check_glb(bytes: &[u8], limits: &GlbLimits) -> Result<Value, UploadError> {
    if bytes.len() < 12 || &bytes[..4] != b"glTF" || bytes[4..8] != 2u32.to_le_bytes() {
        return Err(UploadError::NotGlb);
    }
    let json = json_chunk(bytes)?;
    if json.len() > limits.max_json_bytes {
        return Err(UploadError::JsonTooLarge {
            size: json.len(),
            max: limits.max_json_bytes,
        });
    }
    crate::uploads::json_budget::check_values(json, limits.max_json_values).map_err(
        |e| match e {
            crate::uploads::json_budget::BudgetError::Invalid(why) => UploadError::InvalidGltf(why),
            too_many => UploadError::TooComplex(too_many),
        },
    )?;
    let gltf = parse_glb(bytes)?;
    let version = &gltf.as_json().asset.version;
    if !version.starts_with("2.") {
        return Err(UploadError::InvalidGltf(format!(
            "asset.version is {version:?}; only glTF 2.x is accepted"
        )));
    }
    let available = gltf.blob.as_ref().map_or(0, Vec::len);
    for buffer in gltf.buffers() {
        match buffer.source() {
            gltf::buffer::Source::Bin if buffer.length() <= available => {}
            gltf::buffer::Source::Bin => {
                return Err(UploadError::BufferOutOfRange {
                    index: buffer.index(),
                    needed: buffer.length(),
                    available,
                });
            }
            gltf::buffer::Source::Uri(uri) if uri.starts_with("data:") => {}
            gltf::buffer::Source::Uri(_) => {
                return Err(UploadError::ExternalBuffer(buffer.index()));
            }
        }
    }
    Ok(json!({
        "generator": gltf.as_json().asset.generator,
        "meshes": gltf.meshes().count(),
        "nodes": gltf.nodes().count(),
        "materials": gltf.materials().count(),
        "animations": gltf.animations().count(),
        "extensions_used": gltf.extensions_used().collect::<Vec<_>>(),
    }))
}

/// Parses and validates a GLB with the `gltf` crate, guarding against what its validation
/// does not: fuzzing found that gltf-json 1.4.1 indexes `accessors` with a primitive's
/// POSITION attribute unchecked (a dangling index panicked the parser), so that index is
/// checked first; and any other panic in the parser is caught and refused as invalid, so
/// that no upload can take down the task handling it.
fn parse_glb(bytes: &[u8]) -> Result<gltf::Gltf, UploadError> {
    let invalid = |e: gltf::Error| UploadError::InvalidGltf(e.to_string());
    let parse = || {
        let unchecked = gltf::Gltf::from_slice_without_validation(bytes).map_err(invalid)?;
        let root = unchecked.document.as_json();
        let accessors = root.accessors.len();
        for (m, mesh) in root.meshes.iter().enumerate() {
            for (p, primitive) in mesh.primitives.iter().enumerate() {
                let dangling = primitive
                    .attributes
                    .values()
                    .find(|index| index.value() >= accessors);
                if let Some(index) = dangling {
                    return Err(UploadError::InvalidGltf(format!(
                        "meshes[{m}].primitives[{p}] uses accessor {} of {accessors}",
                        index.value()
                    )));
                }
            }
        }
        let document =
            gltf::Document::from_json(unchecked.document.into_json()).map_err(invalid)?;
        Ok(gltf::Gltf {
            document,
            blob: unchecked.blob,
        })
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|_| {
        Err(UploadError::InvalidGltf(
            "the glTF parser failed on this file".into(),
        ))
    })
}

/// The JSON chunk of a GLB (the first chunk, which the format requires to be JSON).
fn json_chunk(bytes: &[u8]) -> Result<&[u8], UploadError> {
    let invalid = |why: &str| UploadError::InvalidGltf(why.to_string());
    let header = bytes.get(12..20).ok_or_else(|| invalid("no JSON chunk"))?;
    let (length, kind) = header.split_at(4);
    if kind != b"JSON" {
        return Err(invalid("the first chunk is not JSON"));
    }
    let length = u32::from_le_bytes(length.try_into().expect("a 4-byte slice")) as usize;
    bytes
        .get(20..20usize.saturating_add(length))
        .ok_or_else(|| invalid("the JSON chunk runs past the end of the file"))
}

/// What a media file is for, as `POST /api/media?kind=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaKind {
    /// A screenshot of a space: an image.
    Screenshot,
    /// A user's avatar picture: an image.
    Avatar,
    /// A file shared in a space: an image, a PDF or plain text.
    Attachment,
}

impl MediaKind {
    /// The kind named `name`.
    pub(crate) fn from_name(name: &str) -> Result<Self, UploadError> {
        match name {
            "screenshot" => Ok(Self::Screenshot),
            "avatar" => Ok(Self::Avatar),
            "attachment" => Ok(Self::Attachment),
            _ => Err(UploadError::UnknownKind),
        }
    }

    /// Its name, as stored in `media_assets.kind`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Screenshot => "screenshot",
            Self::Avatar => "avatar",
            Self::Attachment => "attachment",
        }
    }
}

const IMAGES: &str = "image/png, image/jpeg or image/webp";
const ANY: &str = "image/png, image/jpeg, image/webp, application/pdf or text/plain";

/// Checks a media upload's declared content type and bytes against its kind; returns the
/// canonical content type.
pub(crate) fn check_media(
    kind: MediaKind,
    content_type: &str,
    bytes: &[u8],
) -> Result<&'static str, UploadError> {
    let attachment = kind == MediaKind::Attachment;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (canonical, matches): (&'static str, bool) = match essence.as_str() {
        "image/png" => ("image/png", bytes.starts_with(b"\x89PNG\r\n\x1a\n")),
        "image/jpeg" => ("image/jpeg", bytes.starts_with(&[0xff, 0xd8, 0xff])),
        "image/webp" => (
            "image/webp",
            bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        ),
        "application/pdf" if attachment => ("application/pdf", bytes.starts_with(b"%PDF-")),
        "text/plain" if attachment => ("text/plain", std::str::from_utf8(bytes).is_ok()),
        _ => {
            let allowed = if attachment { ANY } else { IMAGES };
            return Err(UploadError::ContentType(essence, allowed));
        }
    };
    if matches {
        Ok(canonical)
    } else {
        Err(UploadError::Mismatch(canonical))
    }
}

/// A minimal valid GLB: one triangle (positions in a 36-byte BIN chunk), for tests.
pub fn sample_glb() -> Vec<u8> {
    let positions: [f32; 9] = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    let bin: Vec<u8> = positions.iter().flat_map(|v| v.to_le_bytes()).collect();
    let json = format!(
        r#"{{"asset":{{"version":"2.0","generator":"plaza-test"}},"buffers":[{{"byteLength":{len}}}],"bufferViews":[{{"buffer":0,"byteLength":{len}}}],"accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}}],"meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}}}}]}}],"nodes":[{{"mesh":0}}],"scenes":[{{"nodes":[0]}}],"scene":0}}"#,
        len = bin.len()
    );
    glb_from_parts(json.as_bytes(), &bin)
}

/// A GLB container around a JSON chunk and a BIN chunk (padded as the format requires).
pub fn glb_from_parts(json: &[u8], bin: &[u8]) -> Vec<u8> {
    let pad = |n: usize| (4 - n % 4) % 4;
    let json_len = json.len() + pad(json.len());
    let bin_len = bin.len() + pad(bin.len());
    let total = 12 + 8 + json_len + if bin.is_empty() { 0 } else { 8 + bin_len };
    let mut out = Vec::with_capacity(total);
    let u32le = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&u32le(total));
    out.extend_from_slice(&u32le(json_len));
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(json);
    out.extend(std::iter::repeat_n(b' ', pad(json.len())));
    if !bin.is_empty() {
        out.extend_from_slice(&u32le(bin_len));
        out.extend_from_slice(b"BIN\0");
        out.extend_from_slice(bin);
        out.extend(std::iter::repeat_n(0u8, pad(bin.len())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: GlbLimits = GlbLimits {
        max_json_bytes: 64 * 1024,
        max_json_values: 1_000,
    };

    #[test]
    fn a_valid_glb_passes_with_metadata() {
        let meta = check_glb(&sample_glb(), &LIMITS).expect("the sample is valid");
        assert_eq!(meta["meshes"], 1);
        assert_eq!(meta["generator"], "plaza-test");
    }

    #[test]
    fn anything_else_is_refused_clearly() {
        assert_eq!(
            check_glb(b"hello world, not a model", &LIMITS),
            Err(UploadError::NotGlb)
        );
        let json = br#"{"asset":{"version":"2.0"}}"#;
        assert_eq!(
            check_glb(json, &LIMITS),
            Err(UploadError::NotGlb),
            "plain glTF JSON is not a GLB"
        );
        let mut truncated = sample_glb();
        truncated.truncate(40);
        assert!(matches!(
            check_glb(&truncated, &LIMITS),
            Err(UploadError::InvalidGltf(_))
        ));
        let big = br#"{"asset":{"version":"2.0"},"buffers":[{"byteLength":4096}]}"#;
        assert!(matches!(
            check_glb(&glb_from_parts(big, &[0; 8]), &LIMITS),
            Err(UploadError::BufferOutOfRange { needed: 4096, .. })
        ));
        let external =
            br#"{"asset":{"version":"2.0"},"buffers":[{"byteLength":4,"uri":"../../etc/passwd"}]}"#;
        assert_eq!(
            check_glb(&glb_from_parts(external, &[]), &LIMITS),
            Err(UploadError::ExternalBuffer(0))
        );
        let v1 = br#"{"asset":{"version":"1.0"}}"#;
        assert!(check_glb(&glb_from_parts(v1, &[]), &LIMITS).is_err());
    }

    #[test]
    fn oversized_and_overcomplex_json_is_refused_before_parsing() {
        let nodes = format!(
            r#"{{"asset":{{"version":"2.0"}},"nodes":[{}]}}"#,
            vec!["{}"; 2_000].join(",")
        );
        assert!(matches!(
            check_glb(&glb_from_parts(nodes.as_bytes(), &[]), &LIMITS),
            Err(UploadError::TooComplex(_))
        ));
        let padded = format!(
            r#"{{"asset":{{"version":"2.0","generator":"{}"}}}}"#,
            "x".repeat(70_000)
        );
        assert!(matches!(
            check_glb(&glb_from_parts(padded.as_bytes(), &[]), &LIMITS),
            Err(UploadError::JsonTooLarge { .. })
        ));
        let mut lying = sample_glb();
        lying[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            check_glb(&lying, &LIMITS),
            Err(UploadError::InvalidGltf(_))
        ));
    }

    /// Found by the `glb` fuzz target: it panicked inside gltf-json's validation.
    #[test]
    fn a_primitive_with_a_dangling_accessor_is_refused_not_a_panic() {
        let json = br#"{"asset":{"version":"2.0"},"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}]}"#;
        let refused = check_glb(&glb_from_parts(json, &[]), &LIMITS);
        assert!(
            matches!(&refused, Err(UploadError::InvalidGltf(why)) if why.contains("accessor 0 of 0")),
            "{refused:?}"
        );
    }

    #[test]
    fn media_must_be_what_it_claims() {
        let png = b"\x89PNG\r\n\x1a\nrest";
        let (avatar, attachment) = (MediaKind::Avatar, MediaKind::Attachment);
        assert_eq!(check_media(avatar, "image/png", png), Ok("image/png"));
        assert_eq!(
            check_media(avatar, "image/jpeg", png),
            Err(UploadError::Mismatch("image/jpeg"))
        );
        assert!(matches!(
            check_media(avatar, "text/plain", b"hi"),
            Err(UploadError::ContentType(..))
        ));
        assert_eq!(
            check_media(attachment, "text/plain; charset=utf-8", b"hi"),
            Ok("text/plain")
        );
        assert_eq!(
            MediaKind::from_name("wallpaper"),
            Err(UploadError::UnknownKind)
        );
        assert_eq!(MediaKind::from_name("avatar"), Ok(avatar));
    }
}
